"""The rule stack: small compiled functions, each narrowing the band of allowed miner power.

Priority order (docs/design.md): safety (interconnect import limit, with headroom for the AI's fastest
rise), grid obligations (caps and floors set by programs), smoothing (reserves and a ramp- and
range-limited import plan, ``control/smoothing.py``), the restore ramp (waking miners raise the
campus import no faster than a set MW/min; shedding is never slowed), renewable following, then
economics chooses a point inside the band, and the merit order turns that total into miners per
group. A rule may only narrow what the rules above it left. All powers are facility MW (miner
wall power x cooling PUE); import is positive.

These are numba ``njit`` functions so that one code path serves a 1-s backtest year and a live
tick (the live runtime calls them through ``ballast.control.controller.step``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ballast import numba_cache
from ballast import physics as _physics
from ballast.control import smoothing as _smoothing
from ballast.control.smoothing import (
    INFO_AI_FILTERED,
    INFO_BATTERY_MW,
    INFO_PLAN,
    SP_AI_MAX,
    SP_AI_RISE,
    SP_BATT_E,
    SP_BATT_P,
    SP_FILTER_N,
    SP_MAX_DT,
    SP_MINERS,
    SP_ON,
    SS_LAST_T,
    battery_dispatch,
    commit_plan,
    filter_ai,
    plan_import,
    reserve_band,
)
from ballast.physics import group_power_mw, import_mw, within_export_limit_mw

# inlined helpers live there
numba_cache.drop_stale(__file__, _smoothing.__file__, _physics.__file__)

# Which rule set the final miner total (reported per tick as an int code).
RULE_ECONOMICS = 0
RULE_IMPORT_LIMIT = 1
RULE_OBLIGATION_CAP = 2
RULE_OBLIGATION_FLOOR = 3
RULE_RENEWABLE_ABSORPTION = 4
RULE_SMOOTHING = 5
RULE_RESERVE_UP = 6
RULE_RESERVE_DOWN = 7
RULE_RESTORE_RAMP = 8
RULE_NAMES = ("economics", "import_limit", "obligation_cap", "obligation_floor",
              "renewable_absorption", "smoothing", "reserve_up", "reserve_down", "restore_ramp")

# The restore ramp's memory and parameters, one float64 array (``ControllerState.restore``):
RS_CEILING = 0  # campus import the ramp has reached [MW]; NaN = not seeded yet
RS_RAMP = 1  # restore ramp [MW/s]
RS_LAST_T = 2  # time of the last tick [s]
RS_ON = 3  # 1.0 = ramp on, 0.0 = off
RS_MAX_DT = 4  # longest time step the ramp credits [s] (live: a wall-clock jump earns no ramp)
RS_MINERS = 5  # miner power last commanded [MW]
RS_SIZE = 6


@njit(cache=True, inline="always")
def rule_import_limit(hi_mw, import_limit_mw, margin_mw, ai_load_mw, renewable_mw):
    """Safety: miners may use what is left under the import limit after the AI load.

    NaN-proof (fails closed): a non-finite input leaves no headroom (0 MW), because under numba
    ``min(hi, nan)`` is ``hi`` and a NaN would switch the limit off."""
    room_mw = import_limit_mw - margin_mw + renewable_mw - ai_load_mw
    if not np.isfinite(room_mw) or hi_mw != hi_mw:
        return min(hi_mw, 0.0) if hi_mw == hi_mw else 0.0
    return min(hi_mw, room_mw)


@njit(cache=True, inline="always")
def rule_renewable_floor(lo_mw, ai_load_mw, renewable_mw, export_limit_mw):
    """Green: absorb renewable output that could neither serve the AI load nor be exported."""
    return max(lo_mw, renewable_mw - ai_load_mw - export_limit_mw)


@njit(cache=True, inline="always")
def restore_allowance_mw(restore, time_s, ai_load_mw, renewable_mw):
    """Most miner power the restore ramp allows now [MW] (``inf`` when off).

    The ramp limits how fast the miners raise campus *import*: miners may bring the import up
    to the ceiling it had reached, plus ramp x time since the last tick. It never asks for less
    than the miner power last commanded, so it sheds nothing: AI and renewable swings move the
    import on their own, and miners filling in for an AI drop only hold the import where it
    was (the ceiling is the import after each decision, ``restore_commit``). Unseeded
    (NaN ceiling): hold the last command. NaN-proof: an unknown last command allows 0 MW."""
    if restore[RS_ON] <= 0.0:
        return np.inf
    prev_mw = restore[RS_MINERS]
    if prev_mw != prev_mw:
        return 0.0
    ceiling_mw = restore[RS_CEILING]
    if ceiling_mw != ceiling_mw:
        return prev_mw
    dt_s = min(max(time_s - restore[RS_LAST_T], 0.0), restore[RS_MAX_DT])
    room_mw = ceiling_mw + restore[RS_RAMP] * dt_s - (ai_load_mw - renewable_mw)
    return max(prev_mw, room_mw) if room_mw == room_mw else prev_mw


@njit(cache=True, inline="always")
def rule_restore_ramp(hi_mw, lo_mw, allowance_mw):
    """Restore ("ramp and hold"): the upper bound no higher than the ramp allows, and never
    below the floor the rules above it set (grid obligations, smoothing reserves)."""
    return max(lo_mw, min(hi_mw, allowance_mw))


@njit(cache=True, inline="always")
def restore_commit(restore, time_s, import_mw, miner_mw):
    """After a decision: the ceiling becomes the import it plans (AI + miners - renewables,
    [MW]), and the miner power commanded is remembered. Shedding lowers both at once, so the
    next wake-up ramps from where the import really is."""
    if restore[RS_ON] > 0.0:
        restore[RS_CEILING] = import_mw
        restore[RS_MINERS] = miner_mw
        restore[RS_LAST_T] = time_s


@njit(cache=True)
def restore_changed_decision(want_mw, hi_free_mw, lo_mw, total_mw, econ_on, count, run_mw,
                             sleep_mw, merit):
    """Whether the restore ramp changed the decision: the merit order's total for the target
    ``want_mw`` clipped to the band without the ramp's bound beats ``total_mw`` (whole miners
    can make a slightly tighter bound give the same total). Called only on ticks where the
    ramp's bound clipped the target."""
    free_mw = hi_free_mw if not want_mw <= hi_free_mw else max(want_mw, lo_mw)
    wish = np.empty(count.shape[0], np.int64)
    for g in range(count.shape[0]):
        wish[g] = count[g] if econ_on[g] else 0
    free_total = allocate_merit_order(free_mw, wish, count, run_mw, sleep_mw, merit, wish)
    return free_total > total_mw + 1e-9


