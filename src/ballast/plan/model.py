"""Strategies over a site's life: yearly schedule (MW mining, MW of AI, capex), cash flows per
Bitcoin scenario, NPV, IRR and payback per strategy, and the risk over seeded price paths.

Arrays of cash flows have shape (scenarios, years). The business-as-usual baseline is the first
``keep_mining`` strategy; IRR and payback are those of a strategy's cash flows minus the
baseline's (the investment in converting), as REopt reports them against its BAU case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ballast.plan import bitcoin_future as bf
from ballast.plan import finance, fleet, operations
from ballast.plan.document import Plan, Strategy
from ballast.plan.environment import footprint

if TYPE_CHECKING:  # the optimiser imports this module
    from ballast.plan.optimizer import Optimum

HOURS_PER_YEAR = fleet.HOURS_PER_YEAR
BITCOIN_HISTORY = "bundled:bitcoin_daily_2020_2025"
# The bundled daily closes without gaps: 2020-01-01 to 2025-04-07 (the last row, 2025-04-08, lacks one).
HISTORY_WINDOW = (pd.Timestamp("2020-01-01", tz="UTC"), pd.Timestamp("2025-04-08", tz="UTC"))
LINE_ITEMS = (
    "mining_revenue_usd",
    "energy_cost_usd",
    "lease_revenue_usd",
    "ballast_value_usd",
    "program_revenue_usd",
    "om_usd",
    "ebitda_usd",
    "depreciation_usd",
    "tax_usd",
    "capex_usd",
    "repower_capex_usd",
    "salvage_usd",
    "cash_flow_usd",
)
# per year and scenario beside the money (docs/plan.md#environment)
FOOTPRINT_ITEMS = ("mining_energy_mwh", "ai_energy_mwh", "energy_mwh", "co2_t", "water_m3")


@dataclass(frozen=True)
class Schedule:
    """A strategy's deterministic schedule per year."""

    years: np.ndarray
    mining_mw: np.ndarray  # grid MW of miners hashing at mining.uptime
    ballast_mw: np.ndarray  # grid MW of miners beside the AI load
    ballast_firm_mw: np.ndarray  # of which under spare interconnect: they hash at mining.uptime
    converted_mw: np.ndarray  # grid MW converted so far (under construction or in service)
    it_mw: np.ndarray  # MW of critical IT leased
    lease_revenue_usd: np.ndarray
    capex_usd: np.ndarray
    placed_in_service_usd: np.ndarray
    efficiency_j_per_th: np.ndarray  # the fleet's J/TH (the new model's from a repowering on)
    repower_capex_usd: np.ndarray  # new miners bought in the repower year
    # per miner model (fleet.fleet_models: least efficient first), shape (models, years)
    models: tuple[str, ...] = ("fleet",)
    model_mining_mw: np.ndarray | None = None
    model_ballast_mw: np.ndarray | None = None
    model_efficiency_j_per_th: np.ndarray | None = None


@dataclass(frozen=True)
class BitcoinYears:
    """Bitcoin per year for S scenarios: arrays (S, years), subsidy (years,)."""

    btc_price_usd: np.ndarray
    difficulty: np.ndarray
    subsidy_btc: np.ndarray
    hashprice_usd_per_ph_day: np.ndarray


@dataclass
class StrategyResult:
    """One strategy's schedule, line items per price case [USD/yr], metrics per case (``npv_usd``,
    ``delta_npv_usd``, ``irr``, paybacks in years) and, over the price paths, NPV per path and
    its percentiles (``risk``)."""

    strategy: Strategy
    schedule: Schedule
    cases: dict[str, dict[str, np.ndarray]]  # case -> line item -> (years,)
    metrics: dict[str, dict[str, float | None]]  # case -> npv, irr, paybacks
    path_npv_usd: np.ndarray | None = None
    path_delta_npv_usd: np.ndarray | None = None
    risk: dict = field(default_factory=dict)


@dataclass
class PlanResult:
    """A plan run: the years, the baseline and best strategy names, Bitcoin per price case and
    over the paths, the GBM parameters used, and every strategy's result."""

    plan: Plan
    years: np.ndarray
    baseline: str
    best: str
    case_bitcoin: dict[str, BitcoinYears]
    paths: BitcoinYears | None
    gbm: dict
    strategies: list[StrategyResult]
    optimum: Optimum | None = None


