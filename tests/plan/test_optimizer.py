"""The conversion optimiser against brute force (every schedule of a small case enumerated and
valued through the plan's own schedule and cash flows), its constraints on the schedules it
returns, and an infeasible minimum naming the constraint."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ballast.plan import PlanError, parse_plan, run_plan
from ballast.plan import milp as milp_mod
from ballast.plan.model import gbm_parameters, schedule
from ballast.plan.optimizer import (
    OptimizeInfeasible,
    conversion_milp,
    scenario_paths,
    strategy_npv_usd,
    to_strategy,
)
from tests.plan.helpers import plan_doc

# 100 MW site in 25 MW blocks, 4 years; blocks may start 2025-2027 (a 1-year build leases by
# 2028); 10 MW of spare interconnect for firm ballast; budget and demand both bind.
SMALL = {
    "horizon_years": 4,
    "site": {"mining_mw": 100.0, "interconnect_mw": 110.0},
    "hosting": {**plan_doc()["hosting"], "term_years": 3, "lease_usd_per_kw_month": 110.0},
    "strategies": [{"name": "keep", "kind": "keep_mining"}],
}
OPTIMIZE = {
    "block_mw": 25.0,
    "scenarios": 20,
    "ballast_uptime": 0.4,
    "ballast_value_usd_per_mw_yr": 150_000.0,
    "capex_budget_usd_per_yr": 45e6,  # 20 MW of IT a block at 1 M USD/MW: two blocks a year
    "tenant_demand_mw_it_per_yr": 60.0,  # three blocks' IT entering service a year
}


def small_plan(**optimize):
    return parse_plan(plan_doc(**SMALL, optimize={**OPTIMIZE, **optimize}))


def meets_constraints(plan, x) -> bool:
    """Budget, demand, lead time and the site, checked on a schedule built by the model."""
    o = plan.optimize
    n = plan.horizon_years
    first = o.lead_time_years
    last = n - 1 - plan.hosting.build_years
    if sum(x) * o.block_mw > plan.site.mining_mw or any(x[y] for y in range(n) if not first <= y <= last):
        return False
    strategy, _ = to_strategy(plan, "x", x, [0] * n)
    s = schedule(plan, strategy)
    if o.capex_budget_usd_per_yr is not None and (s.capex_usd > o.capex_budget_usd_per_yr + 1e-6).any():
        return False
    entering = np.diff(s.it_mw, prepend=0.0).clip(0.0)
    if o.tenant_demand_mw_it_per_yr is not None and (entering > o.tenant_demand_mw_it_per_yr + 1e-9).any():
        return False
    return True


def worst_mean(values, share):
    k = round(share * len(values))
    return float(np.sort(values)[:k].mean())


def brute_force(plan, btc, objective, share=0.1):
    """Every schedule (blocks started per year, blocks kept as ballast per year), valued with the
    model's schedule and cash flows; the best objective and its decision."""
    n = plan.horizon_years
    best = (-np.inf, None)
    for x in itertools.product(range(5), repeat=n):
        if not meets_constraints(plan, x):
            continue
        for z in itertools.product(*(range(k + 1) for k in x)):
            strategy, ballast = to_strategy(plan, "x", x, z)
            npv = strategy_npv_usd(plan, strategy, btc, ballast)
            value = float(np.mean(npv)) if objective == "expected_npv" else worst_mean(npv, share)
            if value > best[0]:
                best = (value, (x, z))
    return best


@pytest.mark.parametrize("objective", ["expected_npv", "cvar"])
def test_optimum_equals_brute_force(objective):
    plan = small_plan(objective=objective, cvar_level=0.1)
    btc = scenario_paths(plan, gbm_parameters(plan))
    m = conversion_milp(plan, btc)
    sol = milp_mod.solve(m)
    value, (x, _) = brute_force(plan, btc, objective)
    assert sol.objective_usd == pytest.approx(value, rel=1e-7, abs=1.0)
    # the MILP's schedule, valued by the model, gives the same objective
    strategy, ballast = to_strategy(plan, "opt", sol.convert_blocks, sol.ballast_blocks)
    npv = strategy_npv_usd(plan, strategy, btc, ballast)
    assert npv == pytest.approx(sol.npv_usd, rel=1e-9)
    got = float(np.mean(npv)) if objective == "expected_npv" else worst_mean(npv, 0.1)
    assert got == pytest.approx(value, rel=1e-7, abs=1.0)
    assert sum(x) > 0, "the case should convert something, or it tests little"