@njit(cache=True, inline="always")
def update_economic_state_hp(econ_on, last_change_s, time_s, price_usd_per_mwh,
                             hashprice_usd_per_ph_day, value_mw_per_hashprice,
                             deadband_usd_per_mwh, min_on_s, min_off_s, economic_dispatch):
    """Hysteresis per group: start below breakeven - deadband, stop above breakeven + deadband,
    and only after the minimum on/off time since the last switch. Each breakeven [USD/MWh] is
    hashprice x ``value_mw_per_hashprice[g]``, computed in place (no per-tick array, for the 1-s
    year). Updates ``econ_on`` and ``last_change_s`` in place."""
    for g in range(econ_on.shape[0]):
        breakeven = hashprice_usd_per_ph_day * value_mw_per_hashprice[g]
        if not economic_dispatch:
            want = True
        elif econ_on[g]:
            want = price_usd_per_mwh <= breakeven + deadband_usd_per_mwh[g]
        else:
            want = price_usd_per_mwh < breakeven - deadband_usd_per_mwh[g]
        if want != econ_on[g]:
            held_s = time_s - last_change_s[g]
            if ((econ_on[g] and held_s >= min_on_s[g])
                    or (not econ_on[g] and held_s >= min_off_s[g])):
                econ_on[g] = want
                last_change_s[g] = time_s


@njit(cache=True, inline="always")
def allocate_merit_order(target_mw, desired_running, count, run_mw, sleep_mw, merit, running_out):
    """Turn a miner power target into whole miners per group.

    Starts from the economic wish ``desired_running``; sheds the least efficient miners first
    when above target, adds the most efficient sleeping miners first when below it (Foundry's
    practice; docs/sources.md#merit-order-practice). Never exceeds the target (floors to whole miners),
    except that sleeping miners still draw ``sleep_mw``. Returns the resulting total [MW].
    """
    n = count.shape[0]
    total = 0.0
    for g in range(n):
        running_out[g] = desired_running[g]
        total += group_power_mw(desired_running[g], count[g], run_mw[g], sleep_mw[g])
    if total > target_mw:
        for k in range(n - 1, -1, -1):  # least efficient first
            g = merit[k]
            if total <= target_mw:
                break
            step = run_mw[g] - sleep_mw[g]
            if step <= 0 or running_out[g] == 0:
                continue
            excess = total - target_mw
            if running_out[g] * step <= excess:  # the whole group goes (no division)
                shed = running_out[g]
            else:
                shed = min(running_out[g], int(np.ceil(excess / step - 1e-9)))
            running_out[g] -= shed
            total -= shed * step
    elif total < target_mw:
        for k in range(n):  # most efficient first
            g = merit[k]
            step = run_mw[g] - sleep_mw[g]
            room = target_mw - total
            if room < step:
                continue
            free = count[g] - running_out[g]
            if free * step <= room:  # the whole group fits (no division)
                add = free
            else:
                add = min(free, int(np.floor(room / step + 1e-9)))
            running_out[g] += add
            total += add * step
    return total


