"""End-to-end on an emulated campus: real LuxOS/Modbus/DCGM emulators over TCP on loopback,
the runtime calling the shared controller, the store, and the API over a real uvicorn server.

Waits poll a condition with a deadline (no fixed sleeps). Device time runs 10x faster than wall
time (emulator clock injection), so a 5-s sleep ramp takes 0.5 s.
"""

from __future__ import annotations

import json

import httpx
import pytest
import yaml
from live_helpers import (
    INSTANT_WAKE,
    OPERATOR_TOKEN,
    TOKENS,
    VIEWER_TOKEN,
    emulated_campus,
    free_port,
    until,
    write_campus,
)
from typer.testing import CliRunner

from ballast.cli import app
from ballast.live.emulated_site import EmulatedSite, plan_emulation
from ballast.live.serve import LiveSite
from ballast.live.site_config import load_site_config
from ballast.scenario import load_scenario

pytestmark = pytest.mark.timeout(120)  # a hung device or server fails the test, not CI

LIMIT_MW = 200.0
OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
VW = {"Authorization": f"Bearer {VIEWER_TOKEN}"}


def _group(doc: dict, name: str) -> dict:
    return next(g for g in doc["groups"] if g["name"] == name)


async def _settled(live) -> None:
    """Calm state: the import limit binds, S21s run, S19 XPs sleep, import under the limit."""
    rt, emu = live.runtime, live.emulated

    def ok() -> bool:
        doc = rt.last_tick
        return (doc is not None and doc["binding_rule"] == "import_limit"
                and _group(doc, "s19xp")["running"] == 0
                and all(emu.true_asleep("s19xp")) and emu.last["import_mw"] <= LIMIT_MW)

    await until(ok, 10, "the campus to settle under its import limit")


async def test_ai_job_crash_is_filled_by_miners_within_the_limit(tmp_path):
    async with emulated_campus(tmp_path) as live:
        rt, emu = live.runtime, live.emulated
        await _settled(live)
        import_before = emu.last["import_mw"]
        emu.max_import_mw = float("-inf")
        emu.ai_share = 0.4  # the training job crashes: AI IT load 80 -> 32 MW (facility 40)
        await until(lambda: all(not a for a in emu.true_asleep("s19xp"))
                    and emu.last["miners_mw"] > 158.0, 30, "S19 XPs to wake and ramp up")
        # 30 s, not 10: on a loaded 2-core CI box the wake commands, their verification polls
        # and the emulated ramp-up took more than 10 s once (a machine-speed margin only)
        await until(lambda: rt.last_tick["power_mw"]["ai"] < 41, 5, "AI drop seen by a tick")
        # the miners took up the AI's 60 MW: import back at its pre-crash level, never over
        assert emu.last["import_mw"] == pytest.approx(import_before, abs=6.1)
        assert emu.max_import_mw <= LIMIT_MW + 1e-6
        assert _group(rt.last_tick, "s19xp")["running"] == 10


async def test_frequency_dip_sleeps_relay_miners_on_the_fast_path(tmp_path):
    # A 30-s tick: only the relay fast path can act within this test.
    # instant wake: the S21s must run again within the test once the relay is reset
    async with emulated_campus(tmp_path, scenario=INSTANT_WAKE, tick_s=30.0,
                               ufr={"groups": ["s21"], "budget_s": 1.0}) as live:
        rt, emu = live.runtime, live.emulated
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        tick_before = rt.tick_no
        assert not any(emu.true_asleep("s21"))
        # loss of generation: 60 -> 59.6 Hz within 1 s of device time (0.1 s wall)
        emu.meter.step_loss_of_generation(nadir_hz=59.6, fall_s=1.0, hold_s=600.0)
        await until(lambda: rt.store.events(kind="ufr_trip"), 5, "relay trip logged")
        assert all(emu.true_asleep("s21"))
        assert rt.tick_no == tick_before  # no control tick did it
        trip = rt.store.events(kind="ufr_trip")
        assert len(trip) == 1
        data = trip[0]["data"]
        assert data["frequency_hz"] < 59.70
        assert data["asleep_verified"] == data["miners"] == 10
        assert data["on_time"] is True and data["latency_s"] <= data["budget_s"]
        # the next tick keeps them asleep and lets no other miner take the shed power
        doc = await rt.tick()
        assert _group(doc, "s21")["mode"] == "ufr_tripped"
        assert _group(doc, "s19xp")["running"] == 0
        assert {"kind": "ufr", "groups": ["s21"]} in doc["active_events"]
        # frequency recovers; the operator resets the relay (QSE recall): back to control
        emu.meter.clear_frequency_event()
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            r = await client.post("/api/v1/ufr/reset", headers=OP)
            assert r.status_code == 200 and r.json() == {"tripped": False}
        doc = await rt.tick()
        assert _group(doc, "s21")["mode"] == "auto" and _group(doc, "s21")["running"] == 10
        assert [e["message"] for e in rt.store.events(kind="ufr_restore")] == [
            "relay reset by operator"]
        assert rt.store.audit()[-1]["action"] == "ufr.reset"