def schedule(plan: Plan, strategy: Strategy, ballast_mw: np.ndarray | None = None) -> Schedule:
    """MW by use, lease revenue, capex and assets placed in service, per year. Ballast miners
    are ``strategy.ballast_mw`` or, given, ``ballast_mw`` per year (the optimiser's), at most
    the MW converted."""
    years = plan.start_year + np.arange(plan.horizon_years)
    h = plan.hosting
    zeros = np.zeros(len(years))
    converted, it_mw, lease, capex, placed = (zeros.copy() for _ in range(5))
    for ph in strategy.phases:
        phase_it_mw = ph.mw / h.pue
        converted += np.where(years >= ph.year, ph.mw, 0.0)
        start = ph.year + h.build_years
        active = (years >= start) & (years < start + h.term_years)
        it_mw += np.where(active, phase_it_mw, 0.0)
        rate_usd_per_mw_yr = h.lease_usd_per_kw_month * 1000.0 * 12.0
        lease += np.where(
            active,
            phase_it_mw * rate_usd_per_mw_yr * (1.0 + h.lease_escalator_per_yr) ** (years - start),
            0.0,
        )
        spend_years = max(h.build_years, 1)
        build = (years >= ph.year) & (years < ph.year + spend_years)
        capex += np.where(build, phase_it_mw * h.capex_usd_per_mw / spend_years, 0.0)
        placed += np.where(years == start, phase_it_mw * h.capex_usd_per_mw, 0.0)
    ballast = np.minimum(strategy.ballast_mw if ballast_mw is None else ballast_mw, converted)
    # the grid connection's spare MW (above the site's mining load) carries ballast miners at
    # any time; the rest run only in the AI load's headroom (strategy.ballast_uptime)
    spare_mw = plan.site.interconnect_mw - plan.site.mining_mw
    firm = np.minimum(ballast, spare_mw)
    mining = plan.site.mining_mw - converted
    m = plan.mining
    index = repower_index(plan) if strategy.repower else None
    per_model = fleet.by_model(plan, converted, ballast, index)
    repower_usd = fleet.repower_capex_usd(mining + ballast, m.repower, index, m.pue)
    return Schedule(
        years, mining, ballast, firm, converted, it_mw, lease, capex, placed, per_model.efficiency_j_per_th,
        repower_usd, per_model.names, per_model.mining_mw, per_model.ballast_mw,
        per_model.model_efficiency_j_per_th,
    )  # fmt: skip


def repower_index(plan: Plan) -> int | None:
    """Index of the year the fleet is repowered (``mining.repower``), None if never: the
    given year, or the first whose old-fleet margin in the base price case (at the plan's power
    price, escalated) is below ``margin_below``: one year for every strategy and path."""
    rp, m, b = plan.mining.repower, plan.mining, plan.bitcoin
    if rp is None:
        return None
    if rp.year is not None:
        return rp.year - plan.start_year
    n = plan.horizon_years
    hp = bitcoin_years(plan, bf.price_case_usd(b.start_price_usd, b.cases[b.base_case], n))
    power = m.power_price_usd_per_mwh * (1.0 + m.power_escalator_per_yr) ** np.arange(n)
    start = fleet.start_efficiency_j_per_th(plan)  # the whole fleet's margin
    fleet_margin = fleet.margin(hp.hashprice_usd_per_ph_day[0], power, start, m.pue)
    return fleet.repower_index(fleet_margin, rp.margin_below)


def bitcoin_years(plan: Plan, btc_price_usd: np.ndarray) -> BitcoinYears:
    """Difficulty, subsidy and hashprice per year for price scenarios (S, years)."""
    b = plan.bitcoin
    years = plan.start_year + np.arange(plan.horizon_years)
    price = np.atleast_2d(btc_price_usd)
    difficulty = bf.difficulty_path(
        b.start_difficulty,
        b.difficulty_trend_per_yr,
        plan.horizon_years,
        price / b.start_price_usd,
        b.difficulty_price_elasticity,
    )
    subsidy = bf.mean_subsidy_btc(years, b.block_interval_s)
    fees = b.fee_share_of_revenue if b.fee_share_by_year is None else np.asarray(b.fee_share_by_year)
    hashprice = bf.hashprice_path(price, difficulty, subsidy, fees)  # a share, or one per year
    return BitcoinYears(price, difficulty, subsidy, hashprice)


