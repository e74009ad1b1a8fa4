"""Each rule of the stack (``control/stack.py``) on its own, table-driven, with an injected clock
(the tick's ``time_s`` and ``dt_s``): a band in, the narrowed band and the rule code out. The
expected values are worked by hand from each rule's definition (in the comments)."""

import inspect
import math
import re

import numpy as np
import pytest

from ballast.control import stack
from ballast.control.records import (
    PARAMS_DTYPE,
    RESTORE_DTYPE,
    SMOOTH_DTYPE,
    Band,
    State,
    Tick,
)
from ballast.control.rules import RULE_NAMES, update_economic_state_hp

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


def test_the_stack_runs_in_the_order_of_its_table():
    calls = re.findall(r"band = (\w+)\(band|return (\w+)\(band", inspect.getsource(stack.run_stack.py_func))
    assert [a or b for a, b in calls] == [name for _, name, _ in stack.STACK]
    for code, name, rule in stack.STACK:
        assert RULE_NAMES[code] == name == rule.py_func.__name__


@pytest.mark.parametrize(
    ("case", "p", "t", "expect"),
    [
        # room = limit - margin + renewables - AI = 100 - 0 + 0 - 40
        ("room under the limit", params(), tick(), (-INF, 60.0, "economics", "import_limit")),
        (
            "margin and renewables",
            params(import_margin_mw=2.0),
            tick(renewable_mw=10.0),
            (-INF, 68.0, "economics", "import_limit"),
        ),  # 100 - 2 + 10 - 40
        # AI-rise headroom: the AI may rise 5 MW before miners shed: 100 - (40 + 5)
        (
            "AI-rise headroom",
            params(ai_max_rise_mw=5.0, ai_max_mw=200.0),
            tick(),
            (-INF, 55.0, "economics", "import_limit"),
        ),
        # ... but never above the AI's maximum: 100 - min(45, 42)
        (
            "rise capped at the AI maximum",
            params(ai_max_rise_mw=5.0, ai_max_mw=42.0),
            tick(),
            (-INF, 58.0, "economics", "import_limit"),
        ),
        # an AI already above its stated maximum keeps its own reading: 100 - 40
        (
            "AI above its maximum",
            params(ai_max_rise_mw=5.0, ai_max_mw=30.0),
            tick(),
            (-INF, 60.0, "economics", "import_limit"),
        ),
        (
            "AI above the limit: below zero, miners shed all",
            params(),
            tick(ai_mw=130.0),
            (-INF, -30.0, "economics", "import_limit"),
        ),
        ("unknown AI fails closed", params(), tick(ai_mw=NAN), (-INF, 0.0, "economics", "import_limit")),
    ],
)
def test_import_limit(case, p, t, expect):
    assert bounds(stack.import_limit(band(), p, state(), t)) == expect, case


@pytest.mark.parametrize(
    ("case", "cap_mw", "expect"),
    [
        ("a cap below the limit binds", 20.0, (-INF, 20.0, "economics", "obligation_cap")),
        ("a cap above it does not", 50.0, (-INF, 38.0, "economics", "import_limit")),
        ("equal: the rule above keeps it", 38.0, (-INF, 38.0, "economics", "import_limit")),
        ("no cap", INF, (-INF, 38.0, "economics", "import_limit")),
    ],
)
def test_obligation_cap(case, cap_mw, expect):
    b = band(hi_mw=38.0, hi_rule="import_limit")
    assert bounds(stack.obligation_cap(b, params(), state(), tick(cap_mw=cap_mw))) == expect


@pytest.mark.parametrize(
    ("case", "floor_mw", "expect"),
    [
        ("a floor sets the lower bound", 10.0, (10.0, 38.0, "obligation_floor", "import_limit")),
        ("a zero floor names it too", 0.0, (0.0, 38.0, "obligation_floor", "import_limit")),
        # safety and caps win over floors
        ("a floor above the upper bound", 50.0, (38.0, 38.0, "obligation_floor", "import_limit")),
    ],
)
def test_obligation_floor(case, floor_mw, expect):
    b = band(hi_mw=38.0, hi_rule="import_limit")
    assert bounds(stack.obligation_floor(b, params(), state(), tick(floor_mw=floor_mw))) == expect, case


def test_obligation_floor_nan_stays_nan():
    b = stack.obligation_floor(band(hi_mw=38.0), params(), state(), tick(floor_mw=NAN))
    assert math.isnan(b.lo_mw) and b.hi_mw == 38.0


SMOOTH = dict(smoothing_on=True, smooth_with_miners=True)


