"""The grid programs run live (issue 17 item 1): on the emulated campus (LuxOS miners, Modbus
meter and DCGM exporter on loopback, driven over their real protocols), a reserve floor, a
reserve deployment, a 4CP alert (from the system load, and posted through the API) and an EEA
each bind, and each tick's cap, floor, binding rule and commanded miners are what the
backtest's own plan (``programs.plan.build_plan``, ``on_chunk``) and the controller give for the
same inputs. The runtime's clock is wall time shifted to a July afternoon in ERCOT's 4CP season
(the runtime takes any UTC clock; ages are monotonic)."""

from __future__ import annotations

import copy
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from live_helpers import INSTANT_WAKE, OPERATOR_TOKEN, emulated_campus, until

import ballast.live.tick as tick_mod
from ballast.control import Snapshot, step
from ballast.inputs import SiteInputs
from ballast.live.devices import split_fleet
from ballast.live.programs_api import add_program_window, set_eea
from ballast.programs.plan import ProgramPlan, build_plan
from ballast.scenario import parse_scenario

OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
CURTAIL_TO_MW = 30.0
ECRS_MW = 25.0
# 13:30 CDT (before the 4CP window, 14-20 local), 15:10 CDT (inside) on 2026-07-15, and after
BEFORE_WINDOW = pd.Timestamp("2026-07-15T18:30:00Z")
IN_WINDOW = pd.Timestamp("2026-07-15T20:10:00Z")
AFTER_WINDOW = pd.Timestamp("2026-07-16T01:30:00Z")  # 20:30 CDT


def _load_csv(path: Path) -> None:
    """ERCOT-like system load rising every hour of July: the forecast (2 L[h-1] - L[h-2])
    beats 95 % of the month's highest load so far in every in-window hour."""
    idx = pd.date_range("2026-07-01T05:00Z", "2026-07-16T05:00Z", freq="1h")
    pd.DataFrame({"time": idx, "ercot_load_mw": np.linspace(50_000, 80_000, len(idx))}).to_csv(
        path, index=False
    )


def _programs() -> dict[str, Any]:
    return {
        "coincident_peak": {"load_source": "load.csv", "curtail_to_mw": CURTAIL_TO_MW},
        "ecrs": {"offer_mw": ECRS_MW},
        "emergency": {"curtail_at_level": 2},
        "reserve_only_when_economic": False,
    }


def _backtest_plan(
    scenario: dict[str, Any], base_dir: Path, cfg: Any, times: list[float], ai_mw: list[float], snap: Snapshot
) -> ProgramPlan:
    """The backtest's plan over the two ticks ending at ``times[-1]`` [UNIX s] with the live
    tick's inputs."""
    end = pd.Timestamp(times[-1], unit="s", tz="UTC").floor("us")  # as the scenario's times
    idx = pd.DatetimeIndex([end - pd.Timedelta(seconds=1), end])
    frame = pd.DataFrame(
        {
            "ai_load_mw": ai_mw,
            "renewable_mw": 0.0,
            "decision_price_usd_per_mwh": snap.price_usd_per_mwh,
            "hashprice_usd_per_ph_day": snap.hashprice_usd_per_ph_day,
        },
        index=idx,
    )
    return build_plan(parse_scenario(scenario), SiteInputs(frame, ()), cfg, base_dir)


class Recorder:
    """Every live ``step``: (config, controller state before, snapshot, decision, inflexible
    miner power [MW]). The last is what ``split_fleet`` counted that tick: miners that did not
    answer in time (a loaded machine) count at what they last showed, and the controller sees
    the programs' cap and floor less that power (``live.tick``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, Snapshot, Any, float]] = []
        self._fixed_mw = 0.0

    def split(self, *args: Any) -> Any:
        out = split_fleet(*args)
        self._fixed_mw = out[1]
        return out

    def __call__(self, cfg, state, snap):
        before = state.copy()
        decision = step(cfg, state, snap)
        self.calls.append((cfg, before, snap, decision, self._fixed_mw))
        return decision


def _seen(call: tuple, mw: float) -> float:
    """A programs' cap or floor [MW] as the controller sees it on ``call``'s tick: less the
    inflexible miners' power."""
    return max(0.0, mw - call[4]) if np.isfinite(mw) else mw


