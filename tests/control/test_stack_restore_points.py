"""The restore ramp, renewable absorption, economics and smoothing rules of the stack
(``control/stack.py``), each on its own, table-driven, with an injected clock (the tick's
``time_s`` and ``dt_s``): a band in, the narrowed band or wanted point and the rule code out.
The expected values are worked by hand from each rule's definition (in the comments)."""

import numpy as np
import pytest
from rule_cases import CODE, INF, SMOOTH, band, bounds, params, state, tick

from ballast.control import stack
from ballast.control.rules import RULE_NAMES, update_economic_state_hp

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