def test_brute_force_case_uses_the_ballast_and_the_budget():
    plan = small_plan()
    btc = scenario_paths(plan, gbm_parameters(plan))
    value, (_, z) = brute_force(plan, btc, "expected_npv")
    assert sum(z) > 0  # the ballast's grid value makes keeping miners pay here
    unconstrained = small_plan(capex_budget_usd_per_yr=None, tenant_demand_mw_it_per_yr=None)
    free_value, _ = brute_force(unconstrained, btc, "expected_npv")
    assert free_value > value  # the limits bind


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"lead_time_years": 1},
        {"capex_budget_usd_per_yr": [25e6, 0.0, 45e6, 45e6], "tenant_demand_mw_it_per_yr": 20.0},
        {"objective": "cvar", "cvar_level": 0.25, "capex_budget_usd_per_yr": 21e6},
    ],
)
def test_no_optimum_violates_budget_lead_time_demand_or_interconnect(changes):
    plan = small_plan(**changes)
    result = run_plan(plan, n_paths=10)
    opt = next(r for r in result.strategies if r.strategy.name == plan.optimize.name)
    s, o = opt.schedule, plan.optimize
    budget = milp_mod_per_year(o.capex_budget_usd_per_yr, plan.horizon_years)
    assert (s.capex_usd <= budget + 1e-6).all()
    first = plan.start_year + o.lead_time_years
    assert all(ph.year >= first for ph in opt.strategy.phases)
    assert all(ph.year + plan.hosting.build_years <= s.years[-1] for ph in opt.strategy.phases)
    entering = np.diff(s.it_mw, prepend=0.0).clip(0.0)
    demand = milp_mod_per_year(o.tenant_demand_mw_it_per_yr, plan.horizon_years)
    assert (entering <= demand + 1e-9).all()
    ai_grid_mw = s.it_mw * plan.hosting.pue
    assert (s.mining_mw + ai_grid_mw + s.ballast_firm_mw <= plan.site.interconnect_mw + 1e-9).all()
    assert (s.ballast_mw <= s.converted_mw + 1e-9).all()
    assert result.optimum.solution.mip_gap <= o.mip_rel_gap


def milp_mod_per_year(value, n):
    return np.full(n, np.inf) if value is None else np.broadcast_to(np.asarray(value, dtype="float64"), (n,))


def test_the_stochastic_optimum_beats_the_deterministic_plan_on_its_objective():
    plan = small_plan(objective="cvar", cvar_level=0.2, capex_budget_usd_per_yr=None)
    o = run_plan(plan, n_paths=10).optimum
    assert o.objective_usd >= o.deterministic_objective_usd - 1e-6
    assert o.deterministic_case_npv_usd >= o.case_npv_usd - 1e-6  # optimal in its own case


def test_no_ballast_when_not_allowed():
    o = run_plan(small_plan(allow_ballast=False), n_paths=10).optimum
    assert not o.decision.ballast_blocks.any() and o.strategy.kind in ("convert", "keep_mining")


@pytest.mark.parametrize(
    ("changes", "field", "most"),
    [
        ({"capex_budget_usd_per_yr": 21e6}, "optimize.capex_budget_usd_per_yr", "at most 50 MW can"),
        ({"tenant_demand_mw_it_per_yr": 20.0}, "optimize.tenant_demand_mw_it_per_yr", "at most 50 MW can"),
        ({"lead_time_years": 2, "min_convert_mw": 25.0}, "optimize.lead_time_years", "at most 0 MW can"),
    ],
)
def test_an_infeasible_minimum_names_the_constraint(tmp_path, changes, field, most):
    # by 2026: one block a year under the budget or the demand; none before 2027 after the lead time
    spec = {"min_convert_mw": 75.0, "min_convert_by_year": 2026, "capex_budget_usd_per_yr": None}
    plan = small_plan(**{**spec, "tenant_demand_mw_it_per_yr": None, **changes})
    with pytest.raises(OptimizeInfeasible) as err:
        run_plan(plan, n_paths=5)
    blocks = round(plan.optimize.min_convert_mw / 25)
    message = str(err.value)
    assert message.startswith(
        f"optimize.min_convert_mw: {blocks * 25} MW ({blocks} blocks of 25 MW) cannot start by 2026"
    )
    assert field in message and most in message
    # the same bound without the named constraint is feasible
    relaxed = {k: None if k != "lead_time_years" else 0 for k in changes if k != "min_convert_mw"}
    assert run_plan(
        small_plan(**{**spec, "tenant_demand_mw_it_per_yr": None, **changes, **relaxed}), n_paths=5
    ).optimum


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"capex_budget_usd_per_yr": [1.0, 2.0]},
            "optimize.capex_budget_usd_per_yr: 2 values for a 4-year horizon",
        ),
        ({"tenant_demand_mw_it_per_yr": -5.0}, "optimize.tenant_demand_mw_it_per_yr: must be >= 0"),
        ({"name": "keep"}, "optimize.name: 'keep' is already a strategy's name"),
        ({"ballast_uptime": 1.0}, "optimize.ballast_uptime: 1 exceeds mining.uptime"),
        ({"lead_time_years": 3}, "optimize.lead_time_years: conversion could start in 2028"),
        ({"min_convert_by_year": 2028}, "optimize.min_convert_by_year: 2028 is outside 2025-2027"),
        ({"block_mw": 0}, "optimize.block_mw"),
    ],
)
def test_bad_optimize_fields_are_named(changes, message):
    doc = plan_doc(**SMALL, optimize={**OPTIMIZE, **changes})
    doc["mining"] = {**doc["mining"], "uptime": 0.9}
    with pytest.raises(PlanError, match="invalid plan") as err:
        parse_plan(doc, "p.yaml")
    assert message in str(err.value)


