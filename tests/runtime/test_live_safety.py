"""Issue 9 on the emulated campus (real LuxOS/Modbus/DCGM emulators over TCP, the runtime, the
store and the API over uvicorn): each test reproduces one fault that used to break the import
limit or stop control, and shows it no longer does.

Physical ramp allowance (documented in the README's live section): after a step in the true AI
load the runtime cannot prevent import from rising until the miners have shed; the tests
therefore check the *steady* import, sampled after the shed ramp (5 s of device time, 0.5 s
wall here) and one watchdog period have passed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from live_helpers import INSTANT_WAKE, OPERATOR_TOKEN, VIEWER_TOKEN, emulated_campus, until

from ballast.live.store import open_store
from ballast.programs.openadr.ven import DrCommand, EventDecision, forward_to_runtime

pytestmark = pytest.mark.timeout(120)

LIMIT_MW = 200.0
OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
VW = {"Authorization": f"Bearer {VIEWER_TOKEN}"}


def _group(doc: dict, name: str) -> dict:
    return next(g for g in doc["groups"] if g["name"] == name)


async def _steady_import_mw(emu, seconds: float) -> float:
    """Highest true import over ``seconds`` of wall time [MW]."""
    worst = float("-inf")
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        worst = max(worst, emu.last["import_mw"])
        await asyncio.sleep(0.02)
    return worst


# live runs the scenario's smoothing (issue 17): the limit comes first with it too. A spec loose
# enough for the test's seconds: the plan rises (1 - 0.8) x 300 MW/s x 0.2 s = 12 MW per tick,
# more than one emulated S21 device (9.9 MW)
SMOOTHED = {**INSTANT_WAKE, "smoothing": {"ramp_up_mw_per_s": 300.0, "ramp_down_mw_per_s": 300.0,
                                          "dynamic_range_mw": 200.0}}


@pytest.mark.parametrize("scenario", [INSTANT_WAKE, SMOOTHED], ids=["plain", "smoothing"])
async def test_nan_ai_feeder_while_the_ai_load_rises_keeps_import_under_the_limit(tmp_path,
                                                                                   scenario):
    # instant wake: the miners must fill the light AI load's room, and return after the
    # safe state, within seconds
    async with emulated_campus(tmp_path, scenario=scenario) as live:
        rt, emu = live.runtime, live.emulated
        emu.ai_share = 0.4  # AI at 40 MW facility: the miners fill the room
        await until(lambda: rt.last_tick is not None and emu.last["miners_mw"] > 150.0
                    and rt.last_tick["power_mw"]["ai"] < 41,
                    10, "miners filling the room left by a light AI load")
        emu.meter.force_register("ai_feeder_power_mw", float("nan"))
        emu.ai_share = 1.0  # the true AI load rises to 100 MW; the meter's AI feeder reads NaN
        await asyncio.sleep(1.5)  # shed ramp + one watchdog period
        assert await _steady_import_mw(emu, 3.0) <= LIMIT_MW + 1e-6
        assert rt.sensing.stats.rejected[("ai_feeder", "non_finite")] > 0
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            metrics = (await client.get("/metrics", headers=VW)).text
        assert 'ballast_rejected_readings_total{channel="ai_feeder",reason="non_finite"}' in metrics
        emu.meter.release_faults()  # the register reads again: control resumes
        await until(lambda: not rt.last_tick["safe_mode"] and _group(rt.last_tick, "s21")
                    ["running"] == 10, 10, "control back with a good meter")
        assert emu.last["import_mw"] <= LIMIT_MW + 1e-6


async def test_frozen_meter_is_stale_data(tmp_path):
    async with emulated_campus(tmp_path, sensing={"frozen_after_s": 1.0}) as live:
        rt, emu = live.runtime, live.emulated
        await until(lambda: rt.last_tick is not None and _group(rt.last_tick, "s21")
                    ["running"] == 10 and all(emu.true_asleep("s19xp")), 10, "settled")
        emu.meter.freeze()  # keeps answering, values never change
        emu.ai_share = 0.4  # the AI load drops (DCGM shows it): a live meter would too
        await until(lambda: rt.last_tick["safe_mode"], 5, "frozen meter -> watchdog")
        assert rt.sensing.stats.rejected[("meter", "frozen")] > 0
        assert "frozen" in rt.last_tick["safe_mode_reason"]
        await until(lambda: all(emu.true_asleep("s21")), 5, "every miner asleep")
        emu.meter.release_faults()
        await until(lambda: not rt.last_tick["safe_mode"], 5, "the meter moves again")


async def test_wall_clock_steps_neither_trip_nor_hide_the_watchdog(tmp_path):
    """Ticks are driven by hand right after each step (a 30-s loop tick stays out of the way),
    so no meter poll can refresh the last-good time in between."""
    offset_s = [0.0]
    async with emulated_campus(tmp_path, tick_s=30.0,
                               clock=lambda: time.time() + offset_s[0]) as live:
        rt, emu = live.runtime, live.emulated
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        for step_s in (3600.0, -7200.0):  # NTP steps the wall clock forward, then back
            offset_s[0] += step_s
            doc = await rt.tick()
            assert not doc["safe_mode"], f"a {step_s:+.0f} s clock step tripped the watchdog"
        assert not rt.store.events(kind="watchdog")
        await emu.meter.stop()  # the meter goes silent ...
        offset_s[0] -= 3600.0  # ... and the clock steps back: wall-clock ages go negative
        await asyncio.sleep(1.5)  # longer than meter_stale_s (1 s)
        doc = await rt.tick()
        assert doc["safe_mode"] and doc["binding_rule"] == "watchdog"
        assert len(rt.store.events(kind="watchdog")) == 1


async def test_failing_ticks_enter_the_safe_state_and_say_why(tmp_path):
    # instant wake: the S21s must run again within seconds once ticks commit again
    async with emulated_campus(tmp_path, scenario=INSTANT_WAKE) as live:
        rt, emu = live.runtime, live.emulated
        await until(lambda: rt.last_tick is not None and _group(rt.last_tick, "s21")
                    ["running"] == 10, 10, "S21s running")
        write_tick = rt.store.write_tick

        def disk_full(rec):
            raise OSError(28, "No space left on device")

        rt.store.write_tick = disk_full  # every tick now fails at its commit
        await until(lambda: rt.ticks.failsafe_reason is not None, 5, "fail-safe")
        await until(lambda: all(emu.true_asleep("s21")) and all(emu.true_asleep("s19xp")), 5,
                    "every miner asleep")
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            r = await client.get("/healthz")
            assert r.status_code == 503
            assert "failed in a row" in r.json()["reason"] and not r.json()["ok"]
            state = (await client.get("/api/v1/state", headers=VW)).json()
            assert "No space left" in state["health"]["safe_mode_reason"]
            assert state["health"]["safe_mode_reasons"] == ["failed_ticks"]
            metrics = (await client.get("/metrics", headers=VW)).text
            assert 'ballast_safe_mode_reason{reason="failed_ticks"} 1.0' in metrics
            failed = next(line for line in metrics.splitlines()
                          if line.startswith("ballast_failed_ticks_total "))
            assert float(failed.split()[1]) >= 3
            rt.store.write_tick = write_tick  # the disk has room again
            await until(lambda: rt.ticks.failsafe_reason is None, 5, "fail-safe cleared")
            await until(lambda: not any(emu.true_asleep("s21")), 5, "S21s back")
            r = await client.get("/healthz")
            assert r.status_code == 200 and r.json()["ok"] is True
            metrics = (await client.get("/metrics", headers=VW)).text
            assert 'ballast_safe_mode_reason{reason="failed_ticks"} 0.0' in metrics
        await until(lambda: rt.store.events(kind="failsafe_clear"), 5, "clear recorded")
        (ev,) = rt.store.events(kind="failsafe")
        assert ev["data"]["consecutive_failed_ticks"] == 3


async def test_dr_event_far_in_the_future_is_refused_and_control_continues(tmp_path):
    async with emulated_campus(tmp_path) as live:
        rt = live.runtime
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            r = await client.post("/api/v1/dr-events", headers=OP,
                                  json={"end": "9999-12-31T23:59:59-12:00",
                                        "reduction_mw": 10})
            assert r.status_code == 422 and "365 days" in r.text
        assert rt.dr_events == {}
        # the OpenADR bridge takes the same path: its absurd command is refused, not armed
        now = datetime.now(UTC)
        far = DrCommand("vtn-1", "LOAD_DISPATCH/delta", now, now, now + timedelta(days=800),
                        50.0, -10.0, 10.0)
        forward_to_runtime(rt)(EventDecision("vtn-1", "optIn", "", (far,)))
        assert rt.dr_events == {}
        tick = rt.tick_no
        await until(lambda: rt.tick_no >= tick + 3, 5, "ticks go on")
        assert rt.tick_errors == 0


def _seed(db, state: str, dr_rows: list[tuple]) -> None:
    open_store(str(db)).close()  # the schema
    con = sqlite3.connect(db)
    with con:
        con.execute("INSERT INTO runtime_state (name, tick, time_s, state) VALUES "
                    "('runtime', 41, ?, ?)", (time.time() - 60, state))
        con.executemany("INSERT INTO dr_events (id, start_s, end_s, reduction_mw, "
                        "reduction_share, created_s, created_by) VALUES (?, ?, ?, ?, ?, ?, 'x')",
                        dr_rows)
    con.close()


@pytest.mark.parametrize("state", [
    '{"econ_on": [true, tr',  # invalid JSON
    json.dumps({"econ_on": "yes", "policy": {"price_usd_per_mwh": "cheap"}}),  # wrong types
    json.dumps([1, 2, 3]),  # not a document at all
])
async def test_unloadable_rows_are_quarantined_and_never_wedge_the_runtime(tmp_path, state):
    now = time.time()
    db = tmp_path / "seeded.db"
    _seed(db, state, [("absurd", now, 1e300, 10.0, None, now),
                      ("garbage", "abc", now + 60, 10.0, None, now),
                      ("good", now + 3600, now + 7200, 10.0, None, now)])
    async with emulated_campus(tmp_path, store_dsn=str(db)) as live:
        rt = live.runtime
        await until(lambda: rt.tick_no >= 45, 10, "ticks after the seeded tick 41")
        assert list(rt.dr_events) == ["good"]
        q = {e["data"]["id"]: e for e in rt.store.events(kind="quarantine")}
        assert set(q) == {"absurd", "garbage", "runtime"}
        assert "days from now" in q["absurd"]["message"]
        assert q["runtime"]["data"]["table"] == "runtime_state"
        assert rt.policy.price_usd_per_mwh == 20.0  # the site config's, not the bad row's
        assert rt.tick_errors == 0


async def test_cold_start_changes_no_miner_that_control_keeps(tmp_path, monkeypatch):
    """A first ``step`` that takes 5 s (a cold numba compile takes about 3 s; forced here so
    the test does not depend on the on-disk cache) used to run inside the first tick, on the
    event loop: the meter poller and the relay fast path stood still behind it (the watchdog
    could fire and sleep every miner, then wake them). Now it runs in the warm-up, off the loop,
    before control starts."""
    import ballast.live.runtime as runtime_mod
    import ballast.live.tick as tick_mod

    real_step = runtime_mod.step
    calls: list[bool] = []  # per call: did it run on (and block) the event loop?

    def cold_step(*args):
        try:
            asyncio.get_running_loop()
            calls.append(True)
        except RuntimeError:
            calls.append(False)
        if len(calls) == 1:
            time.sleep(5.0)
        return real_step(*args)

    monkeypatch.setattr(runtime_mod, "step", cold_step)  # the warm-up
    monkeypatch.setattr(tick_mod, "step", cold_step)  # the ticks (live.tick)
    async with emulated_campus(tmp_path, watchdog={"meter_stale_s": 3.0}) as live:
        rt = live.runtime
        await until(lambda: rt.tick_no >= 10, 15, "ten ticks")
        assert calls[0] is False  # the cold call ran off the event loop ...
        assert rt.started.is_set() and len(calls) > 10  # ... before the ticks, which all ran
        cmds = [c for c in rt.store.commands() if c["tick"] is not None and c["tick"] <= 10]
        # control's one decision on a fresh start: the 10 S19 XP devices go to sleep (the
        # import limit binds); nothing else is slept and nothing is woken
        assert [(c["command"], c["miners"]) for c in cmds] == [("sleep", 10)], cmds
        assert not rt.store.events(kind="watchdog")
        assert not any(live.emulated.true_asleep("s21"))


async def test_keepalive_failures_are_counted_per_miner(tmp_path):
    async with emulated_campus(tmp_path, ufr={"groups": ["s21"]},
                               fleet={"timeout_s": 0.3, "retries": 0, "read_every_s": 1.0,
                                      "session_keepalive_s": 0.3}) as live:
        rt, emu = live.runtime, live.emulated
        s21 = emu.emulators_by_group["s21"]
        lost = s21.ips[0]
        s21.reboot(lost, downtime_s=None)  # off the network: its keep-alive fails
        await until(lambda: rt.keepalive_failures[lost] >= 2, 10, "keep-alive failures")
        assert all(rt.keepalive_failures[ip] == 0 for ip in s21.ips[1:])
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            metrics = (await client.get("/metrics", headers=VW)).text
        assert f'ballast_session_keepalive_failures_total{{miner="{lost}"}}' in metrics
