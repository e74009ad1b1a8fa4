"""The rule stack: an ordered list of small compiled rules, each narrowing the band of allowed
miner power, as in OpenEMS's ordered controller list (docs/design.md, "The rule stack").

Every rule has one shape, ``rule(band, p, st, tick) -> band``:

- ``band`` (``records.Band``): the lower and upper bound of miner power [MW] and the rule code
  that set each, the point the economics and smoothing rules want, and a little bookkeeping;
- ``p``: the parameter record (``records.PARAMS_DTYPE``), read only;
- ``st`` (``records.RuleMemory``): the memory's smoothing and restore records; a rule may
  update its own part (the per-group arrays of ``records.State`` stay out: see
  ``control_tick_from_wish``);
- ``tick`` (``records.Tick``): the snapshot with its clock ``time_s`` (injected: the rules never
  read a clock of their own) and what the controller derived from it before the stack.

A rule only narrows what the rules above it left: safety and obligations first, then the
smoothing reserves, the restore ramp and renewable absorption; economics then proposes a point
and smoothing may move it to its import plan; ``control_tick_full`` clips that point to the band,
and the merit order turns it into whole miners per group. The rules themselves are in
``stack_rules.py`` (re-exported here); ``STACK`` below is the order, in one place; ``run_stack``
calls the rules in that order, written out so that numba inlines each into the 1-s loop (a loop
over a tuple of functions was not tried), and a test checks the calls follow ``STACK``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ballast import numba_cache
from ballast import physics as _physics
from ballast.control import records as _records
from ballast.control import rules as _rules
from ballast.control import smoothing as _smoothing
from ballast.control import stack_rules as _stack_rules
from ballast.control.records import RESTORE_DTYPE, SMOOTH_DTYPE, Groups, RuleMemory, Snap, State, Tick
from ballast.control.rules import (
    RULE_ECONOMICS,
    RULE_IMPORT_LIMIT,
    RULE_OBLIGATION_CAP,
    RULE_OBLIGATION_FLOOR,
    RULE_RENEWABLE_ABSORPTION,
    RULE_RESERVE_DOWN,
    RULE_RESERVE_UP,
    RULE_RESTORE_RAMP,
    RULE_SMOOTHING,
    merit_order_from,
    restore_changed_decision,
    restore_commit,
    update_economic_state_hp,
)
from ballast.control.smoothing import battery_dispatch, commit_plan, filter_ai, reserve_sizes_mw
from ballast.control.stack_rules import (  # the rules; callers and tests reach them here too
    economics,
    import_limit,
    obligation_cap,
    obligation_floor,
    open_band,
    renewable_absorption,
    reserve_down,
    reserve_up,
    restore_ramp,
    smoothing,
    with_hi,
    with_lo,
    with_want,
)
from ballast.physics import group_power_mw, import_mw, within_export_limit_mw

__all__ = [
    "STACK",
    "control_tick_decide",
    "control_tick_full",
    "economics",
    "import_limit",
    "memory_records",
    "obligation_cap",
    "obligation_floor",
    "open_band",
    "renewable_absorption",
    "reserve_down",
    "reserve_up",
    "restore_ramp",
    "run_stack",
    "smoothing",
    "step_arrays",
    "update_economics",
    "with_hi",
    "with_lo",
    "with_want",
]

# the stack inlines the rules and their arithmetic: recompile when those files change
_DEPENDENCIES = (_stack_rules, _rules, _smoothing, _records, _physics)
numba_cache.drop_stale(__file__, *(m.__file__ for m in _DEPENDENCIES))


# The order, in one place (code, name, rule); ``control_tick_full`` follows it.
STACK = (
    (RULE_IMPORT_LIMIT, "import_limit", import_limit),
    (RULE_OBLIGATION_CAP, "obligation_cap", obligation_cap),
    (RULE_OBLIGATION_FLOOR, "obligation_floor", obligation_floor),
    (RULE_RESERVE_UP, "reserve_up", reserve_up),
    (RULE_RESERVE_DOWN, "reserve_down", reserve_down),
    (RULE_RESTORE_RAMP, "restore_ramp", restore_ramp),
    (RULE_RENEWABLE_ABSORPTION, "renewable_absorption", renewable_absorption),
    (RULE_ECONOMICS, "economics", economics),
    (RULE_SMOOTHING, "smoothing", smoothing),
)


@njit(cache=True, inline="always")
def run_stack(band, p, st, tick):
    """The rules of ``STACK``, in its order."""
    band = import_limit(band, p, st, tick)
    band = obligation_cap(band, p, st, tick)
    band = obligation_floor(band, p, st, tick)
    band = reserve_up(band, p, st, tick)
    band = reserve_down(band, p, st, tick)
    band = restore_ramp(band, p, st, tick)
    band = renewable_absorption(band, p, st, tick)
    band = economics(band, p, st, tick)
    return smoothing(band, p, st, tick)


# ------------------------------------------------------------------------------ one tick
@njit(cache=True, inline="always")
def update_economics(p, grp, st, snap):
    """The economic hysteresis (``rules.update_economic_state_hp``) for the snapshot's price
    and hashprice; returns whether a group waits on its minimum on/off time."""
    return update_economic_state_hp(
        st.econ_on,
        st.last_change_s,
        snap.time_s,
        snap.price_usd_per_mwh,
        snap.hashprice_usd_per_ph_day,
        grp.breakeven_per_hashprice,
        grp.deadband_usd_per_mwh,
        grp.min_on_s,
        grp.min_off_s,
        p.economic_dispatch,
    )


@njit(cache=True, inline="always")
def control_tick_full(p, grp, st, snap, info):
    """``update_economics`` then ``control_tick_decide``: one control cycle."""
    update_economics(p, grp, st, snap)
    return control_tick_decide(p, grp, st, snap, info)


@njit(cache=True, inline="always")
def economic_wish(grp, econ_on, wish):
    """The economic wish: every miner of a group economics wants running, none of the others
    (written into ``wish``); returns its power [MW], summed group by group in order."""
    count, run_mw, sleep_mw = grp.count, grp.run_mw, grp.sleep_mw
    desired_mw = 0.0
    for g in range(count.shape[0]):
        wish[g] = count[g] if econ_on[g] else 0
        desired_mw += group_power_mw(wish[g], count[g], run_mw[g], sleep_mw[g])
    return desired_mw


@njit(cache=True, inline="always")
def control_tick_decide(p, grp, st, snap, info):
    """One control cycle after the economic update, on a frozen snapshot ``snap``
    (``records.Snap``) with parameters ``p`` (record), groups ``grp`` (``records.Groups``) and
    memory ``st`` (``records.State``, updated in place: ``running`` becomes the miners
    commanded awake per group). Writes reserves,
    battery power [MW, discharge positive], the import plan and the filtered AI into the
    ``info`` record; returns (commanded miner total [MW], rule code)."""
    # the economic wish is written into ``running`` (no allocation); the merit order then
    # moves it to the target
    return control_tick_from_wish(p, grp, st, snap, info, economic_wish(grp, st.econ_on, st.running))


@njit(cache=True, inline="always")
def control_tick_from_wish(p, grp, st, snap, info, desired_mw):
    """``control_tick_decide`` with ``st.running`` already holding the economic wish
    (``economic_wish``) of power ``desired_mw`` [MW]: the 1-s loop computes the wish only when
    the economic state moves (``sim.kernel.run_plant_ticks``). (A table of the wish's
    whole-group sheds for the merit order was removed: it gained nothing measurable; a 1-s two
    days 207-214 ns of CPU per tick without it, 208-217 with it, best of 40 runs in three
    interleaved pairs; the 1-s year 7.1-8.8 s without, 7.5-9.5 s with, best of 2 in five pairs.)"""
    count, run_mw, sleep_mw, merit = grp.count, grp.run_mw, grp.sleep_mw, grp.merit
    # the memory unpacked at once, so the tuple dies here: numba then prunes the references it
    # took to its arrays (11.1 vs 13.1 atomic increfs and 18.8 vs 20.8 decrefs per tick, counted
    # under gdb). With ``RuleMemory`` below, a 1-s two days takes 193-197 ns of CPU per tick
    # against 212-247 before both (best of 40 runs, three pairs interleaved, shared machine).
    econ_on, running, ss, ai_buf, rs = st.econ_on, st.running, st.smooth, st.ai_buf, st.restore
    time_s = snap.time_s
    ai_load_mw = snap.ai_load_mw
    renewable_mw = snap.renewable_mw
    full_mw, sleep_all_mw = grp.full_mw, grp.sleep_all_mw
    if not (np.isfinite(ai_load_mw) and np.isfinite(renewable_mw)) or snap.cap_mw != snap.cap_mw:
        # Blind (a NaN or infinite measurement or cap): no headroom, every miner asleep; the
        # smoothing memory is left untouched so one bad value cannot poison later ticks.
        info.ai_filtered_mw = ai_load_mw
        info.plan_import_mw = np.nan
        total = merit_order_from(0.0, desired_mw, count, run_mw, sleep_mw, merit, running)
        restore_commit(rs, time_s, np.nan, total)  # import unknown: ramp anew from here
        return total, RULE_IMPORT_LIMIT
    smoothing_on = p.smoothing_on
    # the step since the last tick, never negative nor longer than the longest step (a jump)
    dt_s = min(max(time_s - ss.last_time_s, 0.0), p.smoothing_max_step_s) if ss.last_time_s != 0.0 else 0.0
    ai_f = filter_ai(ss, ai_buf, ai_load_mw, p.ai_filter_ticks) if smoothing_on else ai_load_mw
    info.ai_filtered_mw = ai_f
    up_mw, dn_mw = 0.0, 0.0
    if smoothing_on and p.smooth_with_miners:
        up_mw, dn_mw = reserve_sizes_mw(p, ai_f, full_mw, sleep_all_mw)
        info.reserve_up_mw = up_mw
        info.reserve_down_mw = dn_mw
    tick = Tick(
        time_s,
        dt_s,
        ai_load_mw,
        ai_f,
        renewable_mw,
        snap.cap_mw,
        snap.floor_mw,
        desired_mw,
        full_mw,
        sleep_all_mw,
        up_mw,
        dn_mw,
    )
    # The rules see only the memory's records: handed the whole ``State``, each inlined rule
    # took references to its four arrays that numba's reference-count pruning left in place,
    # ten atomic NRT_incref/NRT_decref calls per tick (counted under gdb: 18.1 -> 13.1
    # increfs, 25.8 -> 20.8 decrefs per tick). A 1-s two days: 199-261 vs 208-298 ns of CPU
    # per tick, best of 40 runs, in each of three interleaved pairs (shared machine).
    band = run_stack(open_band(), p, RuleMemory(ss, rs), tick)
    lo, hi = band.lo_mw, band.hi_mw

    target, rule = band.want_mw, band.want_rule
    if not target <= hi:  # NaN-proof: a NaN target takes the upper bound
        target = hi
        rule = band.hi_rule
    elif target < lo:
        target = lo
        rule = band.lo_rule
    total = merit_order_from(target, desired_mw, count, run_mw, sleep_mw, merit, running)
    bound_mw = hi if rule == band.hi_rule else np.nan  # the upper bound that set the total
    if rule == RULE_RESTORE_RAMP and not restore_changed_decision(
        band.want_mw, band.hi_free_mw, lo, total, econ_on, count, run_mw, sleep_mw, merit
    ):
        # whole miners: without the ramp the total is the same, so the rule below it binds
        bound_mw = np.nan
        rule = band.want_rule
        if not band.want_mw <= band.hi_free_mw:
            bound_mw = band.hi_free_mw
            rule = band.hi_free_rule
        elif band.want_mw < lo:
            rule = band.lo_rule
    # The restore ceiling: the import this decision makes, or, when an upper bound set the
    # total, the import at that bound. Whole miners fall short of a bound by up to one miner;
    # were that shortfall the ceiling, a ramp smaller than one miner per tick would never wake
    # one, and at the import limit the ramp would seem to bind every tick. So while the ramp
    # binds the import follows its line within one miner and never rises above it.
    # (Unguarded by the ramp being on, ``restore_commit`` checks it: measured faster.)
    reached_mw = max(total, bound_mw) if bound_mw == bound_mw else total
    restore_commit(
        rs,
        time_s,
        within_export_limit_mw(import_mw(ai_load_mw + reached_mw, renewable_mw), p.export_limit_mw),
        total,
    )
    plan_mw = ai_f + total - renewable_mw  # what the miners make achievable
    battery_on = p.battery_power_mw > 0.0 and p.battery_energy_mwh > 0.0
    if smoothing_on and battery_on:
        # the battery can hold the plan up to its power away from what the miners achieve
        plan_mw = min(max(band.plan_mw, plan_mw - p.battery_power_mw), plan_mw + p.battery_power_mw)
    if smoothing_on:
        commit_plan(ss, p, plan_mw, time_s, dt_s)
    else:
        ss.last_time_s = time_s
    info.plan_import_mw = plan_mw
    measured = total if np.isnan(snap.miner_measured_mw) else snap.miner_measured_mw
    grid_mw = ai_load_mw + measured - renewable_mw
    residual = grid_mw - plan_mw if smoothing_on else 0.0
    info.battery_mw = battery_dispatch(
        p,
        residual,
        grid_mw - (p.import_limit_mw - p.import_margin_mw),
        snap.battery_soc_mwh,
        dt_s if dt_s > 0.0 else 1.0,
    )
    return total, rule


@njit(cache=True)
def step_arrays(params, grp, mem, snap, info):
    """``control_tick_full`` for one live tick, on arrays: ``params`` and ``info`` 1-element
    record arrays, ``grp``, ``snap`` and ``mem`` tuples in the order of ``records.Groups``,
    ``records.Snap`` and ``records.State``, the smoothing and restore memory the
    float64 arrays the host keeps (viewed as records here, writes go through). numba
    dispatches arrays and plain tuples in well under a microsecond, named tuples in a few and a
    record scalar in tens, so ``grp``, ``mem`` and ``snap`` come as plain tuples (measured:
    ``ballast.control.step`` took 28 us of CPU with records passed in, 13 us before the
    records)."""
    return control_tick_full(params[0], Groups(*grp), memory_records(mem), Snap(*snap), info[0])


@njit(cache=True, inline="always")
def memory_records(mem):
    """``records.State`` from the host's memory as a plain tuple (econ_on, last_change_s,
    running, smooth, ai_buf, restore), the smoothing and restore float64 arrays viewed as
    records (writes go through)."""
    econ_on, last_change_s, running, smooth, ai_buf, restore = mem
    return State(
        econ_on, last_change_s, running, smooth.view(SMOOTH_DTYPE)[0], ai_buf, restore.view(RESTORE_DTYPE)[0]
    )