def _same_decision(call: tuple, cap_mw: float, floor_mw: float) -> Any:
    """The controller's decision on the recorded tick with the backtest's cap and floor must be
    the live one (same binding rule, same miners per group)."""
    cfg, before, snap, live, _ = call
    expect = step(cfg, before.copy(), replace(snap, cap_mw=_seen(call, cap_mw), floor_mw=floor_mw))
    assert expect.binding_rule == live.binding_rule
    np.testing.assert_array_equal(expect.running, live.running)
    return live


async def test_reserve_floor_deployment_4cp_and_eea_bind_live_as_in_the_backtest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load_csv(tmp_path / "load.csv")
    scen = copy.deepcopy(INSTANT_WAKE) | {"programs": _programs()}
    rec = Recorder()
    monkeypatch.setattr(tick_mod, "step", rec)
    monkeypatch.setattr(tick_mod, "split_fleet", rec.split)
    offset = [BEFORE_WINDOW.timestamp() - time.time()]

    def clock() -> float:
        return time.time() + offset[0]

    async with emulated_campus(tmp_path, scenario=scen, clock=clock) as live:
        rt = live.runtime
        cfg = rt.base_cfg
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5, headers=OP) as c:

            def last() -> tuple:
                return rec.calls[-1]

            # --- deployment: the ECRS sold is dropped from the metered miner power
            # at 20 USD/MWh the S21s are economic: the import limit binds
            await until(
                lambda: (
                    rec.calls
                    and last()[3].binding_rule == "import_limit"
                    and abs(rt.meter_sample.miners_feeder_power_mw - last()[3].miner_power_mw) < 0.5
                ),
                15,
                "the import limit to bind and the metered miners to settle",
            )
            r = await c.post(
                "/api/v1/programs/deployments", json={"program": "ecrs", "duration_minutes": 10.0}
            )
            assert r.status_code == 201, r.text
            dep_id = r.json()["id"]
            await until(lambda: np.isfinite(last()[2].cap_mw), 10, "the deployment cap")
            n = len(rec.calls)
            await until(lambda: len(rec.calls) > n + 2, 10, "three more ticks")
            w = rt.programs.windows[dep_id]
            call = last()
            snap = call[2]
            sched = copy.deepcopy(scen)
            at = pd.Timestamp(w.start_s, unit="s", tz="UTC").floor("us")
            sched["programs"]["ecrs"]["deployments"] = [{"at": at.isoformat(), "duration_minutes": 10.0}]
            plan = _backtest_plan(
                sched, tmp_path, cfg, [w.start_s - 1, w.start_s], [rt.programs._ai_hour[1]] * 2, snap
            )
            plan.on_chunk(1, np.array([w.reference_mw, w.reference_mw]))  # the metered power
            assert w.commit_mw == pytest.approx(plan.reserve_sold_mw["ecrs"][1])
            assert snap.cap_mw == pytest.approx(_seen(call, plan.cap_mw[1]))
            assert snap.floor_mw == 0.0 == plan.floor_mw[1]  # the deployed reserve's floor
            assert _same_decision(call, plan.cap_mw[1], 0.0).binding_rule == "obligation_cap"
            r = await c.delete(f"/api/v1/programs/windows/{dep_id}")
            assert r.status_code == 200, r.text
            await until(lambda: last()[3].binding_rule == "import_limit", 10, "cap lifted")

            # --- 4CP posted through the API: the curtail_to_mw cap
            r = await c.post("/api/v1/programs/4cp-alerts", json={"duration_s": 60.0})
            assert r.status_code == 201, r.text
            alert_id = r.json()["id"]
            await until(lambda: last()[2].cap_mw == _seen(last(), CURTAIL_TO_MW), 10, "the 4CP alert cap")
            assert _same_decision(last(), CURTAIL_TO_MW, last()[2].floor_mw).binding_rule == "obligation_cap"
            assert (await c.delete(f"/api/v1/programs/windows/{alert_id}")).status_code == 200
            await until(lambda: last()[3].binding_rule == "import_limit", 10, "alert over")

            # --- 4CP from the system load: a 4CP hour of July, the same alert as the backtest
            offset[0] = IN_WINDOW.timestamp() - time.time()
            await until(
                lambda: (
                    last()[2].time_s >= IN_WINDOW.timestamp() and last()[3].binding_rule == "obligation_cap"
                ),
                10,
                "the 4CP load alert",
            )
            call = last()
            snap = call[2]
            plan = _backtest_plan(
                scen,
                tmp_path,
                cfg,
                [snap.time_s - 1, snap.time_s],
                [rt.programs._ai_hour[1], snap.ai_load_mw],
                snap,
            )
            assert plan.fourcp_alert is not None and plan.fourcp_alert[1]
            assert plan.cap_mw[1] == CURTAIL_TO_MW
            assert snap.cap_mw == _seen(call, plan.cap_mw[1])
            _same_decision(call, plan.cap_mw[1], snap.floor_mw)

            # --- EEA level 2 (curtail_at_level 2): every miner off
            r = await c.post("/api/v1/programs/eea", json={"level": 2})
            assert r.status_code == 200, r.text
            await until(lambda: last()[2].cap_mw == 0.0, 10, "the EEA cap")
            call = last()
            snap = call[2]
            sched = copy.deepcopy(scen)
            sched["programs"]["emergency"]["windows"] = [
                {
                    "start": pd.Timestamp(snap.time_s - 1, unit="s", tz="UTC").isoformat(),
                    "end": pd.Timestamp(snap.time_s + 60, unit="s", tz="UTC").isoformat(),
                    "level": 2,
                }
            ]
            plan = _backtest_plan(
                sched,
                tmp_path,
                cfg,
                [snap.time_s - 1, snap.time_s],
                [rt.programs._ai_hour[1], snap.ai_load_mw],
                snap,
            )
            assert snap.cap_mw == plan.cap_mw[1] == 0.0
            d = _same_decision(call, plan.cap_mw[1], snap.floor_mw)
            assert d.binding_rule == "obligation_cap" and int(d.running.sum()) == 0
            await until(
                lambda: all(dv.asleep for dv in rt.devices.values()), 10, "every miner verified asleep"
            )
            state = (await c.get("/api/v1/state")).json()
            kinds = {a["kind"] for a in state["active_events"]}
            r = await c.post("/api/v1/programs/eea", json={"level": 0})
            assert r.status_code == 200
            await until(lambda: last()[2].cap_mw == _seen(last(), CURTAIL_TO_MW), 10, "EEA over, 4CP left")
            # --- reserve floor, after the 4CP window (20:30 CDT): at 500 USD/MWh economics
            # would sleep every miner; the ECRS sold keeps sleep power + 25 MW + one device
            # step running
            offset[0] = AFTER_WINDOW.timestamp() - time.time()
            r = await c.put("/api/v1/policy", json={"price_usd_per_mwh": 500.0})
            assert r.status_code == 200, r.text
            # (sold hold-consistently: the tick after the 4CP cap sells the whole offer)
            await until(
                lambda: (
                    last()[2].time_s >= AFTER_WINDOW.timestamp()
                    and rt.programs.sold_mw.get("ecrs") == ECRS_MW
                    and last()[3].binding_rule == "obligation_floor"
                ),
                10,
                "the reserve floor to bind",
            )
            call = last()
            snap = call[2]
            ai_max = rt.programs._ai_hour[1]
            plan = _backtest_plan(
                scen, tmp_path, cfg, [snap.time_s - 1, snap.time_s], [ai_max, snap.ai_load_mw], snap
            )
            assert plan.reserve_sold_mw["ecrs"][1] == pytest.approx(ECRS_MW)
            assert snap.floor_mw == pytest.approx(_seen(call, plan.floor_mw[1]))
            assert snap.cap_mw == np.inf and plan.cap_mw[1] == np.inf
            d = _same_decision(call, plan.cap_mw[1], _seen(call, plan.floor_mw[1]))
            # whole devices under the floor, but the sold MW run above sleep power
            assert d.miner_power_mw + call[4] - plan.sleep_floor_mw >= ECRS_MW  # + inflexible

        events = {e["kind"] for e in rt.store.events(limit=10_000)}
    assert {
        "eea",
        "deployment_posted",
        "deployment_start",
        "4cp_alert_posted",
        "4cp_alert_start",
        "program_cancel",
    } <= events
    assert {"eea", "4cp_alert"} <= kinds and "reserve" not in kinds  # no headroom under EEA


