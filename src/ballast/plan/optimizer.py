"""The conversion optimiser (docs/plan.md#optimizer): the MW to convert each year, in blocks,
and whether to keep their miners as ballast, maximising expected NPV or CVaR over seeded BTC
price paths, under the plan's interconnect, capex budget, lead time and tenant demand.

A strategy's NPV is linear in the blocks started per year, the blocks kept as ballast and the
MW of ballast hashing firm (every line item of ``model.cash_flows`` is: a year whose hashprice
does not cover the energy idles every MW alike), so the MILP's coefficients are differences of
the plan's own NPVs for one block (``model.schedule`` and ``model.cash_flows``), not a second
copy of the arithmetic. A mixed fleet (``mining.models``) is converted least efficient first, so
each block of the site gets its own coefficients, from the models it removes
(``block_npv_usd``). ``ballast.plan.milp`` builds and solves it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ballast.plan import bitcoin_future as bf
from ballast.plan import finance, fleet, milp
from ballast.plan.document import Phase, Plan, PlanError, Strategy
from ballast.plan.model import BitcoinYears, bitcoin_years, cash_flows, schedule
from ballast.plan.optimize_document import last_start_year, per_year

CONSTRAINT_FIELDS = {
    "site": "site.mining_mw",
    "lead_time": "optimize.lead_time_years",
    "capex_budget": "optimize.capex_budget_usd_per_yr",
    "tenant_demand": "optimize.tenant_demand_mw_it_per_yr",
}


class OptimizeInfeasible(PlanError):
    """The optimiser has no schedule to report (the constraints admit none, or HiGHS proved
    none in time); the message names the field."""


@dataclass(frozen=True)
class Decision:
    """Blocks started and kept as ballast per year, and firm ballast MW per year."""

    convert_blocks: np.ndarray
    ballast_blocks: np.ndarray
    firm_mw: np.ndarray


@dataclass
class Optimum:
    """The optimal schedule as a strategy (with its ballast MW per year), its NPV per scenario,
    the best deterministic plan (optimal in the base price case) judged on the same scenarios,
    and the MILP's size and gap."""

    strategy: Strategy
    ballast_mw: np.ndarray
    decision: Decision
    npv_usd: np.ndarray
    objective_usd: float
    case_npv_usd: float  # in bitcoin.base_case
    deterministic: Decision
    deterministic_npv_usd: np.ndarray
    deterministic_objective_usd: float
    deterministic_case_npv_usd: float
    solution: milp.MilpSolution


def to_strategy(plan: Plan, name: str, convert_blocks, ballast_blocks) -> tuple[Strategy, np.ndarray]:
    """A decision as a plan strategy and its ballast MW per year."""
    o = plan.optimize
    years = plan.start_year + np.arange(plan.horizon_years)
    phases = [
        Phase(year=int(y), mw=float(k) * o.block_mw) for y, k in zip(years, convert_blocks, strict=True) if k
    ]
    ballast_mw = np.cumsum(ballast_blocks) * o.block_mw
    kind = "hybrid" if ballast_mw[-1] > 0 else "convert" if phases else "keep_mining"
    strategy = Strategy(
        name=name,
        kind=kind,
        phases=phases,
        ballast_mw=float(ballast_mw[-1]),
        ballast_uptime=o.ballast_uptime,
        ballast_value_usd_per_mw_yr=o.ballast_value_usd_per_mw_yr,
    )
    return strategy, ballast_mw


def strategy_npv_usd(plan: Plan, strategy: Strategy, btc: BitcoinYears, ballast_mw=None) -> np.ndarray:
    """NPV per scenario [USD] of a strategy (``ballast_mw`` per year overrides its ballast)."""
    flows = cash_flows(plan, strategy, schedule(plan, strategy, ballast_mw), btc)
    return np.atleast_1d(finance.npv(plan.discount_rate, flows["cash_flow_usd"]))


def _with_spare(plan: Plan, spare_mw: float) -> Plan:
    site = plan.site.model_copy(update={"interconnect_mw": plan.site.mining_mw + spare_mw})
    return plan.model_copy(update={"site": site})


