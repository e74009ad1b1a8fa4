"""The compiled backtest loops: ``run_ticks`` runs ``control_tick_full`` (smoothing off) over a
horizon (miners follow commands at once); ``run_plant_ticks`` runs ``control_tick_full``
against the miner plant model (latency, sleep/wake ramps) and a battery, for 1-s and sub-second
runs.

Hand-written loop because the controller carries state (hysteresis) from tick to tick, which no
vectorised library call expresses; numba compiles it (a 1-min year is ~0.5 M ticks).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ballast import numba_cache
from ballast import physics as _physics
from ballast.control import rules as _rules
from ballast.control import smoothing as _smoothing
from ballast.control.rules import control_tick_full
from ballast.control.smoothing import (
    INFO_BATTERY_MW,
    INFO_RESERVE_DOWN,
    INFO_RESERVE_UP,
    INFO_SIZE,
    SP_AI_MAX,
    SP_MAX_DT,
    SP_SIZE,
    SS_SIZE,
)
from ballast.models import miner_dynamics as _plant
from ballast.models.miner_dynamics import plant_advance, plant_command
from ballast.physics import (
    battery_max_discharge_mw,
    battery_stored_change_mwh,
    group_power_mw,
    import_mw,
    within_export_limit_mw,
)

# the kernels inline the rule stack and the plant: recompile when those files change
numba_cache.drop_stale(__file__, _rules.__file__, _smoothing.__file__, _plant.__file__,
                       _physics.__file__)


@njit(cache=True)
def run_ticks(time_s, price, hashprice, ai_load_mw, renewable_mw, cap_mw, floor_mw,
              import_limit_mw, export_limit_mw, margin_mw, economic_dispatch, absorb_renewables,
              count, run_mw, sleep_mw, value_mw_per_hashprice, deadband, min_on_s, min_off_s,
              merit, econ_on, last_change_s, running, record_every,
              out_miner_mw, out_rule, out_running_mean, restore):
    """Run ticks [0, n); write the miner total [MW] and binding rule per tick, and the mean
    running miners per group per block of ``record_every`` ticks. State arrays (``restore``:
    the restore ramp, ``rules.RS_*``) are updated in place, so consecutive chunks continue
    where the last one stopped."""
    n = time_s.shape[0]
    groups = count.shape[0]
    # the rule stack of ``control_tick_full`` with smoothing off, its scratch arrays
    # allocated once per call instead of once per tick
    sp = np.zeros(SP_SIZE)
    sp[SP_AI_MAX] = np.inf
    sp[SP_MAX_DT] = np.inf
    ss = np.zeros(SS_SIZE)
    ai_buf = np.zeros(1)
    info = np.zeros(INFO_SIZE)
    for t in range(n):
        total, rule = control_tick_full(
            time_s[t], price[t], hashprice[t], ai_load_mw[t], renewable_mw[t], cap_mw[t],
            floor_mw[t], import_limit_mw, export_limit_mw, margin_mw, economic_dispatch,
            absorb_renewables, count, run_mw, sleep_mw, value_mw_per_hashprice, deadband,
            min_on_s, min_off_s, merit, econ_on, last_change_s, running, sp, ss, ai_buf,
            np.nan, 0.0, info, restore)
        out_miner_mw[t] = total
        out_rule[t] = rule
        b = t // record_every
        for g in range(groups):
            out_running_mean[b, g] += running[g] / record_every


@njit(cache=True)
def run_plant_ticks(t0_s, dt_s, tick0, coarse_every, price, hashprice, renewable_mw, cap_mw,
                    floor_mw, ai_mw, import_limit_mw, export_limit_mw, margin_mw,
                    economic_dispatch, absorb_renewables, count, run_mw, sleep_mw,
                    value_mw_per_hashprice, deadband, min_on_s, min_off_s, merit, econ_on,
                    last_change_s, running, sp, ss, ai_buf, pending_rate, plant_pos, rate,
                    raw_mw, power_mw, latency_ticks, sleep_ticks, wake_ticks, battery,
                    record_every,
                    out_import_mw, out_miner_mw, out_battery_mw, out_rule, out_group_power_mw,
                    out_reserve_mw, out_rule_ticks, restore):
    """Ticks [0, n) of a fine-resolution run: controller (``control_tick_full``, the live code
    path) -> miner plant (latency, sleep/wake ramps) -> battery -> campus import.

    Coarse inputs (price, hashprice, renewables, caps, floors) hold for ``coarse_every`` ticks;
    tick ``t`` of this chunk is global tick ``tick0 + t`` and reads coarse row
    ``(tick0 + t) // coarse_every - tick0 // coarse_every``. ``ai_mw`` is the fine AI load
    [MW]. State (controller, plant ring buffer and ``plant_pos[0]``, ``battery`` = [state of
    charge MWh, one-way efficiency]; ``raw_mw`` the superposed plant power) carries over
    between chunks. Per tick it writes import, miner and battery power [MW] (float32) and the
    binding rule (int8); per block of ``record_every`` ticks the mean group power [MW] and mean
    reserves [MW] (up, down); ``out_rule_ticks`` counts ticks per binding rule. ``restore``
    is the restore ramp's state (``rules.RS_*``), updated in place.
    """
    n = ai_mw.shape[0]
    groups = count.shape[0]
    info = np.zeros(5)
    lo = group_power_mw(0, count, run_mw, sleep_mw)  # all asleep
    hi = group_power_mw(count, count, run_mw, sleep_mw)  # all running
    dt_h = dt_s / 3600.0
    inv_rec = 1.0 / record_every
    before = np.empty_like(running)
    c = 0
    phase = tick0 % coarse_every  # ticks already spent in the current coarse row
    for t in range(n):
        # 1. the plant moves to tick t; the meters read it
        plant_pos[0] = plant_advance(pending_rate, plant_pos[0], rate, raw_mw, power_mw, lo, hi)
        miner_now = 0.0
        for g in range(groups):
            miner_now += power_mw[g]
        ren = renewable_mw[c]
        # 2. the controller decides on what it measured
        for g in range(groups):
            before[g] = running[g]
        _total, rule = control_tick_full(
            t0_s + t * dt_s, price[c], hashprice[c], ai_mw[t], ren, cap_mw[c], floor_mw[c],
            import_limit_mw, export_limit_mw, margin_mw, economic_dispatch, absorb_renewables,
            count, run_mw, sleep_mw, value_mw_per_hashprice, deadband, min_on_s, min_off_s,
            merit, econ_on, last_change_s, running, sp, ss, ai_buf, miner_now, battery[0], info,
            restore)
        out_rule_ticks[rule] += 1
        out_rule[t] = rule
        # 3. commands go to the plant (they act from the next tick, after the latency)
        for g in range(groups):
            if running[g] != before[g]:
                plant_command(pending_rate, plant_pos[0], g, count[g], before[g], running[g],
                              run_mw[g], sleep_mw[g], 1.0, 1.0, latency_ticks[g], sleep_ticks[g],
                              wake_ticks[g], 1, 0.0, raw_mw, rate)
        # 4. the battery acts within the tick (inverters answer in well under a second)
        b = info[INFO_BATTERY_MW]
        if b > 0.0:  # the cells deliver at most what they hold, after losses
            b = min(b, battery_max_discharge_mw(battery[0], dt_h, battery[1]))
        battery[0] += battery_stored_change_mwh(b, dt_h, battery[1])
        out_battery_mw[t] = b
        out_miner_mw[t] = miner_now
        # the plant curtails what can be neither used nor exported
        out_import_mw[t] = within_export_limit_mw(import_mw(ai_mw[t] + miner_now, ren) - b,
                                                  export_limit_mw)
        blk = t // record_every
        for g in range(groups):
            out_group_power_mw[blk, g] += power_mw[g] * inv_rec
        out_reserve_mw[blk, 0] += info[INFO_RESERVE_UP] * inv_rec
        out_reserve_mw[blk, 1] += info[INFO_RESERVE_DOWN] * inv_rec
        phase += 1
        if phase == coarse_every:  # next coarse row (no division per tick)
            phase = 0
            c += 1
