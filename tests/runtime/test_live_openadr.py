"""OpenADR end to end: openleadr's VTN (real HTTP, real OpenADR XML) -> our VEN -> the live
runtime on the emulated campus (LuxOS/Modbus/DCGM emulators on loopback) -> import drops; the
VEN reports the runtime's meter readings back to the VTN."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from live_helpers import emulated_campus, free_port, until

from ballast.programs.openadr.ven import BallastVen, VenPolicy, forward_to_runtime


@pytest.mark.filterwarnings(
    # openleadr 0.5.x stores its server on the aiohttp app with a str key (aiohttp >= 3.9 warns)
    "ignore:It is recommended to use web.AppKey instances for keys"
)
async def test_vtn_event_reaches_the_live_campus(tmp_path):
    from openleadr import OpenADRServer

    port = free_port()
    loop = asyncio.get_running_loop()
    answered = loop.create_future()
    reports: list[tuple[str, float]] = []

    async def on_register_report(
        ven_id, resource_id, measurement, unit, scale, min_sampling_interval, max_sampling_interval
    ):
        async def receive(data):
            reports.extend((resource_id, v) for _, v in data)

        return receive, min_sampling_interval

    vtn = OpenADRServer(
        vtn_id="LIVE-VTN",
        http_host="127.0.0.1",
        http_port=port,
        requested_poll_freq=timedelta(seconds=1),
        show_fingerprint=False,
        ven_lookup=lambda ven_id: {
            "ven_id": ven_id,
            "ven_name": "campus",
            "fingerprint": None,
            "registration_id": "reg-live",
        },
    )
    vtn.add_handler("on_create_party_registration", lambda info: ("ven-live", "reg-live"))
    vtn.add_handler("on_register_report", on_register_report)
    await vtn.run_async()
    async with emulated_campus(tmp_path) as live:
        rt, emu = live.runtime, live.emulated
        await until(
            lambda: rt.last_tick is not None and rt.last_tick["power_mw"]["miners"] > 50, 10, "miners running"
        )

        def telemetry() -> dict[str, float]:
            p = rt.last_tick["power_mw"]
            return {"site_import_mw": float(p["import"]), "miner_mw": float(p["miners"])}

        ven = BallastVen(
            "campus",
            f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
            VenPolicy(),
            telemetry=telemetry,
            on_decision=forward_to_runtime(rt),
            report_period_s=1,
        )
        try:
            await ven.start()
            start = datetime.now(UTC) + timedelta(seconds=2)
            event_id = vtn.add_event(
                "ven-live",
                "LOAD_DISPATCH",
                "delta",
                [
                    {"dtstart": start, "duration": timedelta(minutes=10), "signal_payload": -30_000}
                ],  # reduce by 30,000 kW
                callback=lambda ven_id, event_id, opt_type: answered.set_result(opt_type),
            )
            assert await asyncio.wait_for(answered, 20) == "optIn"
            (dr,) = rt.dr_events.values()
            assert dr.reduction_mw == pytest.approx(30.0)
            await until(
                lambda: any(e.get("kind") == "dr" for e in rt.last_tick["active_events"]),
                10,
                "the DR event active in the runtime",
            )
            active = next(e for e in rt.last_tick["active_events"] if e.get("kind") == "dr")
            target = active["target_import_mw"]
            await until(lambda: emu.last["import_mw"] <= target + 1e-6, 10, "import at the OpenADR target")
            await until(
                lambda: {r for r, _ in reports} >= {"site", "miners"}, 10, "telemetry reports at the VTN"
            )
            # the VTN cancels: the runtime's DR event is cancelled and the cap goes
            vtn.cancel_event("ven-live", event_id)
            await until(
                lambda: not any(e.get("kind") == "dr" for e in rt.last_tick["active_events"]),
                10,
                "the DR event cancelled in the runtime",
            )
        finally:
            await ven.stop()
            await vtn.stop()


@pytest.mark.filterwarnings(
    # openleadr 0.5.x stores its server on the aiohttp app with a str key (aiohttp >= 3.9 warns)
    "ignore:It is recommended to use web.AppKey instances for keys"
)
async def test_ven_command_reports_the_live_meter_and_judges_prices_per_group(tmp_path):
    """`ballast programs ven --site URL --scenario campus.yaml` (in a thread: it runs its own
    event loop) against the live API of the emulated campus (uvicorn on loopback) and
    openleadr's VTN: the reports carry the runtime's metered import and miner power, and a
    price between the two groups' breakevens at the runtime's hashprice (50 USD/PH/day) puts
    exactly the S19 XPs to sleep. The event is posted to the site's DR events API (operator
    token) and the runtime holds it. With a viewer token the site refuses the DR event and the
    VEN declines it to the VTN; with a token the API refuses, nothing is reported."""
    import json

    from live_helpers import OPERATOR_TOKEN, VIEWER_TOKEN, write_campus
    from openleadr import OpenADRServer
    from typer.testing import CliRunner

    from ballast.cli import app
    from ballast.models.miners import get_model

    port = free_port()
    reports: list[tuple[str, float]] = []
    stamped: list[tuple[str, float, float]] = []  # (resource, time [UNIX s], MW)

    async def on_register_report(
        ven_id, resource_id, measurement, unit, scale, min_sampling_interval, max_sampling_interval
    ):
        async def receive(data):
            reports.extend((resource_id, v) for _, v in data)
            stamped.extend((resource_id, dt.timestamp(), v) for dt, v in data)

        return receive, min_sampling_interval

    vtn = OpenADRServer(
        vtn_id="SITE-VTN",
        http_host="127.0.0.1",
        http_port=port,
        requested_poll_freq=timedelta(seconds=1),
        show_fingerprint=False,
        ven_lookup=lambda ven_id: {
            "ven_id": ven_id,
            "ven_name": "campus",
            "fingerprint": None,
            "registration_id": "reg-site",
        },
    )
    vtn.add_handler("on_create_party_registration", lambda info: ("ven-site", "reg-site"))
    vtn.add_handler("on_register_report", on_register_report)
    # 100 USD/MWh. Breakeven at the meter = 1000 x 50 / (24 x J/TH) x (1 - 2 % pool fee) /
    # PUE 1.05: S19 XP (21.5 J/TH) 90.4 + 5 deadband < 100 <= S21 (17.5 J/TH) 111.1 + 5
    start = datetime.now(UTC) + timedelta(minutes=10)
    vtn.add_event(
        "ven-site",
        "ELECTRICITY_PRICE",
        "price",
        [{"dtstart": start, "duration": timedelta(minutes=15), "signal_payload": 0.1}],
    )
    await vtn.run_async()
    seen = {"site": set(), "miners": set()}
    token_file = tmp_path / "operator.token"
    token_file.write_text(OPERATOR_TOKEN + "\n")
    viewer_file = tmp_path / "viewer.token"
    viewer_file.write_text(VIEWER_TOKEN + "\n")
    bad_token_file = tmp_path / "wrong.token"
    bad_token_file.write_text("not-the-viewer-token\n")
    scenario = write_campus(tmp_path)

    def ven(token: object, seconds: float):
        return CliRunner().invoke(
            app,
            [
                "programs",
                "ven",
                "--vtn-url",
                f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
                "--ven-name",
                "campus",
                "--site",
                live.api_url,
                "--site-token-file",
                str(token),
                "--scenario",
                str(scenario),
                "--report-period-s",
                "1",
                "--seconds",
                str(seconds),
            ],
        )

    try:
        async with emulated_campus(tmp_path) as live:
            rt = live.runtime
            await until(
                lambda: rt.last_tick is not None and (rt.last_tick["power_mw"]["miners"] or 0) > 50,
                10,
                "miners running",
            )

            async def watch() -> None:  # every tick's metered import and miner power
                while True:
                    p = rt.last_tick["power_mw"]
                    seen["site"].add((rt.last_tick["time_s"], p["import"]))
                    seen["miners"].add((rt.last_tick["time_s"], p["miners"]))
                    await asyncio.sleep(0.01)

            watcher = asyncio.create_task(watch())
            result = await asyncio.to_thread(ven, token_file, 6)
            watcher.cancel()
            assert result.exit_code == 0, result.output
            (line,) = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
            assert line["opt"] == "optIn"
            (cmd,) = line["commands"]
            # the bridge: the event is a DR event in the runtime, over the event's interval,
            # asking the reduction that brings the miners down to the cap
            (dr_id,) = line["site_dr_events"]
            ev = rt.dr_events[dr_id]
            assert (ev.start_s, ev.end_s) == pytest.approx(
                (start.timestamp(), start.timestamp() + 900), abs=1
            )
            assert ev.reduction_mw > 0 and ev.cancelled_s is None
            assert [(g["group"], g["curtail"]) for g in cmd["groups"]] == [("s21", False), ("s19xp", True)]
            s21, s19xp = get_model("Antminer S21"), get_model("Antminer S19 XP")
            assert cmd["cap_mw"] == pytest.approx(
                27_000 * s21.power_w * 1.05 / 1e6 + 19_000 * s19xp.sleep_power_w / 1e6
            )
            site = [v for r, v in reports if r == "site"]
            miners = [v for r, v in reports if r == "miners"]
            assert len(site) >= 3 and len(miners) >= 3  # about one a second
            # each value is one tick's metered reading, stamped with that tick's time
            for resource, t, v in stamped:
                assert any(abs(t - ts) < 1e-3 and v == mw for ts, mw in seen[resource]), (t, v)
            assert min(site) > 100  # AI 100 MW + miners: a metered value, not a constant 0
            # a viewer token reads the site but may not create DR events: the VEN declines
            result = await asyncio.to_thread(ven, viewer_file, 4)
            assert result.exit_code == 0, result.output
            (line,) = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
            assert line["opt"] == "optOut" and "the site refused it" in line["reason"]
            assert "HTTP 403" in line["reason"] and line["site_dr_events"] == []
            assert list(rt.dr_events) == [dr_id]  # nothing new in the runtime
            # a token the site refuses: the VEN reports nothing and declines the event
            reports.clear()
            result = await asyncio.to_thread(ven, bad_token_file, 4)
            assert result.exit_code == 0, result.output
            (line,) = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
            assert line["opt"] == "optOut" and "cannot be read" in line["reason"]
            assert reports == []
    finally:
        await vtn.stop()


@pytest.mark.filterwarnings(
    # openleadr 0.5.x stores its server on the aiohttp app with a str key (aiohttp >= 3.9 warns)
    "ignore:It is recommended to use web.AppKey instances for keys"
)
async def test_vtn_reserve_deployment_reaches_the_live_campus(tmp_path):
    """An OpenADR event in the market context the site maps to its ECRS is a deployment: the
    runtime drops the 25 MW sold from the metered miner power (live.grid_programs), and the
    VTN's cancellation ends it."""
    import copy

    from live_helpers import INSTANT_WAKE
    from openleadr import OpenADRServer

    port = free_port()
    answered = asyncio.get_running_loop().create_future()
    vtn = OpenADRServer(
        vtn_id="LIVE-VTN",
        http_host="127.0.0.1",
        http_port=port,
        requested_poll_freq=timedelta(seconds=1),
        show_fingerprint=False,
        ven_lookup=lambda ven_id: {"ven_id": ven_id, "ven_name": "campus", "fingerprint": None,
                                   "registration_id": "reg-live"},
    )
    vtn.add_handler("on_create_party_registration", lambda info: ("ven-live", "reg-live"))
    await vtn.run_async()
    scen = copy.deepcopy(INSTANT_WAKE) | {"programs": {"ecrs": {"offer_mw": 25.0},
                                                       "reserve_only_when_economic": False}}
    async with emulated_campus(tmp_path, scenario=scen) as live:
        rt = live.runtime
        await until(lambda: rt.programs.sold_mw.get("ecrs") == 25.0, 10, "the ECRS sold")
        ven = BallastVen(
            "campus",
            f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
            VenPolicy(reserve_market_contexts={"oadr://ercot/ecrs": "ecrs"}),
            telemetry=lambda: {"site_import_mw": float(rt.last_tick["power_mw"]["import"]),
                               "miner_mw": float(rt.last_tick["power_mw"]["miners"])},
            on_decision=forward_to_runtime(rt),
            report_period_s=1,
        )
        try:
            await ven.start()
            event_id = vtn.add_event(
                "ven-live", "SIMPLE", "level",
                [{"dtstart": datetime.now(UTC) + timedelta(seconds=2),
                  "duration": timedelta(minutes=10), "signal_payload": 1}],
                market_context="oadr://ercot/ecrs",
                callback=lambda ven_id, event_id, opt_type: answered.set_result(opt_type),
            )
            assert await asyncio.wait_for(answered, 20) == "optIn"
            assert not rt.dr_events  # a deployment, not a DR event

            def deployment():
                return next((e for e in rt.last_tick["active_events"]
                             if e.get("kind") == "deployment"), None)

            await until(lambda: deployment() is not None, 10, "the deployment in the runtime")
            dep = deployment()
            assert dep["program"] == "ecrs" and dep["commit_mw"] == 25.0
            assert dep["source"].startswith("openadr:")
            assert dep["cap_mw"] == pytest.approx(max(dep["reference_mw"] - 25.0, 0.0))
            await until(lambda: rt.last_tick["power_mw"]["miners_planned"] <= dep["cap_mw"] + 1e-9,
                        10, "the miners under the deployment cap")
            vtn.cancel_event("ven-live", event_id)
            await until(lambda: deployment() is None, 10, "the deployment cancelled")
        finally:
            await ven.stop()
            await vtn.stop()