def conversion_milp(plan: Plan, btc: BitcoinYears, objective: str | None = None) -> milp.ConversionMilp:
    """The MILP's coefficients on scenarios ``btc`` and the plan's limits."""
    o = plan.optimize
    n = plan.horizon_years
    blk = o.block_mw
    first, last = o.lead_time_years, last_start_year(plan) - plan.start_year
    flex, firm = _with_spare(plan, 0.0), _with_spare(plan, blk)

    def hybrid(y: int, ballast: float) -> Strategy:
        kind = "hybrid" if ballast else "convert"
        return Strategy(
            name="block",
            kind=kind,
            phases=[Phase(year=plan.start_year + y, mw=blk)],
            ballast_mw=ballast,
            ballast_uptime=o.ballast_uptime,
            ballast_value_usd_per_mw_yr=o.ballast_value_usd_per_mw_yr,
        )

    keep = Strategy(name="keep", kind="keep_mining")
    base = strategy_npv_usd(plan, keep, btc)
    s_count = len(base)
    convert, ballast = np.zeros((s_count, n)), np.zeros((s_count, n))
    capex = np.zeros((n, n))
    firm_from = np.zeros((s_count, n + 1))  # per MW of ballast hashing firm from year t to the end
    for y in range(n):
        one = strategy_npv_usd(plan, hybrid(y, 0.0), btc)
        if first <= y <= last:
            convert[:, y] = one - base
            ballast[:, y] = strategy_npv_usd(flex, hybrid(y, blk), btc) - one
            capex[y] = schedule(plan, hybrid(y, 0.0)).capex_usd
        kept = hybrid(y, blk)
        firm_from[:, y] = (strategy_npv_usd(firm, kept, btc) - strategy_npv_usd(flex, kept, btc)) / blk
    budget, demand = per_year(o.capex_budget_usd_per_yr, n), per_year(o.tenant_demand_mw_it_per_yr, n)
    site_blocks = math.floor(plan.site.mining_mw / blk + 1e-9)
    slices = None
    if len(fleet.fleet_models(plan)) > 1:  # a mixed fleet: block k's value is its models'
        slices = block_npv_usd(plan, btc, base, site_blocks, range(first, last + 1))
    if not o.allow_ballast:
        max_ballast = 0
    elif o.max_ballast_mw is None:
        max_ballast = site_blocks
    else:
        max_ballast = math.floor(o.max_ballast_mw / blk + 1e-9)
    by = last_start_year(plan) if o.min_convert_by_year is None else o.min_convert_by_year
    return milp.ConversionMilp(
        base_npv_usd=base,
        convert_npv_usd=convert,
        ballast_npv_usd=ballast,
        firm_npv_usd_per_mw=firm_from[:, :n] - firm_from[:, 1:],
        block_mw=blk,
        site_blocks=site_blocks,
        first_start=first,
        last_start=last,
        max_ballast_blocks=max_ballast,
        spare_mw=plan.site.interconnect_mw - plan.site.mining_mw,
        capex_usd_per_block=capex,
        budget_usd=None if budget is None else np.asarray(budget),
        it_mw_per_block=blk / plan.hosting.pue,
        build_years=plan.hosting.build_years,
        demand_mw_it=None if demand is None else np.asarray(demand),
        min_blocks=math.ceil(o.min_convert_mw / blk - 1e-9),
        min_by=by - plan.start_year,
        objective=objective or o.objective,
        cvar_level=o.cvar_level,
        mip_rel_gap=o.mip_rel_gap,
        time_limit_s=o.time_limit_s,
        slice_npv_usd=slices,
    )


def block_npv_usd(plan: Plan, btc: BitcoinYears, base_npv_usd: np.ndarray, blocks: int, years) -> np.ndarray:
    """A mixed fleet's NPV per block (S, blocks, years) [USD]: block k (least efficient first,
    the order a conversion takes MW in) started in year y is the NPV of k + 1 blocks started
    that year less that of k. Each model earns and idles on its own, so a block's value is the
    same whenever the blocks before it start: the NPV is the sum over the blocks."""
    o = plan.optimize
    out = np.zeros((len(base_npv_usd), blocks, plan.horizon_years))
    for y in years:
        before = base_npv_usd
        for k in range(blocks):
            phase = Phase(year=plan.start_year + y, mw=(k + 1) * o.block_mw)
            npv = strategy_npv_usd(plan, Strategy(name="blocks", kind="convert", phases=[phase]), btc)
            out[:, k, y], before = npv - before, npv
    return out


