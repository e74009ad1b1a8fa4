"""The closed-form merit order (no battery) and the columns a battery cannot move, both
against HiGHS on the full LP of random small cases."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.optimize.lp import basis_from_point, build_lp, drop_fixed, pass_lp
from ballast.optimize.merit import solve_merit
from ballast.optimize.model import BatteryParams, _highs, run_highs, solve
from tests.optimize.random_cases import random_case
from tests.optimize.test_hand_cases import problem


def highs_objective(p, **kw) -> float:
    h = _highs()
    pass_lp(h, build_lp(p, **kw))
    return run_highs(h)[1]


def random_problem(seed: int, battery: bool):
    rng = np.random.default_rng(seed)
    p = random_case(rng, 48)
    share = float(rng.choice([0.0, 0.5, 1.0]))
    p = replace(p, export_cost_usd_per_mw=-share * p.import_cost_usd_per_mw)
    if battery:
        b = BatteryParams(
            power_mw=float(rng.uniform(0.5, 3.0)),
            energy_mwh=float(rng.uniform(1, 6)),
            efficiency=float(rng.uniform(0.85, 1.0)),
            initial_soc_mwh=0.5,
        )
        p = replace(p, battery=b)
    return p


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_merit_order_equals_highs_without_a_battery(seed):
    p = random_problem(seed, battery=False)
    _, objective = solve_merit(p)
    theirs = highs_objective(p)
    assert objective == pytest.approx(theirs, rel=1e-9, abs=1e-7)
    # the closed form's dispatch is feasible: the balance holds and the import limit too
    s = solve(p)
    assert s.solver == "merit order"
    assert s.objective_usd == objective
    assert (s.import_mw <= p.import_limit_mw + 1e-9).all()
    assert (-s.import_mw <= p.export_limit_mw + 1e-9).all()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fixing_the_columns_a_battery_cannot_move_keeps_the_optimum(seed):
    p = random_problem(seed, battery=True)
    fixed = highs_objective(p)
    free = highs_objective(p, fix_out_of_reach=False)
    assert fixed == pytest.approx(free, rel=1e-9, abs=1e-7)
    # the dispatch read back (substituted columns restored) balances and earns the objective
    s = solve(p)
    flex_mw = (s.running * (p.run_mw - p.sleep_mw)).sum(axis=1)
    site_mw = p.ai_load_mw + p.sleep_total_mw + flex_mw - p.renewable_mw + s.curtailed_mw
    np.testing.assert_allclose(s.import_mw, site_mw - s.battery_mw, atol=1e-6)
    assert (s.import_mw <= p.import_limit_mw + 1e-6).all() and (s.curtailed_mw >= -1e-9).all()
    assert (s.curtailed_mw <= p.renewable_mw + 1e-6).all()
    imp = s.import_mw
    energy = np.where(imp >= 0, imp * p.import_cost_usd_per_mw, -imp * p.export_cost_usd_per_mw)
    earned = (s.running * p.value_usd_per_miner).sum() - energy.sum()
    assert earned == pytest.approx(s.objective_usd, rel=1e-7, abs=1e-6)


def test_merit_order_by_hand():
    # One hour, AI 1 MW, 2 MW of wind, export up to 0.5 MW at the full price of 20 USD/MWh;
    # group A: 0.5 MW valued 30 USD/MWh, group B: 1 MW valued 10 USD/MWh.
    # The wind covers AI (1 MW), then A (0.5 MW, worth 30 > 20), then the export (0.5 MW at
    # 20 > B's 10); nothing is imported (B is worth 10 < 20), nothing curtailed.
    # Objective = 0.5 x 30 + 0.5 x 20 = 25 USD.
    p = problem(
        [20.0],
        [1.0],
        counts=[1, 1],
        run_mw=[0.5, 1.0],
        value_usd=[[15.0, 10.0]],
        renewable_mw=[2.0],
        export_limit_mw=0.5,
    )
    s = solve(p)
    assert s.objective_usd == pytest.approx(25.0, abs=1e-9)
    np.testing.assert_allclose(s.running[0], [1.0, 0.0], atol=1e-12)
    assert s.import_mw[0] == pytest.approx(-0.5, abs=1e-12)
    assert s.curtailed_mw[0] == pytest.approx(0.0, abs=1e-12)


def test_a_warm_start_from_weekly_windows_reaches_the_cold_optimum():
    # five weeks hourly: solve() starts HiGHS from a basis read off the three-week windows'
    # dispatch and duals (lp.basis_from_point)
    from ballast.optimize.model import warm_start_pays

    rng = np.random.default_rng(7)
    n = 5 * 168
    p = problem(
        rng.choice([-20.0, 15.0, 35.0, 80.0, 600.0], n) + rng.normal(0, 5, n),
        np.full(n, 3.0),
        counts=[300, 300],
        run_mw=[0.003, 0.0035],
        value_usd=rng.uniform(0.02, 0.2, (n, 2)),
        renewable_mw=rng.uniform(0.0, 2.0, n),
        import_limit_mw=5.0,
        export_limit_mw=2.0,
        battery=BatteryParams(power_mw=1.0, energy_mwh=4.0, efficiency=0.93, initial_soc_mwh=2.0),
    )
    assert warm_start_pays(p)
    warm = solve(p)
    assert warm.status == "Optimal"
    assert warm.objective_usd == pytest.approx(highs_objective(p), rel=1e-9)
    assert warm.soc_mwh[-1] >= 2.0 - 1e-6


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_dropping_the_fixed_columns_keeps_the_optimum(seed):
    # lp.drop_fixed moves the fixed columns into the row bounds and the objective's constant:
    # HiGHS on the reduced LP (presolve off, so HiGHS removes nothing itself) reaches the full
    # LP's optimum, and the columns it gives back satisfy the full LP's rows
    p = random_problem(seed, battery=True)
    full = build_lp(p)
    red = drop_fixed(full)
    assert red.lp.num_col == int((full.lower < full.upper).sum())
    h = _highs()
    h.setOptionValue("presolve", "off")
    pass_lp(h, red.lp)
    x, objective, _ = run_highs(h)
    assert objective == pytest.approx(highs_objective(p), rel=1e-9, abs=1e-7)
    xf = red.full_x(x)
    assert float(full.cost @ xf) == pytest.approx(objective, rel=1e-9, abs=1e-7)
    col = np.repeat(np.arange(full.num_col), np.diff(full.start))
    activity = np.bincount(full.index, weights=full.value * xf[col], minlength=full.num_row)
    assert (activity >= full.row_lower - 1e-6).all() and (activity <= full.row_upper + 1e-6).all()
    assert (xf >= full.lower - 1e-9).all() and (xf <= full.upper + 1e-9).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_basis_read_off_the_optimum_needs_no_more_pivots(seed):
    # lp.basis_from_point on HiGHS's own optimal point: columns strictly inside their bounds
    # basic, equality rows nonbasic, and HiGHS, started from it (an alien basis it repairs),
    # proves the same optimum in fewer pivots than from the slack basis
    p = random_problem(seed, battery=True)
    lp = drop_fixed(build_lp(p)).lp
    h = _highs()
    h.setOptionValue("presolve", "off")
    pass_lp(h, lp)
    x, objective, _ = run_highs(h)
    cold_pivots = h.getInfo().simplex_iteration_count
    sol = h.getSolution()
    basis = basis_from_point(lp, x, np.asarray(sol.col_dual), np.asarray(sol.row_dual))
    status = np.array([int(s) for s in basis.col_status])
    inside = (x > lp.lower + 1e-6) & (x < lp.upper - 1e-6)
    assert (status[inside] == 1).all()
    rows = np.array([int(s) for s in basis.row_status])
    assert (rows[lp.row_lower == lp.row_upper] != 1).all()
    warm = _highs()
    pass_lp(warm, lp)
    warm.setBasis(basis)
    assert run_highs(warm)[1] == pytest.approx(objective, rel=1e-9, abs=1e-7)
    # 300 seeds: 1.2 % of the cold pivots on average, 25 % at most (degenerate ties)
    assert warm.getInfo().simplex_iteration_count <= max(5, cold_pivots // 2)
