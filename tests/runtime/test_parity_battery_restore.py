"""Parity with a battery and the restore ramp (issue 17, item 2): the live runtime on the
emulated site (LuxOS miners, the Modbus meter, the DCGM exporter and the emulated SunSpec
battery inverter over Modbus, all TCP on loopback) against the backtest's controller, tick by
tick. ``test_parity.py`` covers the miners' smoothing; this one the battery (a tick that
discharges, a tick that charges) and the restore ramp (an economic curtailment lifted: import
rises at the configured ramp).

The backtest's side is the backtest's own builder (``control.build.controller_config`` for the
scenario at the live tick) and ``ballast.control.step``, its state started from the live
state at the first compared tick and then evolved on its own, over the snapshots the runtime
froze (its meter, telemetry, battery state of charge, prices). Each tick must give the same
binding rule, miners per group, battery setpoint and planned import. The runtime's clock is
injected and advanced one tick per tick, so every step is the tick (``tick_s``) exactly and the
ramp's line is worked by hand: start + ramp_mw_per_min x N / 60 after N seconds.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from live_helpers import emulated_campus, until

import ballast.live.tick as tick_mod
from ballast.control import Snapshot, step
from ballast.control.build import controller_config
from ballast.live.battery_link import without_battery
from ballast.scenario import parse_scenario

pytestmark = pytest.mark.timeout(180)

TICK_S = 0.2  # the test site's tick (live_helpers.emulated_args)
RAMP_MW_PER_MIN = 1.2  # 0.004 MW per tick: about one S21 (3.5 kW) per tick
COUNT = 40  # S21s, one per emulated device, so the live groups are the scenario's
DEVICE_MW = 3500e-6  # one S21 at PUE 1 [MW]
POWER_MW, ENERGY_MWH = 0.1, 0.2
DEAR, CHEAP = 500.0, 20.0  # USD/MWh; the S21's breakeven at hashprice 50 is about 119
T0 = 1_720_000_000.0  # 2024-07-03T09:46:40Z
# AI 0.4 MW IT x PUE 1.25 = 0.5 MW; 40 S21 = 0.14 MW; a 0.1 MW / 0.2 MWh battery that
# smooths alone (smoothing.enabled false: the miners follow economics and the ramp)
CAMPUS = {
    "version": 1,
    "name": "battery-restore-parity",
    "site": {"name": "parity", "import_limit_mw": 1.0, "export_limit_mw": 0},
    "ai": {"it_load_mw": 0.4, "pue": 1.25},
    "miners": [
        {
            "name": "s21",
            "model": "Antminer S21",
            "count": COUNT,
            "pue": 1.0,
            "min_on_minutes": 0,
            "min_off_minutes": 0,
        }
    ],
    "battery": {
        "power_mw": POWER_MW,
        "energy_mwh": ENERGY_MWH,
        "round_trip_efficiency": 0.81,
        "initial_soc_share": 0.9,
    },
    "smoothing": {
        "enabled": False,
        "ramp_up_mw_per_s": 0.01,
        "ramp_down_mw_per_s": 0.01,
        "ramp_window_s": 60,
        "dynamic_range_mw": 0.2,
        "target_tau_s": 300,
    },
    "control": {"restore_ramp_mw_per_min": RAMP_MW_PER_MIN},
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "run": {"start": "2024-07-01T00:00:00Z", "end": "2024-07-02T00:00:00Z"},
}


class Clock:
    """The runtime's clock: advanced by ``TICK_S`` after every tick (``Runtime.on_tick``)."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t

    def tick(self, _doc: dict) -> None:
        self.t += TICK_S


