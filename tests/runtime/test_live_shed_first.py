"""Live runtime, emulated LuxOS miners over TCP that report no curtail state (issue 15 item
5): while a wake of them is still being verified (its ramp held open by an injected wait), the
first tick on dear power has already put every miner to sleep, and the wake's verification
afterwards neither resends the wake nor undoes the shed. Ordering and the emulators' command
counters are asserted, never the wall clock."""

from __future__ import annotations

import asyncio

import pytest
from live_helpers import emulated_campus, until

pytestmark = pytest.mark.timeout(120)

DEVICES = 6
# AI 40 MW IT x PUE 1.25 = 50 MW; 600 S21 at 3,500 W and PUE 1 = 2.1 MW; no restore ramp
CAMPUS = {
    "version": 1,
    "name": "shed-first-campus",
    "site": {"name": "shed first", "import_limit_mw": 200, "export_limit_mw": 0},
    "ai": {"it_load_mw": 40, "pue": 1.25},
    "miners": [
        {
            "name": "s21",
            "model": "Antminer S21",
            "count": 600,
            "pue": 1.0,
            "min_on_minutes": 0,
            "min_off_minutes": 0,
        }
    ],
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "control": {"restore_ramp_mw_per_min": None},
    "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"},
}
DEAR, CHEAP = 500.0, 20.0  # USD/MWh; the S21's breakeven at hashprice 50 is about 119


class HeldRamp:
    """The runtime's wake-ramp wait, held open until ``release()``."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.waiting = 0

    async def wait(self, seconds: float) -> None:
        self.waiting += 1
        try:
            await self.released.wait()
        finally:
            self.waiting -= 1

    def release(self) -> None:
        self.released.set()


async def test_a_shed_goes_out_in_the_next_tick_while_a_wake_is_being_verified(tmp_path):
    market = {"price_usd_per_mwh": DEAR, "hashprice_usd_per_ph_day": 50.0}
    # device time at wall speed: a woken S21 passes the 100-W "asleep" line ~0.2 s after the
    # wake (a 10-s linear ramp to 3,500 W), so the driver's first read-back sees it ramping
    async with emulated_campus(
        tmp_path, scenario=CAMPUS, devices=DEVICES, time_scale=1.0, market=market
    ) as live:
        rt, site = live.runtime, live.emulated
        miners = [(emu, ip) for emu in site.miners for ip in emu.ips]
        await until(
            lambda: all(emu.true_state(ip).power_w < 100.0 for emu, ip in miners),
            15,
            "the fleet to fall asleep (its power down)",
        )
        for emu, ip in miners:
            emu.set_quirks(ip, reports_curtail_state=False)

        def sent(arg: str) -> list[int]:
            return [emu.miner(ip).command_counts[("curtail", arg)] for emu, ip in miners]

        ramp = HeldRamp()
        rt.cmd.wait = ramp.wait
        slept_before = sent("sleep")
        rt.set_policy(price_usd_per_mwh=CHEAP)
        await until(lambda: ramp.waiting > 0, 15, "a wake to be under verification")
        assert sent("wakeup") == [1] * DEVICES
        assert rt.cmd.ramping  # (all of them unless the machine was too slow to read back)

        seen: list[tuple[bool, list[int]]] = []  # (ramp released?, sleeps received) per tick

        def on_tick(doc: dict) -> None:
            if doc["market"]["price_usd_per_mwh"] == DEAR:
                seen.append((ramp.released.is_set(), sent("sleep")))

        rt.on_tick.append(on_tick)
        rt.set_policy(price_usd_per_mwh=DEAR)
        await until(lambda: bool(seen), 30, "a tick on dear power")
        released, slept = seen[0]
        assert not released and ramp.waiting > 0  # the wake still being verified ...
        assert slept == [n + 1 for n in slept_before]  # ... and the shed already received
        assert not rt.cmd.ramping  # the shed took every miner out of the verification

        ramp.release()
        await rt.cmd.settle()
        await until(lambda: all(site.true_asleep("s21")), 15, "the fleet asleep")
        assert sent("wakeup") == [1] * DEVICES  # the verification resent no wake
        assert all(d.want_run is False for d in rt.devices.values())