async def test_dr_event_posted_through_the_api_reaches_its_reduction(tmp_path):
    async with emulated_campus(tmp_path) as live:
        rt, emu = live.runtime, live.emulated
        await _settled(live)
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            r = await client.post("/api/v1/dr-events", headers=OP,
                                  json={"duration_s": 600, "reduction_mw": 30})
            assert r.status_code == 201, r.text
            event_id = r.json()["id"]
            await until(lambda: any(e.get("id") == event_id
                                    for e in rt.last_tick["active_events"]), 5, "DR active")
            dr = next(e for e in rt.last_tick["active_events"] if e.get("id") == event_id)
            target = dr["target_import_mw"]
            assert target == pytest.approx(dr["baseline_import_mw"] - 30)
            await until(lambda: emu.last["import_mw"] <= target, 10, "import at the DR target")
            assert rt.last_tick["binding_rule"] == "obligation_cap"
            audit = (await client.get("/api/v1/audit", headers=VW)).json()
            assert audit[-1]["action"] == "dr.create" and audit[-1]["actor"] == "alice"
            r = await client.delete(f"/api/v1/dr-events/{event_id}", headers=OP)
            assert r.status_code == 200
            await until(lambda: not any(e.get("id") == event_id
                                        for e in rt.last_tick["active_events"]), 5, "DR end")


async def test_watchdog_fires_on_stale_meter_data(tmp_path):
    # instant wake: the S21s must run again within seconds once the meter is back
    async with emulated_campus(tmp_path, scenario=INSTANT_WAKE) as live:
        rt, emu = live.runtime, live.emulated
        await _settled(live)
        await emu.meter.stop()  # the meter goes silent
        await until(lambda: rt.last_tick["safe_mode"], 5, "watchdog tick committed")
        await until(lambda: all(emu.true_asleep("s21")), 5, "all miners asleep")
        doc = rt.last_tick
        assert doc["binding_rule"] == "watchdog" and doc["safe_mode"] is True
        assert doc["power_mw"]["import"] is None  # stale data is not reported as fresh
        assert any(e["kind"] == "watchdog" for e in doc["active_events"])
        ev = rt.store.events(kind="watchdog")
        assert len(ev) == 1 and ev[0]["data"]["stale_s"] == 1.0
        await emu.meter.start()  # back: control resumes
        await until(lambda: not rt.last_tick["safe_mode"], 5, "watchdog clear")
        await until(lambda: rt.store.events(kind="watchdog_clear"), 5, "clear logged")
        await until(lambda: not any(emu.true_asleep("s21")), 5, "S21s back")


async def test_non_compliant_miners_are_made_up_by_others(tmp_path):
    async with emulated_campus(tmp_path) as live:
        rt, emu = live.runtime, live.emulated
        await _settled(live)
        s21 = emu.emulators_by_group["s21"]
        stuck = s21.ips[:6]
        for ip in stuck:  # acknowledge commands but ignore them
            await s21.inject(ip, ignore_commands=True)
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            r = await client.post("/api/v1/groups/s21/curtail", headers=OP)
            assert r.status_code == 200, r.text
        await until(lambda: _group(rt.last_tick, "s21")["non_compliant"] == 6, 5,
                    "stuck miners marked")
        await until(lambda: sum(s21.true_state(ip).asleep for ip in s21.ips) == 4, 5,
                    "compliant S21s asleep")
        # Room under the limit: 200 - 100 (AI) - 6 x 9.92 (stuck S21s, inflexible) - 4 x 0.07
        # (sleeping S21s) = 40.2 MW -> 6 of the 6.0-MW S19 XP units, not all 10.
        await until(lambda: _group(rt.last_tick, "s19xp")["running"] == 6, 5, "S19 XPs wake")
        await until(lambda: emu.last["miners_mw"] > 95.5, 5, "S19 XPs ramped")
        assert LIMIT_MW - 6.1 <= emu.last["import_mw"] <= LIMIT_MW
        assert sum(not a for a in emu.true_asleep("s19xp")) == 6
        assert not any(s21.true_state(ip).asleep for ip in stuck)
        assert _group(rt.last_tick, "s21")["mode"] == "curtailed"
        # a running S19 XP drops off the network: marked unreachable at the next read-back,
        # counted at full power (it may still be hashing), the limit still holds
        s19xp = emu.emulators_by_group["s19xp"]
        lost = next(ip for ip in s19xp.ips if not s19xp.true_state(ip).asleep)
        s19xp.reboot(lost, downtime_s=None)
        await until(lambda: _group(rt.last_tick, "s19xp")["unreachable"] == 1, 5, "unreachable")
        assert _group(rt.last_tick, "s19xp")["running"] == 5
        assert emu.last["import_mw"] <= LIMIT_MW