@njit(cache=True, inline="always")
def control_tick_full(time_s, price_usd_per_mwh, hashprice_usd_per_ph_day, ai_load_mw,
                      renewable_mw, cap_mw, floor_mw,
                      import_limit_mw, export_limit_mw, margin_mw, economic_dispatch,
                      absorb_renewables, count, run_mw, sleep_mw, value_mw_per_hashprice,
                      deadband_usd_per_mwh, min_on_s, min_off_s, merit,
                      econ_on, last_change_s, running,
                      sp, ss, ai_buf, miner_measured_mw, battery_soc_mwh, info, restore):
    """One control cycle on a frozen snapshot. Updates the state arrays ``econ_on``,
    ``last_change_s``, ``running`` (commanded miners awake per group), ``ss`` and ``ai_buf``
    (smoothing memory) in place; writes reserves, battery power [MW, discharge positive] and the
    import plan into ``info``; returns (commanded miner total [MW], rule code).

    ``value_mw_per_hashprice[g]`` converts hashprice [USD/PH/day] into the group's breakeven
    power price [USD/MWh] (pool fee and cooling included). ``sp`` holds the smoothing
    parameters (``SmoothingConfig.as_array``); ``miner_measured_mw`` is the metered miner power
    (NaN: use the commanded total), ``battery_soc_mwh`` the battery's state of charge.
    ``restore`` (``RS_*``) is the restore ramp's parameters and memory, updated in place.
    """
    n = count.shape[0]
    update_economic_state_hp(econ_on, last_change_s, time_s, price_usd_per_mwh,
                             hashprice_usd_per_ph_day, value_mw_per_hashprice,
                             deadband_usd_per_mwh, min_on_s, min_off_s, economic_dispatch)
    # the economic wish is written into ``running`` (no allocation); the merit order then
    # moves it to the target
    desired_mw = 0.0
    full_mw = 0.0
    sleep_all_mw = 0.0
    for g in range(n):
        running[g] = count[g] if econ_on[g] else 0
        desired_mw += group_power_mw(running[g], count[g], run_mw[g], sleep_mw[g])
        full_mw += group_power_mw(count[g], count[g], run_mw[g], sleep_mw[g])
        sleep_all_mw += group_power_mw(0, count[g], run_mw[g], sleep_mw[g])
    if not (np.isfinite(ai_load_mw) and np.isfinite(renewable_mw)) or cap_mw != cap_mw:
        # Blind (a NaN or infinite measurement or cap): no headroom, every miner asleep; the
        # smoothing memory is left untouched so one bad value cannot poison later ticks.
        info[INFO_AI_FILTERED] = ai_load_mw
        info[INFO_PLAN] = np.nan
        total = allocate_merit_order(0.0, running, count, run_mw, sleep_mw, merit, running)
        restore_commit(restore, time_s, np.nan, total)  # import unknown: ramp anew from here
        return total, RULE_IMPORT_LIMIT
    smoothing = sp[SP_ON] > 0.0
    miners_smooth = smoothing and sp[SP_MINERS] > 0.0
    # the step since the last tick, never negative nor longer than SP_MAX_DT (a clock jump)
    dt_s = min(max(time_s - ss[SS_LAST_T], 0.0), sp[SP_MAX_DT]) if ss[SS_LAST_T] != 0.0 else 0.0
    ai_f = filter_ai(ss, ai_buf, ai_load_mw, sp[SP_FILTER_N]) if smoothing else ai_load_mw
    info[INFO_AI_FILTERED] = ai_f

    # Band of allowed miner power, narrowed in priority order.
    # Safety: keep room for the AI's fastest rise while miners are still shedding.
    ai_ceiling = ai_load_mw
    if sp[SP_AI_RISE] > 0.0:
        ai_ceiling = max(ai_load_mw, min(ai_load_mw + sp[SP_AI_RISE], sp[SP_AI_MAX]))
    hi = rule_import_limit(np.inf, import_limit_mw, margin_mw, ai_ceiling, renewable_mw)
    hi_rule = RULE_IMPORT_LIMIT
    if cap_mw < hi:
        hi = cap_mw
        hi_rule = RULE_OBLIGATION_CAP
    lo = floor_mw
    lo_rule = RULE_OBLIGATION_FLOOR
    if lo > hi:
        lo = hi  # safety and caps win over floors
    if miners_smooth:
        lo2, hi2, _which = reserve_band(lo, hi, sp, ai_f, full_mw, sleep_all_mw, info)
        if hi2 < hi:
            hi = hi2
            hi_rule = RULE_RESERVE_UP
        if lo2 > lo:
            lo = lo2
            lo_rule = RULE_RESERVE_DOWN
    hi_free, hi_rule_free = hi, hi_rule  # the upper bound without the restore ramp
    if restore[RS_ON] > 0.0:  # waking miners raises the import no faster than the ramp
        hi2 = rule_restore_ramp(hi, lo, restore_allowance_mw(restore, time_s, ai_load_mw,
                                                             renewable_mw))
        if hi2 < hi:
            hi = hi2
            hi_rule = RULE_RESTORE_RAMP
    if absorb_renewables:
        lo2 = rule_renewable_floor(lo, ai_load_mw, renewable_mw, export_limit_mw)
        if lo2 > lo:
            lo = min(lo2, hi)
            lo_rule = RULE_RENEWABLE_ABSORPTION

    target = desired_mw
    rule = RULE_ECONOMICS
    plan = 0.0
    if smoothing:
        wish = min(max(desired_mw, lo), hi)
        plan = plan_import(ss, sp, ai_f + wish - renewable_mw, dt_s)
        smooth_mw = plan - ai_f + renewable_mw
        if miners_smooth and abs(smooth_mw - desired_mw) > 1e-9:
            target = smooth_mw
            rule = RULE_SMOOTHING
    want, want_rule = target, rule
    if not target <= hi:  # NaN-proof: a NaN target takes the upper bound
        target = hi
        rule = hi_rule
    elif target < lo:
        target = lo
        rule = lo_rule
    total = allocate_merit_order(target, running, count, run_mw, sleep_mw, merit, running)
    # unguarded by RS_ON (restore_commit checks it): measured faster on a 1-s week of 20 groups,
    # 0.225 s against 0.232 s with the ramp on, equal with it off
    bound_mw = hi if rule == hi_rule else np.nan  # the upper bound that set the total
    if rule == RULE_RESTORE_RAMP and not restore_changed_decision(
            want, hi_free, lo, total, econ_on, count, run_mw, sleep_mw, merit):
        # whole miners: without the ramp the total is the same, so the rule below it binds
        bound_mw = np.nan
        rule = want_rule
        if not want <= hi_free:
            bound_mw = hi_free
            rule = hi_rule_free
        elif want < lo:
            rule = lo_rule
    # The restore ceiling: the import this decision makes, or, when an upper bound set the
    # total, the import at that bound. Whole miners fall short of a bound by up to one miner;
    # were that shortfall the ceiling, a ramp smaller than one miner per tick would never wake
    # one, and at the import limit the ramp would seem to bind every tick. So while the ramp
    # binds the import follows its line within one miner and never rises above it.
    reached_mw = max(total, bound_mw) if bound_mw == bound_mw else total
    restore_commit(restore, time_s, within_export_limit_mw(
        import_mw(ai_load_mw + reached_mw, renewable_mw), export_limit_mw), total)
    plan_mw = ai_f + total - renewable_mw  # what the miners make achievable
    if smoothing and sp[SP_BATT_P] > 0.0 and sp[SP_BATT_E] > 0.0:
        # the battery can hold the plan up to its power away from what the miners achieve
        plan_mw = min(max(plan, plan_mw - sp[SP_BATT_P]), plan_mw + sp[SP_BATT_P])
    if smoothing:
        commit_plan(ss, sp, plan_mw, time_s, dt_s)
    else:
        ss[SS_LAST_T] = time_s
    info[INFO_PLAN] = plan_mw
    measured = total if np.isnan(miner_measured_mw) else miner_measured_mw
    grid_mw = ai_load_mw + measured - renewable_mw
    residual = grid_mw - plan_mw if smoothing else 0.0
    info[INFO_BATTERY_MW] = battery_dispatch(sp, residual, grid_mw - (import_limit_mw - margin_mw),
                                             battery_soc_mwh, dt_s if dt_s > 0.0 else 1.0)
    return total, rule