async def test_site_forwarder_posts_updates_and_cancels_dr_events(tmp_path):
    """``SiteDrForwarder`` against the live API of the emulated campus: an opted-in event with
    two intervals becomes two DR events in the runtime; the VTN's update replaces them (the old
    ones cancelled); its cancellation cancels the new ones. A reduction the runtime refuses (a
    start more than a year away) comes back as the reason, and what was posted is withdrawn."""
    from live_helpers import OPERATOR_TOKEN

    from ballast.programs.dr import DrRequest
    from ballast.programs.openadr.events import DrCommand, EventDecision
    from ballast.programs.openadr.site import SiteDrForwarder

    now = datetime.now(UTC).replace(microsecond=0)

    def cmd(start_min: float, mw: float | None = None, share: float | None = None) -> DrCommand:
        start = now + timedelta(minutes=start_min)
        return DrCommand(
            "ev-1",
            "SIMPLE/level",
            now,
            start,
            start + timedelta(minutes=15),
            float("inf"),
            1.0,
            request=DrRequest(mw, share),
        )

    async with emulated_campus(tmp_path) as live:
        rt = live.runtime
        fwd = SiteDrForwarder(live.api_url, OPERATOR_TOKEN)

        def cancelled(dr_id: str) -> bool:  # the runtime's book drops a cancelled event
            ev = rt.dr_events.get(dr_id)
            return ev is None or ev.cancelled_s is not None

        first = EventDecision("ev-1", "optIn", "ok", (cmd(10, mw=20.0), cmd(25, share=0.5)))
        assert await fwd(first) is None
        a, b = fwd.created["ev-1"]
        assert (rt.dr_events[a].reduction_mw, rt.dr_events[b].reduction_share) == (20.0, 0.5)
        assert rt.dr_events[a].start_s == (now + timedelta(minutes=10)).timestamp()
        update = EventDecision("ev-1", "optIn", "ok", (cmd(10, mw=30.0),))
        assert await fwd(update) is None
        (c,) = fwd.created["ev-1"]
        assert rt.dr_events[c].reduction_mw == 30.0 and rt.dr_events[c].cancelled_s is None
        await until(lambda: cancelled(a) and cancelled(b), 5, "the replaced DR events cancelled")
        assert await fwd(EventDecision("ev-1", "optOut", "cancelled by the VTN")) is None
        assert "ev-1" not in fwd.created
        await until(lambda: cancelled(c), 5, "the cancelled event's DR event cancelled")
        # the runtime refuses a start outside its one-year window: the site's answer is the reason
        far = EventDecision("ev-2", "optIn", "ok", (cmd(10, mw=10.0), cmd(400 * 24 * 60, mw=10.0)))
        why = await fwd(far)
        assert why is not None and "HTTP 422" in why
        (posted,) = fwd.created["ev-2"]
        await fwd(EventDecision("ev-2", "optOut", f"the site refused it: {why}"))  # as the VEN does
        await until(lambda: cancelled(posted), 5, "the refused event's first interval withdrawn")


