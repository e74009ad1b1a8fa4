"""The rules' arithmetic: small compiled functions for the rule stack (``control/stack.py``).

The stack itself, its order, is in ``stack.py`` and each rule as a function of one shape in
``stack_rules.py`` (docs/design.md, "The rule stack"); here are the pieces of arithmetic they and
their tests use: the import-limit room, the renewable floor, the restore ramp's allowance and
memory, the economic hysteresis per group and the merit order that turns a miner total into whole
miners per group.
All powers are facility MW (miner wall power x cooling PUE); import is positive.

These are numba ``njit`` functions so that one code path serves a 1-s backtest year and a live
tick (the live runtime calls them through ``ballast.control.controller.step``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ballast import numba_cache
from ballast import physics as _physics
from ballast.control.records import RS_CEILING as RS_CEILING  # field positions, for live
from ballast.control.records import RS_LAST_T as RS_LAST_T
from ballast.control.records import RS_MAX_DT as RS_MAX_DT
from ballast.control.records import RS_MINERS as RS_MINERS
from ballast.control.records import RS_ON as RS_ON
from ballast.control.records import RS_RAMP as RS_RAMP
from ballast.control.records import RS_SIZE as RS_SIZE
from ballast.control.records import Groups
from ballast.physics import group_power_mw

# inlined helpers live there
numba_cache.drop_stale(__file__, _physics.__file__)  # records.py holds no compiled code

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
def restore_allowance_mw(rs, time_s, ai_load_mw, renewable_mw):
    """Most miner power the restore ramp allows now [MW] (``inf`` when off); ``rs`` is the
    restore record (``records.RESTORE_DTYPE``).

    The ramp limits how fast the miners raise campus *import*: miners may bring the import up
    to the ceiling it had reached, plus ramp x time since the last tick. It never asks for less
    than the miner power last commanded, so it sheds nothing: AI and renewable swings move the
    import on their own, and miners filling in for an AI drop only hold the import where it
    was (the ceiling is the import after each decision, ``restore_commit``). Unseeded
    (NaN ceiling): hold the last command. NaN-proof: an unknown last command allows 0 MW."""
    if rs.on <= 0.0:
        return np.inf
    prev_mw = rs.miners_mw
    if prev_mw != prev_mw:
        return 0.0
    ceiling_mw = rs.ceiling_mw
    if ceiling_mw != ceiling_mw:
        return prev_mw
    dt_s = min(max(time_s - rs.last_time_s, 0.0), rs.max_step_s)
    room_mw = ceiling_mw + rs.ramp_mw_per_s * dt_s - (ai_load_mw - renewable_mw)
    return max(prev_mw, room_mw) if room_mw == room_mw else prev_mw


@njit(cache=True, inline="always")
def rule_restore_ramp(hi_mw, lo_mw, allowance_mw):
    """Restore ("ramp and hold"): the upper bound no higher than the ramp allows, and never
    below the floor the rules above it set (grid obligations, smoothing reserves)."""
    return max(lo_mw, min(hi_mw, allowance_mw))


@njit(cache=True, inline="always")
def restore_commit(rs, time_s, import_mw, miner_mw):
    """After a decision: the ceiling becomes the import it plans (AI + miners - renewables,
    [MW]), and the miner power commanded is remembered. Shedding lowers both at once, so the
    next wake-up ramps from where the import really is."""
    if rs.on > 0.0:
        rs.ceiling_mw = import_mw
        rs.miners_mw = miner_mw
        rs.last_time_s = time_s


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
    year). Updates ``econ_on`` and ``last_change_s`` in place. Returns whether a group still
    wants to switch (held by its minimum on/off time): if not, the same price and hashprice
    change nothing on a later tick, and a caller may skip the update until they move."""
    waiting = False
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
            else:
                waiting = True
    return waiting


@njit(cache=True, inline="always")
def allocate_merit_order(target_mw, desired_running, count, run_mw, sleep_mw, merit, running_out):
    """Turn a miner power target into whole miners per group.

    Starts from the economic wish ``desired_running``; sheds the least efficient miners first
    when above target, adds the most efficient sleeping miners first when below it (Foundry's
    practice; docs/sources.md#merit-order-practice). Never exceeds the target (floors to whole miners),
    except that sleeping miners still draw ``sleep_mw``. Returns the resulting total [MW].
    """
    total = 0.0
    for g in range(count.shape[0]):
        running_out[g] = desired_running[g]
        total += group_power_mw(desired_running[g], count[g], run_mw[g], sleep_mw[g])
    return merit_order_from(target_mw, total, count, run_mw, sleep_mw, merit, running_out)


@njit(cache=True, inline="always")
def merit_order_from(target_mw, total_mw, count, run_mw, sleep_mw, merit, running):
    """``allocate_merit_order`` from miners ``running`` per group (moved in place) that draw
    ``total_mw`` [MW] in all (the caller has summed them: the 1-s loop saves a pass over the
    groups per tick)."""
    n = count.shape[0]
    total = total_mw
    running_out = running
    if total > target_mw:
        total = shed_from(n - 1, target_mw, total, run_mw, sleep_mw, merit, running_out)
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
def shed_from(k0, target_mw, total_mw, run_mw, sleep_mw, merit, running):
    """The merit order's shedding (``merit_order_from`` above the target): miners ``running``
    per group (moved in place) drawing ``total_mw`` [MW] shed, least efficient first, from merit
    position ``k0`` down, until the total is at most ``target_mw``; returns the total [MW]."""
    total = total_mw
    for k in range(k0, -1, -1):  # least efficient first
        g = merit[k]
        if total <= target_mw:
            break
        step = run_mw[g] - sleep_mw[g]
        if step <= 0 or running[g] == 0:
            continue
        excess = total - target_mw
        if running[g] * step <= excess:  # the whole group goes (no division)
            shed = running[g]
        else:
            shed = min(running[g], int(np.ceil(excess / step - 1e-9)))
        running[g] -= shed
        total -= shed * step
    return total


@njit(cache=True)
def fleet_bounds_mw(count, run_mw, sleep_mw):
    """(all running, all asleep) power of the fleet [MW], summed group by group in order."""
    full_mw = 0.0
    sleep_all_mw = 0.0
    for g in range(count.shape[0]):
        full_mw += group_power_mw(count[g], count[g], run_mw[g], sleep_mw[g])
        sleep_all_mw += group_power_mw(0, count[g], run_mw[g], sleep_mw[g])
    return full_mw, sleep_all_mw


def group_columns(count, run_mw, sleep_mw, breakeven_per_hashprice, deadband_usd_per_mwh,
                  min_on_s, min_off_s, merit) -> Groups:
    """The per-group parameters as the rule stack takes them (``records.Groups``)."""
    full_mw, sleep_all_mw = fleet_bounds_mw(count, run_mw, sleep_mw)
    return Groups(count, run_mw, sleep_mw, breakeven_per_hashprice, deadband_usd_per_mwh,
                  min_on_s, min_off_s, merit, full_mw, sleep_all_mw)