@pytest.mark.parametrize(
    ("case", "p", "b", "reserve_mw", "expect"),
    [
        # hi = full - reserve = 30 - 8
        (
            "headroom for a crash",
            params(**SMOOTH),
            band(5.0, 38.0, "obligation_floor", "import_limit"),
            8.0,
            (5.0, 22.0, "obligation_floor", "reserve_up"),
        ),
        # never below the floor: max(22, 25)
        (
            "the floor above keeps priority",
            params(**SMOOTH),
            band(25.0, 38.0, "obligation_floor", "import_limit"),
            8.0,
            (25.0, 25.0, "obligation_floor", "reserve_up"),
        ),
        (
            "a tighter bound above stays",
            params(**SMOOTH),
            band(0.0, 20.0, "obligation_floor", "obligation_cap"),
            8.0,
            (0.0, 20.0, "obligation_floor", "obligation_cap"),
        ),
        (
            "no reserve",
            params(**SMOOTH),
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            0.0,
            (0.0, 38.0, "obligation_floor", "import_limit"),
        ),
        (
            "smoothing off",
            params(),
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            8.0,
            (0.0, 38.0, "obligation_floor", "import_limit"),
        ),
        (
            "the battery smooths, not the miners",
            params(smoothing_on=True),
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            8.0,
            (0.0, 38.0, "obligation_floor", "import_limit"),
        ),
    ],
)
def test_reserve_up(case, p, b, reserve_mw, expect):
    t = tick(full_mw=30.0, reserve_up_mw=reserve_mw)
    assert bounds(stack.reserve_up(b, p, state(), t)) == expect, case


@pytest.mark.parametrize(
    ("case", "b", "reserve_mw", "expect"),
    [
        # lo = all asleep + reserve = 1 + 6
        (
            "running miners to shed",
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            6.0,
            (7.0, 38.0, "reserve_down", "import_limit"),
        ),
        (
            "never above the upper bound",
            band(0.0, 5.0, "obligation_floor", "obligation_cap"),
            6.0,
            (5.0, 5.0, "reserve_down", "obligation_cap"),
        ),
        (
            "a higher floor stays",
            band(10.0, 38.0, "obligation_floor", "import_limit"),
            6.0,
            (10.0, 38.0, "obligation_floor", "import_limit"),
        ),
        (
            "no reserve",
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            0.0,
            (0.0, 38.0, "obligation_floor", "import_limit"),
        ),
    ],
)
def test_reserve_down(case, b, reserve_mw, expect):
    t = tick(sleep_all_mw=1.0, reserve_down_mw=reserve_mw)
    assert bounds(stack.reserve_down(b, params(**SMOOTH), state(), t)) == expect, case


RAMP = dict(on=1.0, ramp_mw_per_s=0.1, ceiling_mw=50.0, miners_mw=10.0, last_time_s=100.0, max_step_s=INF)


@pytest.mark.parametrize(
    ("case", "restore", "time_s", "b", "expect"),
    [
        # allowance = max(last miners, ceiling + ramp x dt - AI) = max(10, 50 + 0.1 x 60 - 40)
        (
            "a minute of ramp",
            RAMP,
            160.0,
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            (0.0, 16.0, "obligation_floor", "restore_ramp"),
        ),
        (
            "one second of ramp",
            RAMP,
            101.0,
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            (0.0, 10.1, "obligation_floor", "restore_ramp"),
        ),
        # the clock stepped back: no ramp credited, the last command held
        (
            "clock stepped back",
            RAMP,
            40.0,
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            (0.0, 10.0, "obligation_floor", "restore_ramp"),
        ),
        (
            "a clock jump credits the longest step only",
            {**RAMP, "max_step_s": 3.0},
            3700.0,
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            (0.0, 10.3, "obligation_floor", "restore_ramp"),
        ),  # 50 + 0.1 x 3 - 40
        # a floor set above wins: max(20, min(38, 16))
        (
            "a floor above wins",
            RAMP,
            160.0,
            band(20.0, 38.0, "obligation_floor", "import_limit"),
            (20.0, 20.0, "obligation_floor", "restore_ramp"),
        ),
        (
            "a tighter bound above stays",
            RAMP,
            160.0,
            band(0.0, 12.0, "obligation_floor", "obligation_cap"),
            (0.0, 12.0, "obligation_floor", "obligation_cap"),
        ),
        (
            "off",
            {**RAMP, "on": 0.0},
            160.0,
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            (0.0, 38.0, "obligation_floor", "import_limit"),
        ),
    ],
)
def test_restore_ramp(case, restore, time_s, b, expect):
    out = stack.restore_ramp(b, params(), state(restore=restore), tick(time_s=time_s))
    assert bounds(out) == pytest.approx(expect), case
    if out.hi_rule == CODE["restore_ramp"]:  # the bound it found is kept for the decision
        assert (out.hi_free_mw, RULE_NAMES[out.hi_free_rule]) == (b.hi_mw, RULE_NAMES[b.hi_rule])


@pytest.mark.parametrize(
    ("case", "absorb", "renewable_mw", "b", "expect"),
    [
        # surplus = renewables - AI - export limit = 70 - 40 - 20
        (
            "absorb the surplus",
            True,
            70.0,
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            (10.0, 38.0, "renewable_absorption", "import_limit"),
        ),
        (
            "within the upper bound",
            True,
            70.0,
            band(0.0, 5.0, "obligation_floor", "obligation_cap"),
            (5.0, 5.0, "renewable_absorption", "obligation_cap"),
        ),
        (
            "a higher floor stays",
            True,
            70.0,
            band(12.0, 38.0, "obligation_floor", "import_limit"),
            (12.0, 38.0, "obligation_floor", "import_limit"),
        ),
        (
            "no surplus",
            True,
            50.0,
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            (0.0, 38.0, "obligation_floor", "import_limit"),
        ),
        (
            "off",
            False,
            70.0,
            band(0.0, 38.0, "obligation_floor", "import_limit"),
            (0.0, 38.0, "obligation_floor", "import_limit"),
        ),
    ],
)
def test_renewable_absorption(case, absorb, renewable_mw, b, expect):
    t = tick(renewable_mw=renewable_mw)
    out = stack.renewable_absorption(b, params(absorb_renewables=absorb), state(), t)
    assert bounds(out) == expect, case