# ----------------------------------------------------------------- instructions and refusals
def _live_programs(tmp_path: Path, programs: dict[str, Any], **site: Any):
    from live_helpers import CAMPUS, write_campus

    from ballast.live.emulated_site import emulated_site_config, plan_emulation
    from ballast.live.site_model import live_programs, scaled_controller_config

    path = write_campus(tmp_path, copy.deepcopy(CAMPUS) | {"programs": programs})
    scen = parse_scenario(copy.deepcopy(CAMPUS) | {"programs": programs})
    cfg = emulated_site_config(
        str(path),
        plan_emulation(scen, 2, "127.62"),
        meter_port=1,
        dcgm_port=None,
        store={"dsn": str(tmp_path / "b.db")},
        **site,
    )
    return live_programs(scen, scaled_controller_config(scen, cfg), cfg)


def test_rrs_without_a_relay_is_refused_naming_the_fields(tmp_path: Path) -> None:
    from ballast.live.site_model import LiveUnsupportedError

    with pytest.raises(
        LiveUnsupportedError,
        match=r"programs\.responsive_reserve needs the "
        r"site config's under-frequency relay \(ufr\.enabled and ufr\.groups\)",
    ):
        _live_programs(tmp_path, {"responsive_reserve": {"offer_mw": 10}})
    progs = _live_programs(tmp_path, {"responsive_reserve": {"offer_mw": 10}}, ufr={"groups": ["s21"]})
    assert progs is not None and progs.offers_mw == {"responsive_reserve": 10.0}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p, now: p.set_eea(4, now, "op"), "EEA level must be 0 (none), 1, 2 or 3, got 4"),
        (lambda p, now: p.set_eea(True, now, "op"), "EEA level must be 0"),
        (
            lambda p, now: p.add_deployment("ers", now, 10.0, now, "op"),
            "program must be one the scenario offers (['ecrs']), got 'ers'",
        ),
        (
            lambda p, now: p.add_deployment("ecrs", now, 0.0, now, "op"),
            "duration_minutes must be > 0, got 0.0",
        ),
        (lambda p, now: p.add_fourcp_alert(now - 7200, now - 3600, now, "op"), "4CP alert ends"),
        (
            lambda p, now: p.add_fourcp_alert(now, now + 8 * 86400, now, "op"),
            "4CP alert lasts 192.0 h, more than 168 h",
        ),
    ],
)
def test_bad_instructions_name_what_is_wrong(tmp_path: Path, call, message: str) -> None:
    progs = _live_programs(tmp_path, {"ecrs": {"offer_mw": 5}, "emergency": {}, "coincident_peak": {}})
    with pytest.raises(ValueError, match=re.escape(message)):
        call(progs, 1.7e9)


