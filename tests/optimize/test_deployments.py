"""Scheduled reserve deployments (ECRS, ERS, Non-Spin ``deployments:``) in the optimum: the
miners stay at most their power before the instruction less the MW sold, as in the backtest."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from ballast.control import ControllerConfig
from ballast.inputs import build_inputs
from ballast.optimize.deployments import ReserveDeployment
from ballast.optimize.model import Reserves, problem_from_inputs, solve
from ballast.optimize.rolling import solve_rolling
from ballast.programs.plan import build_plan
from ballast.scenario import parse_scenario
from tests.conftest import BASE_SCENARIO
from tests.optimize.test_hand_cases import problem


def _hand(deployments=()):
    # Three free hours (price 0), AI 1 MW; 10 miners of 0.1 MW, each earning 1 USD per hour
    # (10 USD/MWh); ECRS offered 2 MW at 25 USD/MW-h
    ecrs = Reserves(("ecrs",), np.array([2.0]), np.full((3, 1), 25.0), deployments=deployments)
    return problem([0.0] * 3, [1.0] * 3, counts=[10], run_mw=[0.1], value_usd=np.ones((3, 1)), reserves=ecrs)


def test_a_deployment_caps_the_miners_by_the_mw_sold():
    # Without a deployment every hour runs all 1 MW and sells 1 MW: 10 + 25 = 35 USD, 105 in all.
    assert solve(_hand()).objective_usd == pytest.approx(105.0, abs=1e-6)
    # Deployed in hour 1 (reference: hour 0): f1 <= f0 - r1 and r1 <= f1. Hour 0 runs 1 MW
    # (35 USD); hour 1 earns 10 f1 + 25 r1 <= 10 (1 - r1) + 25 r1 = 10 + 15 r1, largest at
    # r1 = f1 = 0.5: 17.5 USD; hour 2 35 USD. Optimum 87.5 USD, 5 miners running in hour 1.
    s = solve(_hand((ReserveDeployment(0, 1, 2),)))
    assert s.objective_usd == pytest.approx(87.5, abs=1e-6)
    np.testing.assert_allclose(s.running[:, 0], [10.0, 5.0, 10.0], atol=1e-6)
    np.testing.assert_allclose(s.reserve_mw[:, 0], [1.0, 0.5, 1.0], atol=1e-6)


def test_a_deployment_held_two_hours_is_not_worth_selling_into():
    # Deployed over hours 1-2: f1, f2 <= 1 - r1, r1 <= f1, r2 <= f2. Hours 1-2 earn at most
    # 10 (1 - r1) + 25 r1 + 10 (1 - r1) + 25 (1 - r1) = 45 - 20 r1: r1 = 0 (nothing sold in
    # hour 1, whose miners earn 10), and the optimum is 35 + 45 = 80 USD
    s = solve(_hand((ReserveDeployment(0, 1, 3),)))
    assert s.objective_usd == pytest.approx(80.0, abs=1e-6)
    assert s.reserve_mw[1, 0] == pytest.approx(0.0, abs=1e-6)


def test_rolling_windows_carry_a_deployment_across_their_start():
    # one-hour windows kept whole: the window of hour 1 takes hour 0's kept 1 MW as the
    # reference (a constant), so it reaches the same 87.5 USD as the perfect horizon
    r = solve_rolling(_hand((ReserveDeployment(0, 1, 2),)), window_h=1.0, commit_h=1.0)
    assert r.objective_usd == pytest.approx(87.5, abs=1e-6)
    np.testing.assert_allclose(r.running[:, 0], [10.0, 5.0, 10.0], atol=1e-6)
    # over hours 1-2 with one-hour windows, hour 2's window has both the reference and the sale
    # before it (constants): hour 1 keeps f1 <= 1 - r1 and earns 10 + 15 r1, so it sells
    # r1 = 0.5 (myopic); hour 2 then runs at most 0.5 MW and sells 0.5: 17.5. 35 + 17.5 + 17.5
    r = solve_rolling(_hand((ReserveDeployment(0, 1, 3),)), window_h=1.0, commit_h=1.0)
    assert r.objective_usd == pytest.approx(70.0, abs=1e-6)
    np.testing.assert_allclose(r.running[:, 0], [10.0, 5.0, 5.0], atol=1e-6)


def test_scenario_deployments_cap_the_optimum_over_the_backtests_intervals():
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["run"]["end"] = "2024-05-02T00:00:00Z"
    # availability at 300 USD/MW-h: worth selling into the deployment and curtailing for it
    ecrs = {"offer_mw": 40, "price_usd_per_mw_h": 300.0}
    deploy = {"at": "2024-05-01T18:05:00Z", "duration_minutes": 40}
    doc["programs"] = {"ecrs": {**ecrs, "deployments": [deploy]}}
    scn = parse_scenario(doc)
    inputs = build_inputs(scn)
    config = ControllerConfig.from_scenario(scn)
    p = problem_from_inputs(inputs, config, scn)
    (d,) = p.reserves.deployments
    # the backtest's plan caps the same intervals: from 18:00-18:15, which holds the
    # instruction, to 18:45, where the 40 minutes end
    (ev,) = [e for e in build_plan(scn, inputs, config).events if e.kind == "deployment"]
    assert (ev.start_tick, ev.end_tick) == (72, 75)
    assert (d.start, d.stop) == (72, 75)
    s = solve(p)
    flex = s.running @ (p.run_mw - p.sleep_mw)
    sold = s.reserve_mw[d.start, d.product]
    assert sold == pytest.approx(40.0, abs=1e-6)  # the whole offer, from running miners
    # the cap binds: the miners drop by the MW sold from their power before the instruction
    np.testing.assert_allclose(flex[d.start : d.stop], flex[d.start - 1] - sold, atol=1e-6)
    doc["programs"] = {"ecrs": ecrs}
    free = solve(problem_from_inputs(inputs, config, parse_scenario(doc)))
    assert free.objective_usd > s.objective_usd + 100.0
    free_flex = free.running @ (p.run_mw - p.sleep_mw)
    assert (free_flex[d.start : d.stop] > free_flex[d.start - 1] - sold + 1.0).all()