async def test_viewer_token_cannot_act_and_api_is_documented(tmp_path):
    async with emulated_campus(tmp_path) as live:
        rt = live.runtime
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            acts = [("POST", "/api/v1/groups/s21/curtail", None),
                    ("POST", "/api/v1/groups/s21/resume", None),
                    ("PUT", "/api/v1/policy", {"price_usd_per_mwh": 999}),
                    ("POST", "/api/v1/dr-events", {"duration_s": 60, "reduction_mw": 5}),
                    ("POST", "/api/v1/ufr/reset", None)]
            for method, path, body in acts:
                r = await client.request(method, path, headers=VW, json=body)
                assert r.status_code == 403, (path, r.text)
                r = await client.request(method, path, json=body)
                assert r.status_code == 401, path
                r = await client.request(method, path, json=body,
                                         headers={"Authorization": "Bearer not-a-token"})
                assert r.status_code == 401, path
            assert rt.modes["s21"] == "auto" and rt.policy.price_usd_per_mwh == 20.0
            assert rt.dr_events == {}
            denied = [a for a in rt.store.audit() if a["result"].startswith("denied")]
            assert len(denied) == len(acts) and {a["actor"] for a in denied} == {"wall"}
            # viewers read
            for path in ("/api/v1/state", "/api/v1/history", "/api/v1/events",
                         "/api/v1/policy", "/api/v1/dr-events", "/metrics"):
                r = await client.get(path, headers=VW)
                assert r.status_code == 200, path
            assert (await client.get("/metrics")).status_code == 401
            # a token in the URL is taken nowhere (the stream takes a single-use ticket)
            for path in ("/api/v1/state", "/api/v1/stream"):
                r = await client.get(f"{path}?access_token={VIEWER_TOKEN}")
                assert r.status_code == 401, path
            # operators act
            r = await client.put("/api/v1/policy", headers=OP, json={"price_usd_per_mwh": 150})
            assert r.status_code == 200 and rt.policy.price_usd_per_mwh == 150
            # bad input is refused, naming the field
            r = await client.post("/api/v1/dr-events", headers=OP, json={"duration_s": 60})
            assert r.status_code == 422 and "reduction" in r.text
            r = await client.post("/api/v1/groups/nope/curtail", headers=OP)
            assert r.status_code == 404 and "nope" in r.text
            spec = (await client.get("/openapi.json")).json()
            for path in ("/api/v1/state", "/api/v1/dr-events", "/api/v1/stream", "/metrics",
                         "/api/v1/groups/{group}/curtail", "/api/v1/policy"):
                assert path in spec["paths"], path
            metrics = (await client.get("/metrics", headers=VW)).text
            assert 'ballast_power_mw{flow="import"}' in metrics
            assert 'ballast_group_miners{group="s21",state="running"}' in metrics


async def test_tick_stream_sends_documented_json(tmp_path):
    async with emulated_campus(tmp_path) as live:
        await until(lambda: live.runtime.last_tick is not None, 5, "first tick")
        ticks = []
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            r = await client.post("/api/v1/stream-ticket", headers=VW)
            url = f"/api/v1/stream?ticket={r.json()['ticket']}"
            async with client.stream("GET", url) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        ticks.append(json.loads(line[6:]))
                        if len(ticks) == 3:
                            break
        assert [t["tick"] for t in ticks] == sorted({t["tick"] for t in ticks})
        doc = ticks[-1]
        assert set(doc) >= {"tick", "time", "time_s", "safe_mode", "binding_rule", "power_mw",
                            "frequency_hz", "market", "groups", "active_events"}
        assert set(doc["power_mw"]) >= {"import", "ai", "miners", "renewables", "import_limit"}
        assert set(doc["groups"][0]) >= {"name", "miners", "running", "asleep", "non_compliant",
                                         "unreachable", "mode", "miners_per_device"}
        assert doc["groups"][0]["miners_per_device"] == 2700
        # each group's power comes from the server: verified asleep devices at sleep power, every
        # other device at full power (the dashboard shows this figure, it does not recompute it)
        g = live.runtime.base_cfg.groups
        for gi, grp in enumerate(doc["groups"]):
            full = grp["miners"] - grp["asleep"]
            assert grp["power_mw"] == pytest.approx(
                full * g.run_mw[gi] + grp["asleep"] * g.sleep_mw[gi], rel=1e-6)