def test_a_program_the_scenario_lacks_takes_no_instruction(tmp_path: Path) -> None:
    progs = _live_programs(tmp_path, {"ecrs": {"offer_mw": 5}})
    with pytest.raises(ValueError, match=r"no programs\.emergency section"):
        progs.set_eea(3, 1.7e9, "op")
    with pytest.raises(ValueError, match=r"no programs\.coincident_peak section"):
        progs.add_fourcp_alert(1.7e9, 1.7e9 + 60, 1.7e9, "op")


@pytest.mark.parametrize(
    ("level", "curtail_at", "cap"),
    [(0, 1, np.inf), (1, 1, 0.0), (1, 2, np.inf), (2, 2, 0.0), (3, 2, 0.0), (3, 3, 0.0)],
)
def test_eea_level_caps_from_curtail_at_level(tmp_path: Path, level, curtail_at, cap) -> None:
    progs = _live_programs(tmp_path, {"emergency": {"curtail_at_level": curtail_at}})
    progs.set_eea(level, 1.7e9, "op")
    lim = progs.limits(1.7e9, (150.0, 50.0), 100.0, 0.0, 20.0, 50.0, False, False)
    assert lim.cap_mw == cap
    # a level set opens an episode: its first tick latches the metered (import, miners)
    assert [e.kind for e in lim.events] == (["eea", "eea_start"] if level else ["eea"])
    if level:
        start = lim.events[1].data
        assert start["id"] == lim.events[0].data["id"] == progs.eea.id
        assert (start["reference_import_mw"], start["reference_miners_mw"]) == (150.0, 50.0)


