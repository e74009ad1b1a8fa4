"""The safety, obligation and reserve rules of the stack (``control/stack.py``), each on its
own, table-driven: a band in, the narrowed band and the rule code out. The expected values are
worked by hand from each rule's definition (in the comments). The clock is injected (the tick's
``time_s``); these rules do not depend on it, the restore ramp and smoothing do
(``test_stack_restore_points.py``)."""

import inspect
import math
import re

import pytest
from rule_cases import INF, NAN, SMOOTH, band, bounds, params, state, tick

from ballast.control import stack
from ballast.control.rules import RULE_NAMES


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