def check_a_block_fits(plan: Plan, m: milp.ConversionMilp) -> None:
    """``OptimizeInfeasible`` when the budget or the tenant demand leaves no year in which even
    one block can start: the optimiser would keep mining without saying why."""
    o = plan.optimize
    starts = range(m.first_start, m.last_start + 1)
    if m.budget_usd is not None and not any(
        (m.capex_usd_per_block[y] <= m.budget_usd + 1e-6).all() for y in starts
    ):
        need = max(m.capex_usd_per_block[m.first_start])
        raise OptimizeInfeasible(
            f"optimize.capex_budget_usd_per_yr: no year's budget pays for one {o.block_mw:g} MW "
            f"block ({need / 1e6:,.1f} M USD a build year); raise it or use a smaller block_mw"
        )
    if m.demand_mw_it is not None and not any(
        m.it_mw_per_block <= m.demand_mw_it[y + m.build_years] + 1e-9 for y in starts
    ):
        raise OptimizeInfeasible(
            f"optimize.tenant_demand_mw_it_per_yr: no year's demand takes one {o.block_mw:g} MW "
            f"block ({m.it_mw_per_block:g} MW of IT); raise it or use a smaller block_mw"
        )


def solve_or_explain(plan: Plan, m: milp.ConversionMilp) -> milp.MilpSolution:
    """Solve; when no schedule exists, ``OptimizeInfeasible`` naming the constraint."""
    check_a_block_fits(plan, m)
    try:
        return milp.solve(m)
    except milp.ConversionInfeasible:
        pass
    except milp.NoProvenOptimum as exc:
        raise OptimizeInfeasible(f"optimize.time_limit_s: {exc}; raise time_limit_s or mip_rel_gap") from None
    o = plan.optimize
    names = [CONSTRAINT_FIELDS[c] for c in milp.binding_constraints(m)]
    most_mw = milp.most_blocks_by(m) * o.block_mw
    year = plan.start_year + m.min_by
    raise OptimizeInfeasible(
        f"optimize.min_convert_mw: {m.min_blocks * o.block_mw:g} MW ({m.min_blocks} blocks of "
        f"{o.block_mw:g} MW) cannot start by {year}: at most {most_mw:g} MW can, limited by "
        f"{' and '.join(names)}"
    )


def scenario_paths(plan: Plan, gbm: dict) -> BitcoinYears:
    """The optimiser's scenarios: the first ``optimize.scenarios`` GBM paths of the plan's seed."""
    b = plan.bitcoin
    prices = bf.gbm_paths_usd(
        b.start_price_usd,
        gbm["log_drift_per_yr"],
        gbm["volatility_per_yr"],
        plan.horizon_years,
        plan.optimize.scenarios,
        gbm["seed"],
    )
    return bitcoin_years(plan, prices)


def _decision(sol: milp.MilpSolution) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return sol.convert_blocks, sol.ballast_blocks, sol.firm_mw


def linear_plan(plan: Plan) -> Plan:
    """The plan the MILP values: linear coefficients need one uptime and power price for every
    configuration, so with ``operations`` those measured on the site as it starts (all mining)
    replace ``mining.uptime`` and scale the power price, and operations are off."""
    if plan.operations is None:
        return plan
    from ballast.plan.operations import measure

    start = measure(plan, plan.site.mining_mw, 0.0)
    mining = plan.mining.model_copy(
        update={
            "uptime": start.uptime,
            "power_price_usd_per_mwh": plan.mining.power_price_usd_per_mwh * start.price_ratio,
        }
    )
    return plan.model_copy(update={"operations": None, "mining": mining})


def optimize_conversion(plan: Plan, gbm: dict, case_btc: BitcoinYears) -> Optimum:
    """The optimal schedule over the scenarios and the best deterministic plan (optimal in the
    base price case ``case_btc``), both judged on the scenarios."""
    o = plan.optimize
    plan = linear_plan(plan)
    m = conversion_milp(plan, scenario_paths(plan, gbm))
    sol = solve_or_explain(plan, m)
    det_m = conversion_milp(plan, case_btc, objective="expected_npv")
    det = solve_or_explain(plan, det_m)
    det_npv = milp.scenario_npv_usd(m, *_decision(det))
    strategy, ballast_mw = to_strategy(plan, o.name, sol.convert_blocks, sol.ballast_blocks)
    return Optimum(
        strategy=strategy,
        ballast_mw=ballast_mw,
        decision=Decision(sol.convert_blocks, sol.ballast_blocks, sol.firm_mw),
        npv_usd=sol.npv_usd,
        objective_usd=sol.objective_usd,
        case_npv_usd=float(milp.scenario_npv_usd(det_m, *_decision(sol))[0]),
        deterministic=Decision(det.convert_blocks, det.ballast_blocks, det.firm_mw),
        deterministic_npv_usd=det_npv,
        deterministic_objective_usd=milp.objective_usd(m, det_npv),
        deterministic_case_npv_usd=float(det.npv_usd[0]),
        solution=sol,
    )