def test_an_eea_episode_from_level_set_to_level_cleared(tmp_path: Path) -> None:
    """One id from the level set to the level cleared, through a change of level; the next
    level set is a new episode; the episode survives ``saved``/``restore``."""
    progs = _live_programs(tmp_path, {"emergency": {"curtail_at_level": 2}})
    t = 1.7e9
    progs.set_eea(1, t, "op")
    first = progs.limits(t + 1, (150.0, 50.0), 100.0, 0.0, 20.0, 50.0, False, False).events
    ep = progs.eea.id
    assert [(e.kind, e.data["id"]) for e in first] == [("eea", ep), ("eea_start", ep)]
    assert first[1].data["cap_mw"] is None  # level 1 < curtail_at_level 2: no cap yet
    progs.set_eea(3, t + 60, "op")
    lim = progs.limits(t + 61, (140.0, 40.0), 100.0, 0.0, 20.0, 50.0, False, False)
    assert lim.cap_mw == 0.0 and [(e.kind, e.data["id"]) for e in lim.events] == [("eea", ep)]
    assert lim.events[0].data["cap_mw"] == 0.0
    # a restart keeps the episode (no second eea_start, the reference kept)
    again = _live_programs(tmp_path, {"emergency": {"curtail_at_level": 2}})
    again.restore(progs.saved(), t + 90)
    assert again.eea.id == ep and again.eea.reference_miners_mw == 50.0 and again.eea.max_level == 3
    assert again.limits(t + 91, (100.0, 1.0), 100.0, 0.0, 20.0, 50.0, False, False).events == []
    again.set_eea(0, t + 120, "op")
    end = again.limits(t + 121, (150.0, 50.0), 100.0, 0.0, 20.0, 50.0, False, False).events
    assert [(e.kind, e.data["id"]) for e in end] == [("eea", ep), ("eea_end", ep)]
    assert end[1].data["end"] == "2023-11-14T22:15:20Z" and end[1].data["max_level"] == 3
    assert again.eea is None and again.document()["eea_id"] is None
    again.set_eea(2, t + 200, "op")
    assert again.eea.id != ep
    # a state saved before episodes had ids: a new episode that latches nothing after restart
    old = {"eea_level": 3, "eea_since_s": t, "windows": []}
    resumed = _live_programs(tmp_path, {"emergency": {"curtail_at_level": 2}})
    resumed.restore(old, t + 90)
    (start,) = resumed.limits(t + 91, (100.0, 1.0), 100.0, 0.0, 20.0, 50.0, False, False).events
    assert start.kind == "eea_start" and start.data["reference_miners_mw"] is None
    assert start.data["start"] == "2023-11-14T22:13:20Z"
    # a restart on a scenario without programs.emergency drops the level and ends the episode
    progs.set_eea(2, t + 300, "op")  # the first runtime's episode (started) goes on
    gone = _live_programs(tmp_path, {"ecrs": {"offer_mw": 5}})
    gone.restore(progs.saved(), t + 400)
    evs = gone.limits(t + 401, (150.0, 50.0), 100.0, 0.0, 20.0, 50.0, False, False).events
    assert [(e.kind, e.data.get("id")) for e in evs] == [("eea", None), ("eea_end", ep)]
    assert evs[1].data["end"] == "2023-11-14T22:20:00Z" and evs[1].data["max_level"] == 3
    assert gone.eea is None and gone.eea_level == 0
    # one never seen by a tick gets its eea_start (no reference) before its end
    fresh = _live_programs(tmp_path, {"emergency": {}})
    fresh.set_eea(3, t, "op")
    fresh.set_eea(0, t + 1, "op")
    evs = fresh.limits(t + 2, (150.0, 50.0), 100.0, 0.0, 20.0, 50.0, False, False).events
    assert [e.kind for e in evs] == ["eea", "eea", "eea_start", "eea_end"]
    assert evs[2].data["reference_miners_mw"] is None


