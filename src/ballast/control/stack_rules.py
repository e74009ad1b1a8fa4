"""The rules of the stack (``control/stack.py``), one small compiled function each, of one shape
``rule(band, p, st, tick) -> band`` (docs/design.md, "The rule stack"), and the helpers that
narrow a ``records.Band``. The order they run in is ``stack.STACK``; their arithmetic is in
``control/rules.py`` and ``control/smoothing.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ballast import numba_cache
from ballast import physics as _physics
from ballast.control import records as _records
from ballast.control import rules as _rules
from ballast.control import smoothing as _smoothing
from ballast.control.records import Band
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
    restore_allowance_mw,
    rule_import_limit,
    rule_renewable_floor,
    rule_restore_ramp,
)
from ballast.control.smoothing import plan_import

# the rules inline the arithmetic of these files: recompile when they change
numba_cache.drop_stale(__file__, _rules.__file__, _smoothing.__file__, _records.__file__, _physics.__file__)


@njit(cache=True, inline="always")
def with_hi(band, hi_mw, rule):
    """The band with a new upper bound set by ``rule``."""
    return Band(
        band.lo_mw,
        hi_mw,
        band.lo_rule,
        rule,
        band.want_mw,
        band.want_rule,
        band.hi_free_mw,
        band.hi_free_rule,
        band.plan_mw,
    )


@njit(cache=True, inline="always")
def with_lo(band, lo_mw, rule):
    """The band with a new lower bound set by ``rule``."""
    return Band(
        lo_mw,
        band.hi_mw,
        rule,
        band.hi_rule,
        band.want_mw,
        band.want_rule,
        band.hi_free_mw,
        band.hi_free_rule,
        band.plan_mw,
    )


@njit(cache=True, inline="always")
def with_want(band, want_mw, rule, plan_mw):
    """The band with the point ``rule`` wants inside it, and the import plan."""
    return Band(
        band.lo_mw,
        band.hi_mw,
        band.lo_rule,
        band.hi_rule,
        want_mw,
        rule,
        band.hi_free_mw,
        band.hi_free_rule,
        plan_mw,
    )


@njit(cache=True, inline="always")
def open_band():
    """The band before any rule: every power allowed, economics wanting nothing yet."""
    return Band(
        -np.inf, np.inf, RULE_ECONOMICS, RULE_ECONOMICS, 0.0, RULE_ECONOMICS, np.inf, RULE_ECONOMICS, 0.0
    )


# ------------------------------------------------------------------------------ the rules
@njit(cache=True, inline="always")
def import_limit(band, p, st, tick):
    """Safety: miners use at most what is left under the import limit (less its margin, plus
    renewables) after the AI load, keeping room for the AI's fastest rise (``ai_max_rise_mw``,
    up to ``ai_max_mw``) while miners are still shedding. Fails closed on a NaN."""
    ai_ceiling_mw = tick.ai_load_mw
    if p.ai_max_rise_mw > 0.0:
        ai_ceiling_mw = max(tick.ai_load_mw, min(tick.ai_load_mw + p.ai_max_rise_mw, p.ai_max_mw))
    hi_mw = rule_import_limit(
        band.hi_mw, p.import_limit_mw, p.import_margin_mw, ai_ceiling_mw, tick.renewable_mw
    )
    return with_hi(band, hi_mw, RULE_IMPORT_LIMIT)


@njit(cache=True, inline="always")
def obligation_cap(band, p, st, tick):
    """Grid obligations: a program's cap on miner power (a demand response event, 4CP)."""
    if tick.cap_mw < band.hi_mw:
        return with_hi(band, tick.cap_mw, RULE_OBLIGATION_CAP)
    return band


@njit(cache=True, inline="always")
def obligation_floor(band, p, st, tick):
    """Grid obligations: a program's floor on miner power (a reserve held as load), never above
    the upper bound (safety and caps win over floors). The floor always names the lower bound,
    even at 0 MW; a NaN floor stays NaN (no lower bound below)."""
    lo_mw = tick.floor_mw if not tick.floor_mw < band.lo_mw else band.lo_mw
    if lo_mw > band.hi_mw:
        lo_mw = band.hi_mw
    return with_lo(band, lo_mw, RULE_OBLIGATION_FLOOR)