async def test_site_forwarder_posts_and_withdraws_a_reserve_deployment(tmp_path):
    """``SiteDrForwarder`` (``ballast programs ven --site``) posts a deployment instruction to
    the live API's deployments endpoint: the runtime drops the ECRS sold; the VTN's
    cancellation deletes it. A reserve the site does not offer comes back as the reason."""
    import copy

    from live_helpers import INSTANT_WAKE, OPERATOR_TOKEN

    from ballast.programs.openadr.events import DrCommand, EventDecision
    from ballast.programs.openadr.site import SiteDrForwarder

    now = datetime.now(UTC).replace(microsecond=0)
    cmd = DrCommand("ev-9", "deployment:ecrs", now, now, now + timedelta(minutes=15),
                    float("inf"), 1.0)
    scen = copy.deepcopy(INSTANT_WAKE) | {"programs": {"ecrs": {"offer_mw": 25.0},
                                                       "reserve_only_when_economic": False}}
    async with emulated_campus(tmp_path, scenario=scen) as live:
        rt = live.runtime
        fwd = SiteDrForwarder(live.api_url, OPERATOR_TOKEN)
        deploy = EventDecision("ev-9", "optIn", "ecrs deployment", (cmd,), deployment="ecrs")
        assert await fwd(deploy) is None
        (made,) = fwd.created["ev-9"]
        window_id = made.removeprefix("deployment:")
        w = rt.programs.windows[window_id]
        assert (w.program, w.source, w.end_s - w.start_s) == ("ecrs", "alice", 900.0)
        assert not rt.dr_events
        assert await fwd(EventDecision("ev-9", "optOut", "cancelled by the VTN")) is None
        await until(lambda: window_id not in rt.programs.windows
                    or rt.programs.windows[window_id].cancelled_s is not None, 5,
                    "the deployment withdrawn")
        ers = EventDecision("ev-10", "optIn", "ers deployment", (cmd,), deployment="ers")
        why = await fwd(ers)
        assert why is not None and "HTTP 422" in why and "offers (['ecrs'])" in why
