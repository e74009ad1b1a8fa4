"""Builders for the rule-stack tests: records and named tuples with hand-chosen defaults."""

import math

import numpy as np

from ballast.control.records import PARAMS_DTYPE, RESTORE_DTYPE, SMOOTH_DTYPE, Band, State, Tick
from ballast.control.rules import RULE_NAMES

INF, NAN = math.inf, math.nan
CODE = {name: code for code, name in enumerate(RULE_NAMES)}


def params(**fields):
    """A parameter record: 100 MW import limit, 20 MW export limit, smoothing off."""
    p = np.zeros(1, PARAMS_DTYPE)[0]
    base = dict(
        import_limit_mw=100.0,
        export_limit_mw=20.0,
        ai_max_mw=INF,
        ai_filter_ticks=1,
        smoothing_max_step_s=INF,
        absorb_renewables=True,
        economic_dispatch=True,
    )
    for name, value in {**base, **fields}.items():
        p[name] = value
    return p


def state(restore=None, smooth=None):
    """Memory: one group; restore and smoothing records from dicts of fields."""
    rs = np.zeros(1, RESTORE_DTYPE)[0]
    for name, value in (restore or {}).items():
        rs[name] = value
    ss = np.zeros(1, SMOOTH_DTYPE)[0]
    for name, value in (smooth or {}).items():
        ss[name] = value
    return State(np.zeros(1, bool), np.zeros(1), np.zeros(1, np.int64), ss, np.zeros(1), rs)


def tick(
    time_s=1000.0,
    dt_s=1.0,
    ai_mw=40.0,
    ai_filtered_mw=None,
    renewable_mw=0.0,
    cap_mw=INF,
    floor_mw=0.0,
    desired_mw=0.0,
    full_mw=30.0,
    sleep_all_mw=1.0,
    reserve_up_mw=0.0,
    reserve_down_mw=0.0,
):
    return Tick(
        time_s,
        dt_s,
        ai_mw,
        ai_mw if ai_filtered_mw is None else ai_filtered_mw,
        renewable_mw,
        cap_mw,
        floor_mw,
        desired_mw,
        full_mw,
        sleep_all_mw,
        reserve_up_mw,
        reserve_down_mw,
    )


def band(lo_mw=-INF, hi_mw=INF, lo_rule="economics", hi_rule="economics", want_mw=0.0, want_rule="economics"):
    return Band(
        lo_mw, hi_mw, CODE[lo_rule], CODE[hi_rule], want_mw, CODE[want_rule], INF, CODE["economics"], 0.0
    )


def bounds(b):
    """(lo, hi, lo rule, hi rule) of a band, rules by name."""
    return (b.lo_mw, b.hi_mw, RULE_NAMES[b.lo_rule], RULE_NAMES[b.hi_rule])


SMOOTH = dict(smoothing_on=True, smooth_with_miners=True)