def mining_usd(
    grid_mw,
    uptime: float,
    hashprice_usd_per_ph_day,
    power_price_usd_per_mwh,
    efficiency_j_per_th,
    pue: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(revenue [USD/yr], energy cost [USD/yr], energy [MWh/yr]) of ``grid_mw`` of miners
    hashing ``uptime`` of the year (``fleet.gross_mining_usd``; J/TH a number or per year).

    A year whose hashprice does not cover the energy is idled (all zero): the operator's option
    to switch the fleet off.
    """
    revenue, energy, energy_mwh = fleet.gross_mining_usd(
        grid_mw, uptime, hashprice_usd_per_ph_day, power_price_usd_per_mwh, efficiency_j_per_th, pue
    )
    run = revenue > energy
    return np.where(run, revenue, 0.0), np.where(run, energy, 0.0), np.where(run, energy_mwh, 0.0)


def cash_flows(plan: Plan, strategy: Strategy, sched: Schedule, btc: BitcoinYears) -> dict[str, np.ndarray]:
    """Every line item per scenario and year (shape (S, years)), after tax."""
    m = plan.mining
    t = np.arange(plan.horizon_years)
    power = m.power_price_usd_per_mwh * (1.0 + m.power_escalator_per_yr) ** t
    hp = btc.hashprice_usd_per_ph_day
    uptime, ballast_uptime, firm_mw = m.uptime, strategy.ballast_uptime, sched.ballast_firm_mw
    programs = np.zeros(plan.horizon_years)
    if plan.operations is not None:  # measured by the backtest engine per configuration
        ops = operations.per_year(plan, sched)
        uptime, programs = ops.uptime, ops.program_revenue_usd
        ballast_uptime, firm_mw, power = uptime, sched.ballast_mw, power * ops.price_ratio
    # each miner model earns, pays and idles on its own (one model: the fleet's totals)
    model_firm = fleet.firm_by_model(sched.model_ballast_mw, sched.ballast_mw, firm_mw)
    rev = energy = mwh = b_rev = b_energy = firm_mwh = flex_mwh = 0.0
    model_revenue, model_hashing = [], []
    for i, eff in enumerate(sched.model_efficiency_j_per_th):
        r, e, w = mining_usd(sched.model_mining_mw[i], uptime, hp, power, eff, m.pue)
        firm_rev, firm_energy, firm_w = mining_usd(model_firm[i], uptime, hp, power, eff, m.pue)
        flex_rev, flex_energy, flex_w = mining_usd(
            sched.model_ballast_mw[i] - model_firm[i], ballast_uptime, hp, power, eff, m.pue
        )
        rev, energy, mwh = rev + r, energy + e, mwh + w
        b_rev, b_energy = b_rev + (firm_rev + flex_rev), b_energy + (firm_energy + flex_energy)
        firm_mwh, flex_mwh = firm_mwh + firm_w, flex_mwh + flex_w
        model_revenue.append(r + (firm_rev + flex_rev))
        model_hashing.append(fleet.hashes(hp, power, eff, m.pue))
    ballast_value = sched.ballast_mw * strategy.ballast_value_usd_per_mw_yr
    om = (sched.mining_mw + sched.ballast_mw) * (
        m.om_usd_per_mw_yr + m.sustaining_capex_usd_per_mw_yr
    ) + sched.it_mw * plan.hosting.om_usd_per_mw_yr
    shape = hp.shape
    lease = np.broadcast_to(sched.lease_revenue_usd, shape)
    ebitda = rev + b_rev + lease + ballast_value + programs - energy - b_energy - om
    dep = plan.hosting.depreciation
    rates = (
        finance.macrs_rates(dep.recovery_years)
        if dep.method == "macrs"
        else finance.straight_line_rates(dep.recovery_years)
    )
    dep_usd = finance.depreciation_usd(sched.placed_in_service_usd, rates)
    miners_dep_usd = 0.0
    if m.repower is not None:  # the new miners: MACRS from their year (no terminal value)
        miners_dep_usd = finance.depreciation_usd(
            sched.repower_capex_usd, finance.macrs_rates(m.repower.recovery_years)
        )
    depreciation = np.broadcast_to(dep_usd + miners_dep_usd, shape)
    tax = finance.tax_usd(ebitda, depreciation, plan.tax_rate)
    capex = np.broadcast_to(sched.capex_usd, shape)
    repower = np.broadcast_to(sched.repower_capex_usd, shape)
    book_usd = finance.book_value_usd(sched.placed_in_service_usd, dep_usd)
    salvage_usd = plan.hosting.salvage_fraction_of_book_value * float(book_usd)
    cf = finance.after_tax_cash_flow_usd(ebitda, tax, capex + repower, salvage_usd)
    salvage = np.zeros(shape)
    salvage[..., -1] = salvage_usd
    return {
        "mining_revenue_usd": rev + b_rev,
        "energy_cost_usd": energy + b_energy,
        "lease_revenue_usd": lease,
        "ballast_value_usd": np.broadcast_to(ballast_value, shape),
        "program_revenue_usd": np.broadcast_to(programs, shape),
        "om_usd": np.broadcast_to(om, shape),
        "ebitda_usd": ebitda,
        "depreciation_usd": depreciation,
        "tax_usd": tax,
        "capex_usd": capex,
        "repower_capex_usd": repower,
        "salvage_usd": salvage,
        "cash_flow_usd": cf,
        "mining_energy_mwh": mwh + firm_mwh + flex_mwh,
        # per miner model, shape (S, models, years): revenue, and whether it hashes (not idled)
        "model_mining_revenue_usd": np.stack(model_revenue, axis=-2),
        "model_hashing": np.stack(model_hashing, axis=-2),
        **footprint(plan, sched.it_mw, mwh + firm_mwh + flex_mwh),
    }


def _none(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def metrics(plan: Plan, cf, baseline_cf) -> dict[str, float | None]:
    """NPV of a strategy; NPV, IRR and paybacks of its cash flows minus the baseline's."""
    delta = np.asarray(cf) - np.asarray(baseline_cf)
    return {
        "npv_usd": float(finance.npv(plan.discount_rate, cf)),
        "delta_npv_usd": float(finance.npv(plan.discount_rate, delta)),
        "irr": _none(finance.irr(delta)),
        "simple_payback_years": _none(finance.simple_payback_years(delta)),
        "discounted_payback_years": _none(finance.discounted_payback_years(delta, plan.discount_rate)),
    }


def gbm_parameters(plan: Plan) -> dict:
    """The GBM's drift and volatility: given, or calibrated on the bundled daily history."""
    p = plan.bitcoin.paths
    out = {
        "n": p.n,
        "seed": p.seed,
        "log_drift_per_yr": p.log_drift_per_yr,
        "volatility_per_yr": p.volatility_per_yr,
        "calibrated_on": None,
    }
    if p.log_drift_per_yr is None or p.volatility_per_yr is None:
        from ballast.data.loaders import read_series

        prices = read_series(BITCOIN_HISTORY, "btc_price_usd", window=HISTORY_WINDOW)
        prices = prices[prices.index < HISTORY_WINDOW[1]]
        drift, vol = bf.calibrate_log_gbm(prices)
        out["calibrated_on"] = (
            f"{BITCOIN_HISTORY} daily closes {prices.index[0].date()} to {prices.index[-1].date()}"
        )
        out["log_drift_per_yr"] = drift if p.log_drift_per_yr is None else p.log_drift_per_yr
        out["volatility_per_yr"] = vol if p.volatility_per_yr is None else p.volatility_per_yr
    return out


def _percentiles(values: np.ndarray) -> dict[str, float]:
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"p10": float(p10), "p50": float(p50), "p90": float(p90), "mean": float(values.mean())}