async def test_serve_config_runs_against_devices_at_configured_addresses(tmp_path):
    """The --config path: devices started on their own, reached only through site.yaml."""
    scen = load_scenario(write_campus(tmp_path))
    plan = plan_emulation(scen, 3, "127.58")
    miner_port, meter_port = free_port(), free_port()
    site_doc = {
        "scenario": "campus.yaml", "tick_s": 0.2, "store": {"dsn": "site.db"},
        "meter": {"host": "127.0.0.1", "port": meter_port},
        "miners": [{"group": g.name, "ips": list(g.ips), "port": miner_port,
                    "miners_per_device": g.miners_per_device} for g in plan],
        "api": {"port": 0, "tokens": TOKENS},
        "market": {"price_usd_per_mwh": 20.0},
    }
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site_doc))
    site = load_site_config(tmp_path / "site.yaml")
    assert site.store_dsn == str(tmp_path / "site.db")  # relative to the config file
    async with EmulatedSite(scen, plan, meter_port=meter_port, miner_port=miner_port) as emu:
        async with LiveSite(load_scenario(site.path(site.scenario)), site) as live:
            rt = live.runtime
            await until(lambda: rt.tick_no >= 3 and all(
                d.status == "ok" for d in rt.devices.values()), 10, "ticks with all miners ok")
            await until(lambda: all(emu.true_asleep("s19xp")), 5, "limit respected")
            doc = rt.last_tick
            assert [g["miners"] for g in doc["groups"]] == [3, 3]
            assert doc["power_mw"]["ai"] == pytest.approx(100.0)
            assert doc["binding_rule"] == "import_limit"


def test_serve_command_errors_name_the_problem(tmp_path):
    bad = tmp_path / "site.yaml"
    bad.write_text(yaml.safe_dump({"scenario": "x.yaml", "tick_s": -1}))
    runner = CliRunner()
    r = runner.invoke(app, ["serve", "--config", str(bad)])
    assert r.exit_code == 2 and "tick_s" in r.output and str(bad) in r.output
    r = runner.invoke(app, ["serve"])
    assert r.exit_code == 2 and "--emulate" in r.output


def test_serve_warns_about_tokens_on_the_command_line(tmp_path, monkeypatch):
    """``ps`` shows a command line: a token there gets a warning; the environment does not."""
    missing = tmp_path / "missing.yaml"
    runner = CliRunner()
    r = runner.invoke(app, ["serve", "--operator-token", "cli-token-123", "--emulate",
                            "--scenario", str(missing)])
    assert r.exit_code == 2
    assert "warning: --operator-token on the command line" in r.output
    assert "BALLAST_OPERATOR_TOKEN" in r.output and "--viewer-token" not in r.output
    monkeypatch.setenv("BALLAST_OPERATOR_TOKEN", "env-token-1234")
    monkeypatch.setenv("BALLAST_VIEWER_TOKEN", "env-token-5678")
    r = runner.invoke(app, ["serve", "--emulate", "--scenario", str(missing)])
    assert r.exit_code == 2 and "warning" not in r.output
    # with --config the tokens come from the site config: a command-line token is refused
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"scenario": "campus.yaml", "api": {"tokens": [
        {"name": "ops", "role": "operator", "token_file": "ops.token"}]}}))
    r = runner.invoke(app, ["serve", "--config", str(site), "--viewer-token", "abcdefgh1"])
    assert r.exit_code == 2 and "--viewer-token apply only without --config" in r.output
    write_campus(tmp_path)
    r = runner.invoke(app, ["serve", "--config", str(site)])  # env tokens are not the config's
    assert r.exit_code == 2, r.output
    assert f"cannot read token file {tmp_path / 'ops.token'}" in r.output
    assert "api.tokens[ops]" in r.output


@pytest.mark.parametrize(("action", "asleep_after"), [("sleep", 20), ("hold", None)])
async def test_graceful_stop_leaves_miners_as_configured(tmp_path, action, asleep_after):
    async with emulated_campus(tmp_path, shutdown_action=action) as live:
        rt, emu = live.runtime, live.emulated
        await _settled(live)
        running_before = sum(not a for a in emu.true_asleep("s21"))
        assert running_before == 10
        live.stop()
        await until(lambda: rt.store.events(kind="shutdown"), 10, "shutdown logged")
        (ev,) = rt.store.events(kind="shutdown")
        assert ev["data"]["action"] == action
        assert ev["data"]["asleep_verified"] == asleep_after
        if action == "sleep":  # nobody watches the limit any more: everything asleep
            assert all(emu.true_asleep("s21")) and all(emu.true_asleep("s19xp"))
            assert rt.store.commands()[-1]["ok"] == 20
        else:  # hold: left exactly as the last tick had it
            assert sum(not a for a in emu.true_asleep("s21")) == running_before
