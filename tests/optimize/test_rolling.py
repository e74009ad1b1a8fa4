"""The rolling horizon: windows re-solved on one HiGHS model, against the perfect optimum."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from ballast.optimize import compare
from ballast.optimize.model import BatteryParams, solve
from ballast.optimize.rolling import solve_rolling
from ballast.scenario import parse_scenario
from tests.conftest import BASE_SCENARIO
from tests.optimize.test_hand_cases import problem


def test_a_window_too_short_to_see_the_peak_loses_it():
    # Battery 1 MW / 1 MWh, lossless, empty; prices 10, 20, 100 USD/MWh; export paid in full.
    # Perfect foresight: charge in hour 0 (-10), sell in hour 2 (+100) = 90 USD.
    # One-hour windows: charging never pays inside its own window, the battery stays idle: 0.
    # Two-hour windows committing one hour: hour 0 sees 10 and 20 (charging gains 10), keeps the
    # charge; hour 1 sees 20 and 100 and holds it; hour 2 sells: 90 again.
    b = BatteryParams(power_mw=1.0, energy_mwh=1.0, efficiency=1.0, initial_soc_mwh=0.0)
    p = problem([10.0, 20.0, 100.0], [0.0] * 3, export_limit_mw=5.0, battery=b)
    assert solve(p).objective_usd == pytest.approx(90.0, abs=1e-6)
    short = solve_rolling(p, window_h=1.0, commit_h=1.0)
    assert short.objective_usd == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(short.battery_mw, 0.0, atol=1e-9)
    two = solve_rolling(p, window_h=2.0, commit_h=1.0)
    assert two.objective_usd == pytest.approx(90.0, abs=1e-6)
    np.testing.assert_allclose(two.soc_mwh, [1.0, 1.0, 0.0], atol=1e-6)


def test_rolling_week_between_the_rules_and_the_perfect_optimum():
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["battery"] = {"power_mw": 40, "energy_mwh": 160}
    scn = parse_scenario(doc)
    perfect = compare(scn)
    rolling = compare(scn, horizon="rolling")
    p = perfect.optimum.problem
    opt = perfect.optimum.solution.objective_usd
    roll = rolling.optimum.solution.objective_usd
    assert roll <= opt + 1e-6 * abs(opt)
    assert rolling.regret_usd >= -1e-6 * abs(opt)  # the rules never beat it either
    # the battery ends at least as full as it started; the import limit holds every interval
    assert rolling.optimum.run.frame["battery_soc_mwh"].iloc[-1] >= p.battery.initial_soc_mwh - 1e-6
    assert rolling.optimum.run.frame["import_mw"].max() <= scn.site.import_limit_mw + 1e-6
    # the KPIs price the kept dispatch at the rolling objective (mining revenue - energy cost)
    k = rolling.optimum.kpis["value"]
    assert k["mining_revenue_usd"] - k["energy_cost_usd"] == pytest.approx(roll, rel=1e-9)
    assert rolling.to_json()["horizon"] == "rolling"


def test_one_window_over_the_whole_run_is_the_perfect_optimum():
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["battery"] = {"power_mw": 40, "energy_mwh": 160}
    doc["run"]["end"] = "2024-05-03T00:00:00Z"
    scn = parse_scenario(doc)
    p = compare(scn).optimum.problem
    whole = solve_rolling(p, window_h=48.0, commit_h=48.0)
    assert whole.objective_usd == pytest.approx(solve(p).objective_usd, rel=1e-9)