def test_economics_proposes_the_economic_wish():
    out = stack.economics(band(0.0, 38.0), params(), state(), tick(desired_mw=17.0))
    assert (out.want_mw, RULE_NAMES[out.want_rule], out.lo_mw, out.hi_mw) == (17.0, "economics", 0.0, 38.0)


PLAN = dict(started=1.0, plan_mw=100.0, target_mw=100.0)
RAMPS = dict(SMOOTH, ramp_up_mw_per_s=1.0, ramp_down_mw_per_s=1.0, step_share=0.8, dynamic_range_mw=10.0)


@pytest.mark.parametrize(
    ("case", "p", "memory", "dt_s", "hi_mw", "expect"),
    [
        # wish: import = AI 80 + miners 30 = 110; the plan moves (1 - 0.8) x 1 MW/s x 1 s to 100.2;
        # miners follow: 100.2 - 80 = 20.2
        ("ramp-limited plan", params(**RAMPS), PLAN, 1.0, 38.0, (20.2, "smoothing", 100.2)),
        ("ten seconds of ramp", params(**RAMPS), PLAN, 10.0, 38.0, (22.0, "smoothing", 102.0)),
        # the dynamic range: at most target + 3 = 103 even with ramp to spare (0.2 x 10 x 10 = 20)
        (
            "dynamic range",
            params(**{**RAMPS, "dynamic_range_mw": 3.0, "ramp_up_mw_per_s": 10.0}),
            PLAN,
            10.0,
            38.0,
            (23.0, "smoothing", 103.0),
        ),
        # the wish clipped to the band first: 80 + 25 = 105, still ramp-limited to 100.2
        ("wish within the band", params(**RAMPS), PLAN, 1.0, 25.0, (20.2, "smoothing", 100.2)),
        (
            "first tick: the plan starts at the wish",
            params(**RAMPS),
            {},
            0.0,
            38.0,
            (30.0, "economics", 110.0),
        ),
        (
            "the battery smooths: miners keep the wish",
            params(**{**RAMPS, "smooth_with_miners": False}),
            PLAN,
            1.0,
            38.0,
            (30.0, "economics", 100.2),
        ),
        ("off", params(), PLAN, 1.0, 38.0, (30.0, "economics", 0.0)),
    ],
)
def test_smoothing(case, p, memory, dt_s, hi_mw, expect):
    b = band(0.0, hi_mw, "obligation_floor", "import_limit", want_mw=30.0)
    out = stack.smoothing(b, p, state(smooth=memory), tick(ai_mw=80.0, dt_s=dt_s))
    assert (out.want_mw, RULE_NAMES[out.want_rule], out.plan_mw) == pytest.approx(expect), case


def test_smoothing_starts_its_memory_on_the_first_tick():
    st = state()
    stack.smoothing(band(0.0, 38.0, want_mw=30.0), params(**RAMPS), st, tick(ai_mw=80.0))
    assert (st.smooth["plan_mw"], st.smooth["target_mw"]) == (110.0, 110.0)


# Economics with its clock: hysteresis and minimum on/off times (``update_economic_state_hp``).
# One group: breakeven = hashprice x 1 = 50 USD/MWh, deadband 5, min on 600 s, min off 300 s.
@pytest.mark.parametrize(
    ("case", "on", "price", "held_s", "dispatch", "expect_on"),
    [
        ("running below breakeven + deadband stays on", True, 54.0, 1e6, True, True),
        ("running above it stops", True, 56.0, 600.0, True, False),
        ("but not before its minimum on time", True, 56.0, 599.0, True, True),
        ("asleep above breakeven - deadband stays off", False, 46.0, 1e6, True, False),
        ("asleep below it starts", False, 44.0, 300.0, True, True),
        ("but not before its minimum off time", False, 44.0, 299.0, True, False),
        ("no economic dispatch: all run", False, 500.0, 1e6, False, True),
    ],
)
def test_economic_hysteresis(case, on, price, held_s, dispatch, expect_on):
    now_s = 10_000.0
    econ_on, last = np.array([on]), np.array([now_s - held_s])
    update_economic_state_hp(
        econ_on,
        last,
        now_s,
        price,
        50.0,
        np.array([1.0]),
        np.array([5.0]),
        np.array([600.0]),
        np.array([300.0]),
        dispatch,
    )
    assert bool(econ_on[0]) is expect_on, case
    assert last[0] == (now_s if expect_on != on else now_s - held_s), case