@pytest.mark.parametrize(
    ("policy", "start_in_s", "mw", "message"),
    [
        (
            {"min_notice_minutes": 30},
            600.0,
            5.0,
            "declined: notice 10 min < policy programs.demand_response.min_notice_minutes 30",
        ),
        (
            {"max_reduction_mw": 20},
            3600.0,
            25.0,
            "declined: asks 25 MW > policy programs.demand_response.max_reduction_mw 20",
        ),
        ({"min_notice_minutes": 30, "max_reduction_mw": 20}, 3600.0, 20.0, None),
    ],
)
def test_live_dr_events_follow_the_scenario_dr_policy(policy, start_in_s, mw, message) -> None:
    """The backtest's plan declines DR events with short notice or too many MW; live, the
    API's and the OpenADR VEN's events are declined the same way."""
    from ballast.live.obligations import check_dr_policy

    progs = parse_scenario(copy.deepcopy(INSTANT_WAKE) | {"programs": {"demand_response": policy}}).programs
    if message is None:
        check_dr_policy(progs, 1.7e9 + start_in_s, mw, 1.7e9)
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        check_dr_policy(progs, 1.7e9 + start_in_s, mw, 1.7e9)


async def test_an_eea_and_a_deployment_survive_a_restart(tmp_path: Path) -> None:
    """The EEA level and the windows in force are in the state document each tick writes: a
    runtime restarted on the same store keeps every miner off and the deployment's cap."""
    scen = copy.deepcopy(INSTANT_WAKE) | {
        "programs": {"emergency": {}, "ecrs": {"offer_mw": 5}, "reserve_only_when_economic": False}
    }
    dsn = str(tmp_path / "ballast.db")
    async with emulated_campus(tmp_path, scenario=scen, store_dsn=dsn) as live:
        rt = live.runtime
        set_eea(rt, 3, "alice")
        w = add_program_window(rt, "deployment", rt.clock(), None, "alice", "ecrs", 30.0)
        n = rt.tick_no
        await until(
            lambda: rt.tick_no > n + 2 and w.reference_mw is not None,
            10,
            "ticks with the EEA and the deployment",
        )
        saved_cap = w.cap_mw
    async with emulated_campus(tmp_path, scenario=scen, store_dsn=dsn) as live:
        rt = live.runtime
        assert rt.resumed_from_tick is not None
        assert rt.programs.eea_level == 3
        assert rt.programs.windows[w.id].cap_mw == saved_cap  # latched, not re-latched
        await until(lambda: rt.last_tick is not None, 10, "a tick")
        doc = rt.last_tick
        assert doc["power_mw"]["cap"] == 0.0 and doc["power_mw"]["floor"] == 0.0
        assert [grp["target_running"] for grp in doc["groups"]] == [0, 0]
        assert {a["kind"] for a in doc["active_events"]} >= {"eea", "deployment"}


