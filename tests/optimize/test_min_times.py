"""The MILP with whole miners and minimum on/off times, against brute force over every
schedule of every miner on small cases."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.optimize.model import solve
from tests.optimize.test_hand_cases import problem


def unit_ok(schedule: tuple[int, ...], up: int, down: int) -> bool:
    """One miner's on/off schedule keeps its minimum times: it runs before the first interval
    (free to stop then); a run started in the horizon lasts ``up`` intervals and a stop lasts
    ``down``, unless the horizon ends first."""
    n = len(schedule)
    prev, t = 1, 0
    while t < n:
        length = 1
        while t + length < n and schedule[t + length] == schedule[t]:
            length += 1
        started_here = schedule[t] != prev
        need = up if schedule[t] == 1 else down
        if started_here and t + length < n and length < need:
            return False
        prev, t = schedule[t], t + length
    return True


def brute_force(prices, value_usd, run_mw, count, up, down, ai_mw):
    """The best objective over every miner's feasible schedule (one group)."""
    n = len(prices)
    feasible = [s for s in itertools.product((0, 1), repeat=n) if unit_ok(s, up, down)]
    best = -np.inf
    for combo in itertools.combinations_with_replacement(feasible, count):
        on = np.sum(combo, axis=0)
        best = max(best, float((on * (value_usd - run_mw * prices) - ai_mw * prices).sum()))
    return best


def test_minimum_times_by_hand():
    # One miner of 1 MW earning 50 USD per hour; prices 100, 0, 100, 0 USD/MWh; min on 2 h,
    # min off 2 h. Free: off, on, off, on = 50 + 50 = 100. With the minimum times a stop lasts
    # two hours, a start two (unless the run ends): off-off-on-on = 50 - 50 + 50 = 50 and
    # off-off-off-on = 50 are best; on-on-on-on = -50 + 50 - 50 + 50 = 0, on through hour 1
    # then off = 0. Best = 50 USD.
    prices = [100.0, 0.0, 100.0, 0.0]
    p = problem(prices, [0.0] * 4, counts=[1], run_mw=[1.0], value_usd=[[50.0]] * 4)
    assert solve(p).objective_usd == pytest.approx(100.0, abs=1e-6)
    s = solve(replace(p, min_times=(np.array([2.0]), np.array([2.0]))))
    assert s.objective_usd == pytest.approx(50.0, abs=1e-6)
    on = tuple(round(float(x)) for x in s.running[:, 0])
    assert on in {(0, 0, 1, 1), (0, 0, 0, 1)} and unit_ok(on, 2, 2)


@settings(max_examples=15, deadline=None)
@given(
    prices=st.lists(st.sampled_from([-20.0, 10.0, 40.0, 90.0, 200.0]), min_size=4, max_size=6),
    count=st.integers(1, 3),
    up=st.integers(1, 3),
    down=st.integers(1, 3),
)
def test_milp_equals_brute_force(prices, count, up, down):
    n = len(prices)
    run_mw, value = 0.5, 30.0  # a miner breaks even at 60 USD/MWh
    p = problem(
        prices, [1.0] * n, counts=[count], run_mw=[run_mw], value_usd=[[value]] * n, import_limit_mw=10.0
    )
    s = solve(replace(p, min_times=(np.array([float(up)]), np.array([float(down)]))))
    best = brute_force(np.asarray(prices), value, run_mw, count, up, down, 1.0)
    assert s.objective_usd == pytest.approx(best, abs=1e-6)
    np.testing.assert_allclose(s.running, np.round(s.running), atol=1e-6)  # whole miners


def test_min_times_on_a_real_day_is_whole_and_below_the_lp():
    import copy

    from ballast.optimize import compare
    from ballast.scenario import parse_scenario
    from tests.conftest import BASE_SCENARIO

    doc = copy.deepcopy(BASE_SCENARIO)
    doc["run"].update(end="2024-05-02T00:00:00Z", resolution="1h")
    for g in doc["miners"]:
        g.update(count=200, min_on_minutes=180, min_off_minutes=120)
    scn = parse_scenario(doc)
    lp = compare(scn).optimum.solution
    milp = compare(scn, min_times=True)
    s = milp.optimum.solution
    assert s.objective_usd <= lp.objective_usd + 1e-6
    np.testing.assert_allclose(s.running, np.round(s.running), atol=1e-6)
    assert milp.optimum.problem.min_times[0].tolist() == [3.0, 3.0, 3.0]
    assert any("min_times" in n for n in milp.to_json()["optimum_notes"])