def test_the_optimum_in_the_table_has_the_milps_npv():
    # the MILP's linear NPV of its schedule equals the model's NPV of that schedule as a strategy
    plan = small_plan(capex_budget_usd_per_yr=None, tenant_demand_mw_it_per_yr=None)
    result = run_plan(plan, n_paths=10)
    row = next(r for r in result.strategies if r.strategy.name == "optimal")
    assert row.metrics["flat"]["npv_usd"] == pytest.approx(result.optimum.case_npv_usd, rel=1e-9)
    assert row.schedule.converted_mw[-1] > 0 and row.schedule.ballast_mw.any()


def test_run_plan_tells_its_long_steps():
    said: list[str] = []
    run_plan(small_plan(), n_paths=7, progress=said.append)
    assert said == [
        "optimising the conversion over 20 price paths",
        "valuing 2 strategies over 7 price paths",
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"capex_budget_usd_per_yr": 19e6},  # a block is 20 MW of IT at 1 M USD/MW
            "optimize.capex_budget_usd_per_yr: no year's budget pays for one 25 MW block (20.0 M USD",
        ),
        (
            {"tenant_demand_mw_it_per_yr": 19.0},
            "optimize.tenant_demand_mw_it_per_yr: no year's demand takes one 25 MW block (20 MW of IT)",
        ),
    ],
)
def test_a_budget_or_demand_below_one_block_is_named(changes, message):
    with pytest.raises(OptimizeInfeasible) as err:
        run_plan(small_plan(**changes), n_paths=5)
    assert str(err.value).startswith(message)


def test_no_proven_optimum_in_time_is_an_error_naming_the_limit():
    with pytest.raises(OptimizeInfeasible, match=r"optimize.time_limit_s: HiGHS stopped without a proven"):
        run_plan(small_plan(objective="cvar", time_limit_s=1e-9), n_paths=5)


MIXED = [  # the old model idles on the low price paths, the new one hardly ever
    {"name": "new", "share": 0.5, "efficiency_j_per_th": 15.0},
    {"name": "old", "share": 0.5, "efficiency_j_per_th": 45.0},
]


@pytest.mark.parametrize("objective", ["expected_npv", "cvar"])
def test_mixed_fleet_optimum_equals_brute_force(objective):
    # conversion takes the old model's MW first: each block has its own coefficients
    mining = {**plan_doc()["mining"], "efficiency_j_per_th": None, "models": MIXED}
    optimize = {**OPTIMIZE, "allow_ballast": False, "objective": objective, "cvar_level": 0.1}
    plan = parse_plan(plan_doc(**SMALL, mining=mining, optimize=optimize))
    btc = scenario_paths(plan, gbm_parameters(plan))
    m = conversion_milp(plan, btc)
    assert m.slice_npv_usd is not None
    # the old model's block gives up less mining than the new one's: worth more converted
    assert (m.slice_npv_usd[:, 0, 1] >= m.slice_npv_usd[:, 3, 1]).all()
    assert (m.slice_npv_usd[:, 0, 1] > m.slice_npv_usd[:, 3, 1]).any()
    sol = milp_mod.solve(m)
    best, n = -np.inf, plan.horizon_years
    for x in itertools.product(range(5), repeat=n):
        if meets_constraints(plan, x):
            strategy, _ = to_strategy(plan, "x", x, [0] * n)
            npv = strategy_npv_usd(plan, strategy, btc)
            best = max(best, float(np.mean(npv)) if objective == "expected_npv" else worst_mean(npv, 0.1))
    assert sol.objective_usd == pytest.approx(best, rel=1e-7, abs=1.0)
    strategy, _ = to_strategy(plan, "opt", sol.convert_blocks, sol.ballast_blocks)
    assert strategy_npv_usd(plan, strategy, btc) == pytest.approx(sol.npv_usd, rel=1e-9)
    assert sum(sol.convert_blocks) > 0


def test_mixed_fleet_optimiser_needs_ballast_off():
    mining = {**plan_doc()["mining"], "efficiency_j_per_th": None, "models": MIXED}
    with pytest.raises(PlanError, match=r"optimize\.allow_ballast: with mining\.models"):
        parse_plan(plan_doc(**SMALL, mining=mining, optimize=OPTIMIZE))


def test_a_mixed_fleet_infeasible_minimum_names_the_constraint():
    mining = {**plan_doc()["mining"], "efficiency_j_per_th": None, "models": MIXED}
    optimize = {
        **OPTIMIZE,
        "allow_ballast": False,
        "min_convert_mw": 75.0,
        "min_convert_by_year": 2026,
        "capex_budget_usd_per_yr": 21e6,
        "tenant_demand_mw_it_per_yr": None,
    }
    with pytest.raises(OptimizeInfeasible) as err:
        run_plan(parse_plan(plan_doc(**SMALL, mining=mining, optimize=optimize)), n_paths=5)
    message = str(err.value)
    assert message.startswith("optimize.min_convert_mw: 75 MW (3 blocks of 25 MW) cannot start by 2026")
    assert "limited by optimize.capex_budget_usd_per_yr" in message and "at most 50 MW can" in message