async def test_4cp_alert_from_the_live_system_load_feed(tmp_path: Path) -> None:
    """August: the scenario's load file (July) has no history, so only the site's system-load
    feed (an HTTP JSON endpoint, polled by the live market feed machinery) can alert. Its
    readings for the two hours before 15:10 CDT rise (70 -> 75 GW): the forecast 2 x 75 - 70 =
    80 GW beats 95 % of the month's highest load, so the miners are capped at curtail_to_mw,
    and the cap is the one ``fourcp.fourcp_alert_hourly`` gives the backtest on that load."""
    from tests.live.market_server import MarketServer

    from ballast.programs import fourcp

    _load_csv(tmp_path / "load.csv")
    scen = copy.deepcopy(INSTANT_WAKE) | {
        "programs": {"coincident_peak": {"load_source": "load.csv", "curtail_to_mw": CURTAIL_TO_MW}}
    }
    now = pd.Timestamp("2026-08-10T20:10:00Z")
    offset = now.timestamp() - time.time()
    readings = [(now - pd.Timedelta("110min"), 70_000.0), (now - pd.Timedelta("50min"), 75_000.0)]
    async with MarketServer() as srv:
        srv.answers["/load"] = {"load": readings[0][1], "time": readings[0][0].isoformat()}
        feed = {
            "source": "http_json",
            "url": f"{srv.url}/load",
            "path": "load",
            "time_path": "time",
            "poll_s": 0.1,
        }
        async with emulated_campus(
            tmp_path,
            scenario=scen,
            clock=lambda: time.time() + offset,
            market={"price_usd_per_mwh": 20.0, "hashprice_usd_per_ph_day": 50.0, "system_load_feed": feed},
        ) as live:
            rt = live.runtime
            await until(lambda: rt.last_tick is not None, 10, "a tick")
            assert rt.last_tick["power_mw"]["cap"] is None  # one hour of load: no forecast
            srv.answers["/load"] = {"load": readings[1][1], "time": readings[1][0].isoformat()}
            await until(
                lambda: rt.last_tick["power_mw"]["cap"] == CURTAIL_TO_MW, 10, "the 4CP alert from the feed"
            )
            assert rt.last_tick["binding_rule"] == "obligation_cap"
            events = {e["kind"] for e in rt.store.events(limit=1000)}
    assert "4cp_alert_start" in events
    hourly = pd.Series(
        [r[1] for r in readings] + [np.nan], index=[r[0].floor("1h") for r in readings] + [now.floor("1h")]
    )
    table = fourcp.fourcp_alert_hourly(hourly, timezone="America/Chicago")
    assert table.loc[now.floor("1h"), "alert"]
    assert table.loc[now.floor("1h"), "forecast_mw"] == pytest.approx(80_000.0)


def test_serve_refuses_rrs_without_relay_groups_before_starting(tmp_path: Path) -> None:
    from live_helpers import CAMPUS, write_campus
    from typer.testing import CliRunner

    from ballast.cli import app

    path = write_campus(
        tmp_path, copy.deepcopy(CAMPUS) | {"programs": {"responsive_reserve": {"offer_mw": 10}}}
    )
    result = CliRunner().invoke(app, ["serve", "--emulate", "--scenario", str(path)])
    assert result.exit_code == 2, result.output
    assert [ln for ln in result.output.splitlines() if ln.startswith("error:")] == [
        f"error: scenario {path}: programs.responsive_reserve needs the site config's "
        "under-frequency relay (ufr.enabled and ufr.groups) to deliver it live"
    ]
