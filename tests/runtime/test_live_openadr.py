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
    "ignore:It is recommended to use web.AppKey instances for keys")
async def test_vtn_event_reaches_the_live_campus(tmp_path):
    from openleadr import OpenADRServer

    port = free_port()
    loop = asyncio.get_running_loop()
    answered = loop.create_future()
    reports: list[tuple[str, float]] = []

    async def on_register_report(ven_id, resource_id, measurement, unit, scale,
                                 min_sampling_interval, max_sampling_interval):
        async def receive(data):
            reports.extend((resource_id, v) for _, v in data)
        return receive, min_sampling_interval

    vtn = OpenADRServer(vtn_id="LIVE-VTN", http_host="127.0.0.1", http_port=port,
                        requested_poll_freq=timedelta(seconds=1), show_fingerprint=False,
                        ven_lookup=lambda ven_id: {"ven_id": ven_id, "ven_name": "campus",
                                                   "fingerprint": None,
                                                   "registration_id": "reg-live"})
    vtn.add_handler("on_create_party_registration", lambda info: ("ven-live", "reg-live"))
    vtn.add_handler("on_register_report", on_register_report)
    await vtn.run_async()
    async with emulated_campus(tmp_path) as live:
        rt, emu = live.runtime, live.emulated
        await until(lambda: rt.last_tick is not None and rt.last_tick["power_mw"]["miners"] > 50,
                    10, "miners running")

        def telemetry() -> dict[str, float]:
            p = rt.last_tick["power_mw"]
            return {"site_import_mw": float(p["import"]), "miner_mw": float(p["miners"])}

        ven = BallastVen("campus", f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b", VenPolicy(),
                         telemetry=telemetry, on_decision=forward_to_runtime(rt),
                         report_period_s=1)
        try:
            await ven.start()
            start = datetime.now(UTC) + timedelta(seconds=2)
            event_id = vtn.add_event("ven-live", "LOAD_DISPATCH", "delta",
                                     [{"dtstart": start, "duration": timedelta(minutes=10),
                                       "signal_payload": -30_000}],  # reduce by 30,000 kW
                                     callback=lambda ven_id, event_id, opt_type:
                                     answered.set_result(opt_type))
            assert await asyncio.wait_for(answered, 20) == "optIn"
            (dr,) = rt.dr_events.values()
            assert dr.reduction_mw == pytest.approx(30.0)
            await until(lambda: any(e.get("kind") == "dr" for e in rt.last_tick["active_events"]),
                        10, "the DR event active in the runtime")
            active = next(e for e in rt.last_tick["active_events"] if e.get("kind") == "dr")
            target = active["target_import_mw"]
            await until(lambda: emu.last["import_mw"] <= target + 1e-6, 10,
                        "import at the OpenADR target")
            await until(lambda: {r for r, _ in reports} >= {"site", "miners"}, 10,
                        "telemetry reports at the VTN")
            # the VTN cancels: the runtime's DR event is cancelled and the cap goes
            vtn.cancel_event("ven-live", event_id)
            await until(lambda: not any(e.get("kind") == "dr"
                                        for e in rt.last_tick["active_events"]), 10,
                        "the DR event cancelled in the runtime")
        finally:
            await ven.stop()
            await vtn.stop()
