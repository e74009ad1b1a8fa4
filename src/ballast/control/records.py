"""The rule stack's structures: parameters and memory as numpy record types (named fields, units
in the names), the band the rules narrow and the tick they see as named tuples.

Why records and named tuples: numba reads a record field as cheaply as an element of a float64
array indexed by a constant (measured: the 1-s year of ``benchmarks/bench_smoothing.py`` takes
the same CPU time with the parameters and memory as records as it took with the former float64
arrays and ``SP_*`` / ``SS_*`` / ``RS_*`` index constants; figures in the CHANGELOG), and a named
tuple of scalars costs nothing (it lives in registers once the rules are inlined). numba
jitclasses were not kept: a function that takes one is never loaded from numba's on-disk cache
(numba issues #6522, #9659), so every process would recompile the stack (tens of seconds on a
loaded machine). Structrefs were not tried. Hosts pass the parameter record as a 1-element
array and the memory as the float64 arrays, viewed as records inside numba
(``stack.memory_records``): numba dispatches arrays in under a microsecond but takes tens of
microseconds to type a record scalar handed in from Python.

The memory records are views of float64 arrays (``ControllerState.smooth``, ``.restore``): the
live runtime saves and restores those arrays as lists, and ``SS_*`` / ``RS_*`` are the field
positions in them, listed here in the records' order (an assert checks the last of each).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

# Everything the rule stack reads and never writes, one record per controller configuration
# (``ControllerConfig.params``). Powers are facility MW, import positive.
PARAMS_DTYPE = np.dtype(
    [
        ("import_limit_mw", "f8"),
        ("export_limit_mw", "f8"),
        ("import_margin_mw", "f8"),
        ("economic_dispatch", "?"),
        ("absorb_renewables", "?"),
        # smoothing (``SmoothingConfig``); ``smoothing_on`` False leaves the stack as without it
        ("smoothing_on", "?"),
        ("smooth_with_miners", "?"),  # False: miners follow economics; the plan is the battery's
        ("ramp_up_mw_per_s", "f8"),
        ("ramp_down_mw_per_s", "f8"),
        ("dynamic_range_mw", "f8"),
        ("target_tau_s", "f8"),
        ("ai_idle_mw", "f8"),
        ("ai_max_mw", "f8"),
        ("ai_max_rise_mw", "f8"),
        ("fill_delay_s", "f8"),
        ("shed_delay_s", "f8"),
        ("ramp_window_s", "f8"),
        ("step_share", "f8"),
        ("reserve_cover_share", "f8"),
        ("ai_filter_ticks", "i8"),
        ("battery_power_mw", "f8"),
        ("battery_energy_mwh", "f8"),
        ("battery_recenter_s", "f8"),
        ("battery_soc_target_share", "f8"),
        ("smoothing_max_step_s", "f8"),
    ],
    align=True,
)

# The smoothing rules' memory (``ControllerState.smooth`` viewed as a record).
SMOOTH_DTYPE = np.dtype(
    [
        ("started", "f8"),  # 1.0 once the plan has been set
        ("plan_mw", "f8"),  # import planned at the last tick
        ("target_mw", "f8"),  # the slow target the plan stays within the dynamic range of
        ("last_time_s", "f8"),  # time of the last tick (0.0: none yet)
        ("ai_sum_mw", "f8"),  # sum of the AI readings in the filter's ring buffer
        ("ai_pos", "f8"),  # next slot of the ring buffer
        ("ai_count", "f8"),  # readings in the ring buffer
    ]
)

# The restore ramp's parameters and memory (``ControllerState.restore`` viewed as a record).
RESTORE_DTYPE = np.dtype(
    [
        ("ceiling_mw", "f8"),  # campus import the ramp has reached; NaN = not seeded yet
        ("ramp_mw_per_s", "f8"),
        ("last_time_s", "f8"),
        ("on", "f8"),  # 1.0 = ramp on, 0.0 = off
        ("max_step_s", "f8"),  # longest time step the ramp credits (live: a clock jump earns none)
        ("miners_mw", "f8"),  # miner power last commanded
    ]
)

# What one tick reports besides the miner total and the binding rule.
INFO_DTYPE = np.dtype(
    [
        ("reserve_up_mw", "f8"),  # miner headroom held to fill an AI drop
        ("reserve_down_mw", "f8"),  # running miner power held to shed on an AI rise
        ("battery_mw", "f8"),  # battery setpoint, discharge positive
        ("plan_import_mw", "f8"),  # import the controller plans
        ("ai_filtered_mw", "f8"),  # the AI reading after the smoothing filter
    ]
)

# field positions in the float64 arrays the memory records view (live saves those arrays)
SS_INIT, SS_PLAN, SS_TARGET, SS_LAST_T, SS_AI_SUM, SS_AI_POS, SS_AI_N = range(7)
RS_CEILING, RS_RAMP, RS_LAST_T, RS_ON, RS_MAX_DT, RS_MINERS = range(6)
SS_SIZE = len(SMOOTH_DTYPE.names)
RS_SIZE = len(RESTORE_DTYPE.names)
assert SMOOTH_DTYPE.names[SS_AI_N] == "ai_count" and RESTORE_DTYPE.names[RS_MINERS] == "miners_mw"


def record(values: np.ndarray, dtype: np.dtype) -> np.void:
    """The record a float64 memory array holds, sharing its memory (writes go through)."""
    return values.view(dtype)[0]


# Per-group parameters, columns of one length (index g = scenario order; ``merit`` lists group
# indices, most efficient first), and the fleet's power all running and all asleep [MW]
# (``groups`` below builds it; the 1-s loop would otherwise sum them every tick).
Groups = namedtuple(
    "Groups",
    [
        "count",
        "run_mw",
        "sleep_mw",
        "breakeven_per_hashprice",
        "deadband_usd_per_mwh",
        "min_on_s",
        "min_off_s",
        "merit",
        "full_mw",
        "sleep_all_mw",
    ],
)


# The controller's memory: per-group economics and commands, the smoothing record and its AI
# ring buffer [MW], the restore record.
State = namedtuple("State", ["econ_on", "last_change_s", "running", "smooth", "ai_buf", "restore"])

# What the controller sees at one tick (frozen): the clock and the measurements [MW, USD].
Snap = namedtuple(
    "Snap",
    [
        "time_s",
        "price_usd_per_mwh",
        "hashprice_usd_per_ph_day",
        "ai_load_mw",
        "renewable_mw",
        "cap_mw",
        "floor_mw",
        "miner_measured_mw",
        "battery_soc_mwh",
    ],
)

# The part of the memory the rules read and update: the smoothing and restore records (records
# are not reference-counted, arrays are: ``stack.control_tick_from_wish``).
RuleMemory = namedtuple("RuleMemory", ["smooth", "restore"])

# The snapshot as the rules see it, with what the controller derived from it before the stack.
Tick = namedtuple(
    "Tick",
    [
        "time_s",
        "dt_s",
        "ai_load_mw",
        "ai_filtered_mw",
        "renewable_mw",
        "cap_mw",
        "floor_mw",
        "desired_mw",
        "full_mw",
        "sleep_all_mw",
        "reserve_up_mw",
        "reserve_down_mw",
    ],
)

# The band of allowed miner power [MW] and the rule that set each bound; the point the
# economics and smoothing rules want and who wants it; the upper bound before the restore
# ramp (to tell whether the ramp changed the decision); the import the smoothing plans.
Band = namedtuple(
    "Band",
    ["lo_mw", "hi_mw", "lo_rule", "hi_rule", "want_mw", "want_rule", "hi_free_mw", "hi_free_rule", "plan_mw"],
)
