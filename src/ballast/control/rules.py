"""The rule stack: small compiled functions, each narrowing the band of allowed miner power.

Priority order (DESIGN.md): safety (interconnect import limit), grid obligations (caps and floors
set by programs), renewable following, then economics chooses a point inside the band, and the
merit order turns that total into miners per group. A rule may only narrow what the rules above
it left. All powers are facility MW (miner wall power x cooling PUE); import is positive.

These are numba ``njit`` functions so that one code path serves a 1-s backtest year and a live
tick (the live runtime calls them through ``ballast.control.controller.step``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Which rule set the final miner total (reported per tick as an int code).
RULE_ECONOMICS = 0
RULE_IMPORT_LIMIT = 1
RULE_OBLIGATION_CAP = 2
RULE_OBLIGATION_FLOOR = 3
RULE_RENEWABLE_ABSORPTION = 4
RULE_NAMES = ("economics", "import_limit", "obligation_cap", "obligation_floor",
              "renewable_absorption")


@njit(cache=True)
def rule_import_limit(hi_mw, import_limit_mw, margin_mw, ai_load_mw, renewable_mw):
    """Safety: miners may use what is left under the import limit after the AI load."""
    return min(hi_mw, import_limit_mw - margin_mw + renewable_mw - ai_load_mw)


@njit(cache=True)
def rule_renewable_floor(lo_mw, ai_load_mw, renewable_mw, export_limit_mw):
    """Green: absorb renewable output that could neither serve the AI load nor be exported."""
    return max(lo_mw, renewable_mw - ai_load_mw - export_limit_mw)


@njit(cache=True)
def update_economic_state(econ_on, last_change_s, time_s, price_usd_per_mwh, breakeven_usd_per_mwh,
                          deadband_usd_per_mwh, min_on_s, min_off_s, economic_dispatch):
    """Hysteresis per group: start below breakeven - deadband, stop above breakeven + deadband,
    and only after the minimum on/off time since the last switch. Updates arrays in place."""
    for g in range(econ_on.shape[0]):
        if not economic_dispatch:
            want = True
        elif econ_on[g]:
            want = price_usd_per_mwh <= breakeven_usd_per_mwh[g] + deadband_usd_per_mwh[g]
        else:
            want = price_usd_per_mwh < breakeven_usd_per_mwh[g] - deadband_usd_per_mwh[g]
        if want != econ_on[g]:
            held_s = time_s - last_change_s[g]
            if (econ_on[g] and held_s >= min_on_s[g]) or (not econ_on[g] and held_s >= min_off_s[g]):
                econ_on[g] = want
                last_change_s[g] = time_s


@njit(cache=True)
def allocate_merit_order(target_mw, desired_running, count, run_mw, sleep_mw, merit, running_out):
    """Turn a miner power target into whole miners per group.

    Starts from the economic wish ``desired_running``; sheds the least efficient miners first
    when above target, adds the most efficient sleeping miners first when below it (Foundry's
    practice, REFERENCE.md). Never exceeds the target (floors to whole miners), except that
    sleeping miners still draw ``sleep_mw``. Returns the resulting total [MW].
    """
    n = count.shape[0]
    total = 0.0
    for g in range(n):
        running_out[g] = desired_running[g]
        total += desired_running[g] * run_mw[g] + (count[g] - desired_running[g]) * sleep_mw[g]
    if total > target_mw:
        for k in range(n - 1, -1, -1):  # least efficient first
            g = merit[k]
            if total <= target_mw:
                break
            step = run_mw[g] - sleep_mw[g]
            if step <= 0 or running_out[g] == 0:
                continue
            excess = total - target_mw
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
            add = min(count[g] - running_out[g], int(np.floor(room / step + 1e-9)))
            running_out[g] += add
            total += add * step
    return total


@njit(cache=True)
def control_tick(time_s, price_usd_per_mwh, hashprice_usd_per_ph_day, ai_load_mw, renewable_mw,
                 cap_mw, floor_mw,
                 import_limit_mw, export_limit_mw, margin_mw, economic_dispatch,
                 absorb_renewables, count, run_mw, sleep_mw, value_mw_per_hashprice,
                 deadband_usd_per_mwh, min_on_s, min_off_s, merit,
                 econ_on, last_change_s, running):
    """One control cycle on a frozen snapshot. Updates the state arrays ``econ_on``,
    ``last_change_s`` and ``running`` in place; returns (miner total [MW], rule code).

    ``value_mw_per_hashprice[g]`` converts hashprice [USD/PH/day] into the group's breakeven
    power price [USD/MWh] (pool fee and cooling included).
    """
    n = count.shape[0]
    breakeven = np.empty(n)
    for g in range(n):
        breakeven[g] = hashprice_usd_per_ph_day * value_mw_per_hashprice[g]
    update_economic_state(econ_on, last_change_s, time_s, price_usd_per_mwh, breakeven,
                          deadband_usd_per_mwh, min_on_s, min_off_s, economic_dispatch)
    desired = np.empty(n, dtype=np.int64)
    desired_mw = 0.0
    for g in range(n):
        desired[g] = count[g] if econ_on[g] else 0
        desired_mw += desired[g] * run_mw[g] + (count[g] - desired[g]) * sleep_mw[g]

    # Band of allowed miner power, narrowed in priority order.
    hi = rule_import_limit(np.inf, import_limit_mw, margin_mw, ai_load_mw, renewable_mw)
    hi_rule = RULE_IMPORT_LIMIT
    if cap_mw < hi:
        hi = cap_mw
        hi_rule = RULE_OBLIGATION_CAP
    lo = floor_mw
    lo_rule = RULE_OBLIGATION_FLOOR
    if absorb_renewables:
        lo2 = rule_renewable_floor(lo, ai_load_mw, renewable_mw, export_limit_mw)
        if lo2 > lo:
            lo = lo2
            lo_rule = RULE_RENEWABLE_ABSORPTION
    if lo > hi:
        lo = hi  # safety and caps win over floors

    target = desired_mw
    rule = RULE_ECONOMICS
    if target > hi:
        target = hi
        rule = hi_rule
    elif target < lo:
        target = lo
        rule = lo_rule
    total = allocate_merit_order(target, desired, count, run_mw, sleep_mw, merit, running)
    return total, rule