@njit(cache=True, inline="always")
def reserve_up(band, p, st, tick):
    """Smoothing: hold miner headroom (``tick.reserve_up_mw``) to fill an AI crash, never
    below the lower bound the rules above set."""
    if not (p.smoothing_on and p.smooth_with_miners) or tick.reserve_up_mw <= 0.0:
        return band
    hi_mw = max(tick.full_mw - tick.reserve_up_mw, band.lo_mw)
    return with_hi(band, hi_mw, RULE_RESERVE_UP) if hi_mw < band.hi_mw else band


@njit(cache=True, inline="always")
def reserve_down(band, p, st, tick):
    """Smoothing: keep running miners (``tick.reserve_down_mw``) to shed on an AI rise, never
    above the upper bound."""
    if not (p.smoothing_on and p.smooth_with_miners) or tick.reserve_down_mw <= 0.0:
        return band
    lo_mw = min(tick.sleep_all_mw + tick.reserve_down_mw, band.hi_mw)
    return with_lo(band, lo_mw, RULE_RESERVE_DOWN) if lo_mw > band.lo_mw else band


@njit(cache=True, inline="always")
def restore_ramp(band, p, st, tick):
    """Restore ("ramp and hold"): waking miners raise the campus import no faster than the
    ramp (``st.restore``); shedding is never slowed, and the bounds set above win. Keeps the
    upper bound it found (``hi_free``): whole miners may make the ramp's bound change nothing."""
    if st.restore.on <= 0.0:
        return band
    hi_mw = rule_restore_ramp(
        band.hi_mw,
        band.lo_mw,
        restore_allowance_mw(st.restore, tick.time_s, tick.ai_load_mw, tick.renewable_mw),
    )
    if not hi_mw < band.hi_mw:
        return band
    return Band(
        band.lo_mw,
        hi_mw,
        band.lo_rule,
        RULE_RESTORE_RAMP,
        band.want_mw,
        band.want_rule,
        band.hi_mw,
        band.hi_rule,
        band.plan_mw,
    )


@njit(cache=True, inline="always")
def renewable_absorption(band, p, st, tick):
    """Green: absorb renewable output that could neither serve the AI nor be exported, within
    the upper bound."""
    if not p.absorb_renewables:
        return band
    lo_mw = rule_renewable_floor(band.lo_mw, tick.ai_load_mw, tick.renewable_mw, p.export_limit_mw)
    return with_lo(band, min(lo_mw, band.hi_mw), RULE_RENEWABLE_ABSORPTION) if lo_mw > band.lo_mw else band


@njit(cache=True, inline="always")
def economics(band, p, st, tick):
    """Economics proposes the miners' economic wish (groups above breakeven, with hysteresis:
    ``tick.desired_mw``)."""
    return with_want(band, tick.desired_mw, RULE_ECONOMICS, 0.0)


@njit(cache=True, inline="always")
def smoothing(band, p, st, tick):
    """Smoothing: plan an import within the ramp limits and the dynamic range of its slow target
    (``st.smooth``), toward the economic wish clipped to the band; with miners smoothing, they
    follow the plan. The plan is kept in the band for the battery."""
    if not p.smoothing_on:
        return band
    wish_mw = min(max(band.want_mw, band.lo_mw), band.hi_mw)
    plan_mw = plan_import(st.smooth, p, tick.ai_filtered_mw + wish_mw - tick.renewable_mw, tick.dt_s)
    smooth_mw = plan_mw - tick.ai_filtered_mw + tick.renewable_mw
    if p.smooth_with_miners and abs(smooth_mw - band.want_mw) > 1e-9:
        return with_want(band, smooth_mw, RULE_SMOOTHING, plan_mw)
    return with_want(band, band.want_mw, band.want_rule, plan_mw)