def baseline_strategy(plan: Plan) -> Strategy:
    """The first keep_mining strategy, or an implied one when the plan has none."""
    found = next((s for s in plan.strategies if s.kind == "keep_mining"), None)
    return found or Strategy(name="keep_mining", kind="keep_mining")


def run_plan(
    plan: Plan,
    n_paths: int | None = None,
    seed: int | None = None,
    paths: bool = True,
    optimize: bool = True,
    progress: Callable[[str], None] | None = None,
    map_fn: Callable[..., list] | None = None,
    parts: int = 1,
) -> PlanResult:
    """Every strategy under every named price case and (``paths``) over the seeded GBM paths;
    with ``plan.optimize`` (and ``optimize``) the conversion optimiser's schedule joins them.
    ``progress`` is told each long step as it starts (backtests, the optimiser, the paths).
    The paths are valued in ``parts`` chunks, and the operations' configurations backtested one
    a task, by ``map_fn`` (``plan.parallel``; in-process by default): the result is the same."""
    say = progress or (lambda _message: None)
    b = plan.bitcoin
    n = plan.horizon_years
    base = baseline_strategy(plan)
    strategies = list(plan.strategies)
    if base not in strategies:
        strategies.insert(0, base)
    case_btc = {
        name: bitcoin_years(plan, bf.price_case_usd(b.start_price_usd, g, n)) for name, g in b.cases.items()
    }
    gbm = gbm_parameters(plan)
    gbm["n"] = n_paths if n_paths is not None else gbm["n"]
    gbm["seed"] = seed if seed is not None else gbm["seed"]
    path_btc = None
    if paths:
        prices = bf.gbm_paths_usd(
            b.start_price_usd, gbm["log_drift_per_yr"], gbm["volatility_per_yr"], n, gbm["n"], gbm["seed"]
        )
        path_btc = bitcoin_years(plan, prices)
    optimum = None
    ballast_override: dict[str, np.ndarray] = {}
    if plan.optimize is not None and optimize:
        from ballast.plan.optimizer import optimize_conversion  # it imports this module

        say(f"optimising the conversion over {plan.optimize.scenarios} price paths")
        optimum = optimize_conversion(plan, gbm, case_btc[b.base_case])
        strategies.append(optimum.strategy)
        ballast_override[optimum.strategy.name] = optimum.ballast_mw
    scheds = {s.name: schedule(plan, s, ballast_override.get(s.name)) for s in strategies}
    if plan.operations is not None and map_fn is not None:  # the backtests as tasks
        todo = operations.to_measure(plan, scheds.values())
        if todo:
            say(f"backtesting {len(todo)} configurations of {plan.operations.scenario} as tasks")
            for entries in map_fn(operations.measure_group, [[c] for c in todo], plan):
                operations.seed_cache(entries)
    if plan.operations is not None:  # backtest each configuration now (if not yet), saying which
        for sched in scheds.values():
            operations.per_year(plan, sched, say)
    flows = {
        s.name: {c: cash_flows(plan, s, scheds[s.name], btc) for c, btc in case_btc.items()}
        for s in strategies
    }
    results = []
    for s in strategies:
        cases = {c: {k: v[0] for k, v in items.items()} for c, items in flows[s.name].items()}
        mets = {
            c: metrics(plan, cases[c]["cash_flow_usd"], flows[base.name][c]["cash_flow_usd"][0])
            for c in cases
        }
        results.append(StrategyResult(s, scheds[s.name], cases, mets))
    if path_btc is not None:
        from ballast.plan.parallel import npv_over_paths  # it imports this module

        say(f"valuing {len(results)} strategies over {gbm['n']:,} price paths")
        items = [(r.strategy, r.schedule) for r in results]
        npvs = npv_over_paths(plan, items, base.name, path_btc, map_fn, parts)
        for r in results:
            r.path_npv_usd, r.path_delta_npv_usd = npvs[r.strategy.name]
            r.risk = {
                "npv_usd": _percentiles(r.path_npv_usd),
                "delta_npv_usd": _percentiles(r.path_delta_npv_usd),
                "prob_npv_negative": float(np.mean(r.path_npv_usd < 0)),
                "prob_delta_npv_negative": float(np.mean(r.path_delta_npv_usd < 0)),
            }
    best = max(results, key=lambda r: r.metrics[b.base_case]["npv_usd"]).strategy.name
    return PlanResult(
        plan, plan.start_year + np.arange(n), base.name, best, case_btc, path_btc, gbm, results, optimum
    )
