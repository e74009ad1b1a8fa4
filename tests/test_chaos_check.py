"""The fault campaign's invariant checks (``ballast.live.emulators.chaos_check``), by table."""

from __future__ import annotations

import pytest

from ballast.live.emulators.chaos_check import Timing, overshoots, ramp_allowance_s, tick_gaps_over
from ballast.live.emulators.faults import draw_episodes

T = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize(("imports", "windows", "tol", "expect"), [
    # (start, end, worst, outside worst, outside time) per stretch
    ([99, 99, 99, 99, 99, 99], [], 0.0, []),
    ([99, 105, 103, 99, 99, 99], [(1.0, 3.0)], 0.0, [(1.0, 3.0, 5.0, 0.0, 0.0)]),
    ([99, 105, 103, 101, 99, 99], [(1.0, 3.0)], 0.0, [(1.0, 4.0, 5.0, 1.0, 1.0)]),
    ([99, 100.05, 100.05, 99, 99, 99], [], 0.1, []),  # within the tolerance
    ([99, 99, 99, 99, 102, 102], [], 0.0, [(4.0, 5.0, 2.0, 2.0, 1.0)]),  # to the last sample
])
def test_overshoots(imports, windows, tol, expect) -> None:
    got = overshoots(T, imports, 100.0, windows, tol)
    assert [tuple(round(x, 9) for x in (o.start_s, o.end_s, o.worst_mw, o.outside_worst_mw,
                                         o.outside_s)) for o in got] == expect
    assert [o.allowed for o in got] == [e[3] == 0.0 for e in expect]


def test_tick_gaps() -> None:
    assert tick_gaps_over([0.0, 1.0, 2.0, 4.5, 5.0]) == [(4.5, 2.5)]
    assert tick_gaps_over([0.0, 2.0]) == []  # 2 s is allowed, more is not


def test_allowance_grows_with_detection_and_rounds() -> None:
    t = Timing(tick_s=0.2, meter_poll_s=0.05, ai_poll_s=0.1, fleet_timeout_s=0.3,
               fleet_retries=0, meter_stale_s=1.0, meter_timeout_s=0.5, frozen_s=1.0,
               physics_dt_s=0.05, time_scale=10.0)
    eps = {e.kind: e for e in draw_episodes(1, 16)}
    # see 0.15 + command 0.8 + ramp 5 s / 10 (the docstring of tests/runtime/test_live_chaos.py)
    assert ramp_allowance_s(t, eps["meter_nan"], True) == pytest.approx(1.45)
    assert ramp_allowance_s(t, eps["miners_ignore"], True) == pytest.approx(2.75)
    assert ramp_allowance_s(t, eps["meter_drop"], True) == pytest.approx(2.95)
    assert ramp_allowance_s(t, eps["meter_frozen"], True) == pytest.approx(3.95)
    assert ramp_allowance_s(t, eps["meter_frozen"], False) == pytest.approx(1.45)
