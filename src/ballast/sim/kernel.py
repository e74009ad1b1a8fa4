"""The compiled backtest loops: ``run_ticks`` runs ``control_tick_full`` (smoothing off) over a
horizon (miners follow commands at once); ``run_plant_ticks`` runs ``control_tick_full``
against the miner plant model (latency, sleep/wake ramps) and a battery, for 1-s and sub-second
runs.

Hand-written loop because the controller carries state (hysteresis) from tick to tick, which no
vectorised library call expresses; numba compiles it (a 1-min year is ~0.5 M ticks).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from ballast import nrt_borrow as _nrt_borrow
from ballast import numba_cache
from ballast import physics as _physics
from ballast.control import records as _records
from ballast.control import rules as _rules
from ballast.control import smoothing as _smoothing
from ballast.control import stack as _stack
from ballast.control import stack_rules as _stack_rules
from ballast.control.records import INFO_DTYPE, PARAMS_DTYPE, SS_SIZE, Groups, Snap
from ballast.control.rules import group_columns
from ballast.control.stack import (
    control_tick_from_wish,
    control_tick_full,
    economic_wish,
    memory_records,
    update_economics,
)
from ballast.models import miner_dynamics as _plant
from ballast.models.miner_dynamics import plant_advance, plant_command
from ballast.nrt_borrow import borrow
from ballast.physics import (
    battery_max_discharge_mw,
    battery_stored_change_mwh,
    group_power_mw,
    import_mw,
    within_export_limit_mw,
)

# the kernels inline the rule stack and the plant: recompile when those files change
numba_cache.drop_stale(__file__, _rules.__file__, _smoothing.__file__, _stack.__file__,
                       _stack_rules.__file__, _records.__file__, _plant.__file__, _physics.__file__,
                       _nrt_borrow.__file__)

# The fine run's clock: start [s], step [s], this chunk's first global tick, ticks per coarse row.
Clock = namedtuple("Clock", ["t0_s", "dt_s", "tick0", "coarse_every"])
# Coarse inputs (one row per ``coarse_every`` ticks) and the fine AI load [MW] per tick (float32
# as ``sim.fine_ai`` makes it, or float64).
Inputs = namedtuple("Inputs", ["price_usd_per_mwh", "hashprice_usd_per_ph_day", "renewable_mw",
                               "cap_mw", "floor_mw", "ai_mw"])
# The miner plant (``models.miner_dynamics``): ring buffer of pending rate changes (slot, group:
# slot-major, so a tick reads one contiguous row), its position
# (1-element array), ramp rates, superposed and clipped power per group [MW], and the latency,
# sleep and wake times in ticks per group.
Plant = namedtuple("Plant", ["pending_rate", "pos", "rate", "raw_mw", "power_mw",
                             "latency_ticks", "sleep_ticks", "wake_ticks"])
# Per tick: import, miner and battery power [MW] (float32) and binding rule (int8); per block of
# ``record_every`` ticks: mean group power and reserves (up, down) [MW]; ticks per rule.
Outputs = namedtuple("Outputs", ["import_mw", "miner_mw", "battery_mw", "rule",
                                 "group_power_mw", "reserve_mw", "rule_ticks", "record_every"])


@njit(cache=True, inline="always")
def borrowed_groups(grp):
    """``grp`` (``records.Groups``) with its arrays as borrowed views (``nrt_borrow.borrow``).

    The inlined stack hands the groups' and the memory's arrays on through named tuples, and
    numba's reference counts on them (about 30 atomic adds per tick that its pruning left)
    become null checks. A 1-s two days: 124.5 vs 154 ns of CPU per tick (best of 15, shared
    machine); the same views of the plant's, inputs' and outputs' arrays, and of the 1-s loop's
    ``before`` and ``wish``, gained nothing measurable and were not kept. The views live only
    inside a kernel, while its caller holds the arrays.
    """
    return Groups(borrow(grp.count), borrow(grp.run_mw), borrow(grp.sleep_mw),
                  borrow(grp.breakeven_per_hashprice), borrow(grp.deadband_usd_per_mwh),
                  borrow(grp.min_on_s), borrow(grp.min_off_s), borrow(grp.merit), grp.full_mw,
                  grp.sleep_all_mw)


@njit(cache=True, inline="always")
def borrowed_memory(mem):
    """The controller's memory as a plain tuple (``stack.memory_records``), its arrays as
    borrowed views (see ``borrowed_groups``)."""
    econ_on, last_change_s, running, smooth, ai_buf, restore = mem
    return (borrow(econ_on), borrow(last_change_s), borrow(running), borrow(smooth),
            borrow(ai_buf), borrow(restore))


def backtest_params(import_limit_mw: float, export_limit_mw: float, margin_mw: float,
                    economic_dispatch: bool, absorb_renewables: bool) -> np.ndarray:
    """The parameter record of the backtest's rule stack, smoothing off (a 1-element array:
    numba dispatches a record array fast, a record scalar slowly)."""
    params = np.zeros(1, PARAMS_DTYPE)
    p = params[0]
    p["import_limit_mw"], p["export_limit_mw"] = import_limit_mw, export_limit_mw
    p["import_margin_mw"] = margin_mw
    p["economic_dispatch"], p["absorb_renewables"] = economic_dispatch, absorb_renewables
    p["ai_max_mw"] = np.inf
    p["smoothing_max_step_s"] = np.inf
    p["ai_filter_ticks"] = 1
    return params


def run_ticks(time_s, price, hashprice, ai_load_mw, renewable_mw, cap_mw, floor_mw,
              import_limit_mw, export_limit_mw, margin_mw, economic_dispatch, absorb_renewables,
              count, run_mw, sleep_mw, value_mw_per_hashprice, deadband, min_on_s, min_off_s,
              merit, econ_on, last_change_s, running, record_every,
              out_miner_mw, out_rule, out_running_mean, restore):
    """Run ticks [0, n); write the miner total [MW] and binding rule per tick, and the mean
    running miners per group per block of ``record_every`` ticks. State arrays (``restore``:
    the restore ramp, ``records.RESTORE_DTYPE`` as float64) are updated in place, so
    consecutive chunks continue where the last one stopped. (The engine's call; it packs the
    arguments into the stack's structures for ``run_ticks_records``.)"""
    p = backtest_params(import_limit_mw, export_limit_mw, margin_mw, economic_dispatch,
                        absorb_renewables)
    grp = group_columns(count, run_mw, sleep_mw, value_mw_per_hashprice, deadband, min_on_s,
                        min_off_s, merit)
    mem = (econ_on, last_change_s, running, np.zeros(SS_SIZE), np.zeros(1), restore)
    run_ticks_records(p, tuple(grp), mem, time_s, price, hashprice, ai_load_mw, renewable_mw,
                      cap_mw, floor_mw, record_every, out_miner_mw, out_rule, out_running_mean,
                      np.zeros(1, INFO_DTYPE))


@njit(cache=True)
def run_ticks_records(params, groups, mem, time_s, price, hashprice, ai_load_mw, renewable_mw,
                      cap_mw, floor_mw, record_every, out_miner_mw, out_rule, out_running_mean,
                      info_rec):
    """``run_ticks`` on the stack's structures: ``params`` the parameter record array,
    ``groups`` and ``mem`` plain tuples in the order of ``records.Groups`` and
    ``records.State`` (``stack.memory_records``), ``info_rec`` a 1-element
    ``records.INFO_DTYPE`` array the caller keeps (see ``run_plant_ticks``)."""
    p = params[0]
    grp = borrowed_groups(Groups(*groups))  # borrowed views: see ``borrowed_groups``
    st = memory_records(borrowed_memory(mem))
    n = time_s.shape[0]
    groups = grp.count.shape[0]
    info = info_rec[0]
    running = st.running
    for t in range(n):
        total, rule = control_tick_full(p, grp, st, Snap(
            time_s[t], price[t], hashprice[t], ai_load_mw[t], renewable_mw[t], cap_mw[t],
            floor_mw[t], np.nan, 0.0), info)
        out_miner_mw[t] = total
        out_rule[t] = rule
        b = t // record_every
        for g in range(groups):
            out_running_mean[b, g] += running[g] / record_every


@njit(cache=True, nogil=True)
def run_plant_ticks(clock, inputs, params, grp, mem, plant, battery, out, info_rec):
    """Ticks [0, n) of a fine-resolution run: controller (``control_tick_full``, the live code
    path) -> miner plant (latency, sleep/wake ramps) -> battery -> campus import.

    Coarse inputs (price, hashprice, renewables, caps, floors) hold for ``clock.coarse_every``
    ticks; tick ``t`` of this chunk is global tick ``clock.tick0 + t`` and reads coarse row
    ``(tick0 + t) // coarse_every - tick0 // coarse_every``. ``inputs.ai_mw`` is the fine AI
    load [MW]. State (controller ``st``, ``plant``, ``battery`` = [state of charge MWh, one-way
    efficiency]) carries over between chunks. Writes ``out`` (``Outputs``). ``params`` is the
    parameter record array, ``grp`` a ``records.Groups``, ``mem`` the controller's memory as a
    plain tuple (``stack.memory_records``), ``info_rec`` a 1-element ``records.INFO_DTYPE``
    array for what each tick reports. The caller keeps it: numba frees an array made here once
    its last use has passed, and a record taken from it (``np.zeros(1, INFO_DTYPE)[0]``) does
    not keep it alive, so the tick's reports went to freed memory that the next allocation of
    that size reused (with 5 miner groups the commands' ``before`` array: the loop then differed
    from the plain loop of ``control.step``).
    """
    p = params[0]
    # the groups' and the memory's arrays as borrowed views (``borrowed_groups``: figures there)
    grp = borrowed_groups(grp)
    st = memory_records(borrowed_memory(mem))
    t0_s, dt_s, tick0, coarse_every = clock
    ai_mw = inputs.ai_mw
    count, run_mw, sleep_mw = grp.count, grp.run_mw, grp.sleep_mw
    pending_rate, plant_pos, rate, raw_mw, power_mw = (plant.pending_rate, plant.pos, plant.rate,
                                                       plant.raw_mw, plant.power_mw)
    running = st.running
    record_every = out.record_every
    n = ai_mw.shape[0]
    groups = count.shape[0]
    info = info_rec[0]
    lo = group_power_mw(0, count, run_mw, sleep_mw)  # all asleep
    hi = group_power_mw(count, count, run_mw, sleep_mw)  # all running
    dt_h = dt_s / 3600.0
    inv_rec = 1.0 / record_every
    before = running.copy()  # the plant's last commands (``running`` after the last tick)
    wish = np.empty_like(running)  # the economic wish (``stack.economic_wish``)
    desired_mw = 0.0
    pos = plant_pos[0]
    c = 0
    phase = tick0 % coarse_every  # ticks already spent in the current coarse row
    blk = 0
    in_blk = 0  # ticks already spent in the current record block
    settled = False  # the economic state is current for last_price and last_hashprice
    last_price, last_hashprice = np.nan, np.nan
    for t in range(n):
        # 1. the plant moves to tick t; the meters read it (``plant_advance`` as its own pass:
        # fused with the pass below, or with its per-group step a function of its own and the
        # ring's modulo a compare, a 1-s fortnight took twice the CPU: 0.8 vs 0.4 s)
        pos = plant_advance(pending_rate, pos, rate, raw_mw, power_mw, lo, hi)
        miner_now = 0.0
        for g in range(groups):
            miner_now += power_mw[g]
        ren = inputs.renewable_mw[c]
        ai_now = np.float64(ai_mw[t])  # float32 from the generator (exact in float64)
        # 2. the controller decides on what it measured (``control_tick_full``; the economic
        # update is skipped while price and hashprice hold and no group waits to switch: it
        # would change nothing, so the result is the same bit for bit; the economic wish
        # and its power are recomputed only after an update, for the same reason: a 1-s
        # fortnight 0.30 vs 0.35 s CPU, best of 4, shared machine)
        snap = Snap(t0_s + t * dt_s, inputs.price_usd_per_mwh[c],
                    inputs.hashprice_usd_per_ph_day[c], ai_now, ren, inputs.cap_mw[c],
                    inputs.floor_mw[c], miner_now, battery[0])
        if not (settled and snap.price_usd_per_mwh == last_price
                and snap.hashprice_usd_per_ph_day == last_hashprice):
            settled = not update_economics(p, grp, st, snap)
            last_price, last_hashprice = snap.price_usd_per_mwh, snap.hashprice_usd_per_ph_day
            desired_mw = economic_wish(grp, st.econ_on, wish)
        for g in range(groups):
            running[g] = wish[g]
        _total, rule = control_tick_from_wish(p, grp, st, snap, info, desired_mw)
        out.rule_ticks[rule] += 1
        out.rule[t] = rule
        # 3. commands go to the plant (they act from the next tick, after the latency); the
        # group power measured this tick goes into its record block. ``before`` holds the
        # last commands across ticks (no copy per tick), and one vectorised pass records the
        # power and asks whether any group changed (one tick in twenty on the bench): a 1-s
        # fortnight 188 vs 206 ns per tick best, 218 vs 235 median, against one pass that
        # records and compares per group (9 runs each alternating in one process, shared
        # machine; with the copy per tick and that pass, 264 vs 265 ns, best of 11, earlier)
        block_mw = out.group_power_mw[blk]
        changed = False
        for g in range(groups):
            block_mw[g] += power_mw[g] * inv_rec
            changed |= running[g] != before[g]
        if changed:
            for g in range(groups):
                if running[g] != before[g]:
                    plant_command(pending_rate, pos, g, count[g], before[g], running[g],
                                  run_mw[g], sleep_mw[g], 1.0, 1.0, plant.latency_ticks[g],
                                  plant.sleep_ticks[g], plant.wake_ticks[g], 1, 0.0, raw_mw,
                                  rate)
                    before[g] = running[g]
        # 4. the battery acts within the tick (inverters answer in well under a second)
        b = info.battery_mw
        if b > 0.0:  # the cells deliver at most what they hold, after losses
            b = min(b, battery_max_discharge_mw(battery[0], dt_h, battery[1]))
        battery[0] += battery_stored_change_mwh(b, dt_h, battery[1])
        out.battery_mw[t] = b
        out.miner_mw[t] = miner_now
        # the plant curtails what can be neither used nor exported
        out.import_mw[t] = within_export_limit_mw(import_mw(ai_now + miner_now, ren) - b,
                                                  p.export_limit_mw)
        out.reserve_mw[blk, 0] += info.reserve_up_mw * inv_rec
        out.reserve_mw[blk, 1] += info.reserve_down_mw * inv_rec
        phase += 1
        if phase == coarse_every:  # next coarse row (no division per tick)
            phase = 0
            c += 1
        in_blk += 1
        if in_blk == record_every:  # next record block (no division per tick)
            in_blk = 0
            blk += 1
    plant_pos[0] = pos
