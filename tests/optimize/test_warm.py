"""The warm start cut out of the run's own LP (``optimize.warm``): a window's slice of the run's
LP is the window's own LP, and the start it gives leads HiGHS to the cold optimum; the import
columns moved into their rows (``optimize.presolve``) keep the optimum."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.costs import FourCpLinear
from ballast.optimize import merit
from ballast.optimize.lp import build_lp, drop_fixed, layout, pass_lp
from ballast.optimize.model import BatteryParams, _highs, run_highs, solve, warm_start_pays
from ballast.optimize.presolve import substitute_imports
from ballast.optimize.rolling import slice_reach, window
from ballast.optimize.warm import sliced_warm_start, window_map
from tests.optimize.random_cases import random_case
from tests.optimize.test_hand_cases import problem


def random_problem(seed: int, n: int, reserves: bool):
    battery = BatteryParams(power_mw=1.0, energy_mwh=4.0, efficiency=0.93, initial_soc_mwh=2.0)
    return random_case(np.random.default_rng(seed), n, reserves=reserves, battery=battery)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), reserves=st.booleans(), start=st.integers(0, 40), soc=st.floats(0.0, 4.0)
)
def test_a_window_sliced_from_the_run_s_lp_is_the_window_s_own_lp(seed, reserves, start, soc):
    # build_lp of the window problem (rolling.window) against the run's LP sliced by
    # warm.window_map: the same costs, bounds and right-hand sides, except the window's first
    # state-of-charge row (its start) and last state of charge (its floor), which
    # sliced_warm_start sets; the same matrix wherever the window starts
    n, w = 60, 20
    p = random_problem(seed, n, reserves)
    reach = merit.reach_bounds(p)
    run = build_lp(p, reach=reach)
    win = window(p, start, start + w, soc)
    own = build_lp(win, reach=slice_reach(reach, n, len(p.count), start, start + w))
    wlay = layout(win)
    m = window_map(wlay, layout(p))
    col, row = m.col0 + start * m.col_step, m.row0 + start
    np.testing.assert_array_equal(run.cost[col], own.cost)
    np.testing.assert_array_equal(run.upper[col], own.upper)
    last_soc = wlay.ch + 3 * w - 1
    lower = run.lower[col]
    assert own.lower[last_soc] == 2.0  # the run's initial state: each window's floor
    lower[last_soc] = own.lower[last_soc]
    np.testing.assert_array_equal(lower, own.lower)
    row_lo, row_hi = run.row_lower[row], run.row_upper[row]
    assert own.row_lower[w] == own.row_upper[w] == soc
    row_lo[w] = row_hi[w] = soc
    np.testing.assert_array_equal(row_lo, own.row_lower)
    np.testing.assert_array_equal(row_hi, own.row_upper)
    first = build_lp(window(p, 0, w, 1.0), fix_out_of_reach=False)
    for name in ("start", "index", "value"):
        np.testing.assert_array_equal(getattr(first, name), getattr(own, name))
    # each column and row's interval in the window
    assert m.col_t[wlay.imp + 7] == m.col_t[wlay.ch + 2 * w + 7] == 7
    assert m.row_t[w + 7] == 7


def cold_objective(p) -> float:
    h = _highs()
    pass_lp(h, build_lp(p))
    return run_highs(h)[1]


def test_the_sliced_start_is_a_nearly_optimal_point_of_the_run():
    # five weeks hourly (two windows, the second moved back to end with the run) with reserves
    p = random_problem(11, 5 * 168, reserves=True)
    full = build_lp(p, reach=merit.reach_bounds(p))
    x, col_dual, row_dual = sliced_warm_start(p, full)
    assert len(x) == len(col_dual) == full.num_col and len(row_dual) == full.num_row
    assert (x >= full.lower - 1e-6).all() and (x <= full.upper + 1e-6).all()
    col = np.repeat(np.arange(full.num_col), np.diff(full.start))
    activity = np.bincount(full.index, weights=full.value * x[col], minlength=full.num_row)
    # every row holds but the state of charge where the last window starts (it restarts from
    # the kept dispatch before it, and its intervals kept follow its own path)
    bad = np.flatnonzero((activity < full.row_lower - 1e-6) | (activity > full.row_upper + 1e-6))
    lay = layout(p)
    assert set(bad) <= {lay.n + 480}
    cold = cold_objective(p)
    assert cold - 0.01 * abs(cold) <= float(full.cost @ x) <= cold + 0.01 * abs(cold)
    assert solve(p).objective_usd == pytest.approx(cold, rel=1e-9)


def test_a_window_without_an_optimum_of_its_own_leaves_the_run_cold():
    # The battery starts full (4 MWh) and each window must end at least there. At hour 503,
    # the last of the first three-week window, the AI load is 6 MW against a 5 MW import
    # limit: the battery must give 1 MW, which that window cannot make up before it ends, but
    # the run can, later. No warm start; solve() still finds the run's optimum.
    n = 5 * 168
    ai = np.full(n, 3.0)
    ai[503] = 6.0
    b = BatteryParams(power_mw=1.0, energy_mwh=4.0, efficiency=0.95, initial_soc_mwh=4.0)
    rng = np.random.default_rng(2)
    p = problem(
        rng.uniform(10.0, 60.0, n), ai, counts=[100], run_mw=[0.01],
        value_usd=rng.uniform(0.2, 0.6, (n, 1)), import_limit_mw=5.0, battery=b,
    )  # fmt: skip
    assert warm_start_pays(p)
    assert sliced_warm_start(p, build_lp(p)) is None
    s = solve(p)
    assert s.objective_usd == pytest.approx(cold_objective(p), rel=1e-9)
    assert s.battery_mw[503] == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), reserves=st.booleans(), peak=st.booleans())
def test_imports_moved_into_their_rows_keep_the_optimum(seed, reserves, peak):
    # presolve.substitute_imports: HiGHS (presolve off) on the LP without its import columns
    # reaches the full LP's optimum, and restore() gives back imports that satisfy the full
    # LP's rows and bounds; a 4CP bucket's members keep their import column (it is in the
    # bucket's row too)
    n = 60
    p = random_problem(seed, n, reserves)
    if peak:
        p = replace(p, peak_charge=FourCpLinear(np.array([50.0]), np.array([0]), [np.arange(10, 14)], []))
    full = build_lp(p)
    sub = substitute_imports(full, layout(p))
    moved = np.setdiff1d(np.arange(n), np.arange(10, 14) if peak else [])
    moved = moved[full.lower[layout(p).imp + moved] < full.upper[layout(p).imp + moved]]
    np.testing.assert_array_equal(sub.col, layout(p).imp + moved)
    red = drop_fixed(sub.lp)
    assert red.lp.num_col == int((full.lower < full.upper).sum()) - len(moved)
    h = _highs()
    h.setOptionValue("presolve", "off")
    pass_lp(h, red.lp)
    x, objective, _ = run_highs(h)
    assert objective == pytest.approx(cold_objective(p), rel=1e-9, abs=1e-7)
    xf = sub.restore(red.full_x(x))
    assert float(full.cost @ xf) + full.offset == pytest.approx(objective, rel=1e-9, abs=1e-7)
    col = np.repeat(np.arange(full.num_col), np.diff(full.start))
    activity = np.bincount(full.index, weights=full.value * xf[col], minlength=full.num_row)
    assert (activity >= full.row_lower - 1e-6).all() and (activity <= full.row_upper + 1e-6).all()
    assert (xf >= full.lower - 1e-9).all() and (xf <= full.upper + 1e-9).all()