class Recorder:
    """Every live ``step``: (config, controller state before, snapshot, decision)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, cfg, state, snap: Snapshot):
        before = state.copy()
        decision = step(cfg, state, snap)
        self.calls.append((cfg, before, snap, decision))
        return decision


def _import_mw(call: tuple) -> float:
    """The import a decision plans before the battery: AI + miners (no renewables here)."""
    return call[2].ai_load_mw + call[3].miner_power_mw


async def test_battery_and_restore_ramp_live_as_in_the_backtest(tmp_path, monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(tick_mod, "step", rec)
    clock = Clock()
    market = {"price_usd_per_mwh": DEAR, "hashprice_usd_per_ph_day": 50.0}
    async with emulated_campus(tmp_path, scenario=CAMPUS, devices=COUNT, market=market, clock=clock) as live:
        rt, emu = live.runtime, live.emulated
        rt.on_tick.append(clock.tick)
        # dear power: every miner asleep; the battery, 90 % full, recentres by discharging
        await until(
            lambda: all(emu.true_asleep("s21")) and emu.last["miners_mw"] < 0.01,
            20,
            "the fleet to fall asleep",
        )
        await until(
            lambda: len(rec.calls) > 5 and rec.calls[-1][3].battery_mw > 0.0, 10, "a discharging tick"
        )
        first = len(rec.calls) - 3
        rt.set_policy(price_usd_per_mwh=CHEAP)  # the curtailment is lifted
        await until(lambda: int(rec.calls[-1][3].running.sum()) == COUNT, 30, "the fleet awake")
        emu.battery.stored_mwh = 0.1 * ENERGY_MWH  # nearly empty: recentres by charging
        await until(lambda: rec.calls[-1][3].battery_mw < 0.0, 10, "a charging tick")
        n = len(rec.calls) + 2
        await until(lambda: len(rec.calls) >= n, 10, "two more ticks")
        calls = list(rec.calls[first:])

    scn = parse_scenario(CAMPUS)
    cfg = controller_config(scn, TICK_S)  # the backtest's builder, at the live tick
    assert cfg.smoothing.battery_power_mw == POWER_MW and cfg.restore_ramp_mw_per_min == RAMP_MW_PER_MIN
    state = calls[0][1].copy()  # the live state at the first compared tick, then on its own
    blind = 0
    for k, (live_cfg, _, snap, live) in enumerate(calls):
        assert k == 0 or snap.time_s == pytest.approx(calls[k - 1][2].time_s + TICK_S, abs=1e-6)
        blind += not _host_view_is_whole(live_cfg, cfg)
        bt = step(_host_inputs(cfg, live_cfg), state, snap)
        assert (bt.binding_rule, bt.running.tolist()) == (live.binding_rule, live.running.tolist()), k
        assert bt.battery_mw == live.battery_mw, k
        assert bt.plan_import_mw == pytest.approx(live.plan_import_mw, abs=1e-12, nan_ok=True), k

    # a device or battery read lost on a loaded machine is a host input both sides take; the
    # comparison is only worth its name when the host saw the whole site nearly always
    assert blind <= 0.1 * len(calls), f"{blind} of {len(calls)} ticks without every device or the battery"
    rules = [c[3].binding_rule for c in calls]
    battery = np.array([c[3].battery_mw for c in calls])
    assert battery.max() > 0.0 and battery.min() < 0.0  # discharged and charged
    assert "restore_ramp" in rules
    # the ramp by hand: from the last dear tick (import I0 at time t0), the import after N s
    # is at most I0 + 1.2 MW/min x N / 60, and where the ramp binds, within one miner of it
    k0 = next(k for k, c in enumerate(calls) if c[2].price_usd_per_mwh == CHEAP)
    i0, t0 = _import_mw(calls[k0 - 1]), calls[k0 - 1][2].time_s
    awake = next(k for k in range(k0, len(calls)) if int(calls[k][3].running.sum()) == COUNT)
    for k in range(k0, awake + 1):
        line = i0 + RAMP_MW_PER_MIN * (calls[k][2].time_s - t0) / 60.0
        assert _import_mw(calls[k]) <= line + 1e-9, k
        if rules[k] == "restore_ramp":
            assert _import_mw(calls[k]) >= line - DEVICE_MW - 1e-9, k
    # so the 0.14-MW fleet took at least (0.14 - one miner) / 0.02 MW/s = 6.8 s to wake
    assert calls[awake][2].time_s - t0 >= (COUNT - 1) * DEVICE_MW / (RAMP_MW_PER_MIN / 60.0) - 1e-6


def _host_inputs(cfg, live_cfg):
    """The backtest's config with what the live host hands its controller each tick: the
    operator's policy (economic dispatch, import margin), the miners that answer per group,
    and no battery on a tick its state of charge is unknown (``live.battery_tick``)."""
    out = replace(
        cfg,
        economic_dispatch=live_cfg.economic_dispatch,
        import_margin_mw=live_cfg.import_margin_mw,
        groups=replace(cfg.groups, count=live_cfg.groups.count),
    )
    return out if live_cfg.smoothing.battery_power_mw > 0.0 else without_battery(out)


def _host_view_is_whole(live_cfg, cfg) -> bool:
    """Every device answered and the battery's state was known at this tick."""
    return (
        np.array_equal(live_cfg.groups.count, cfg.groups.count)
        and live_cfg.smoothing.battery_power_mw == POWER_MW
    )
