"""The rule controller against practice and the optimum: the figures an analyst quotes.

``against_baselines`` prices the strike-price baseline (``optimize.baselines``, always: it is one
more controller run) and the perfect-foresight optimum (``optimize.dispatch``, when the
optimiser models the scenario) on a finished backtest's inputs, and derives the rule
controller's gain over practice and its regret against the optimum. ``ballast simulate`` and
``ballast optimize`` (``dispatch.compare``) both call it: one place for this arithmetic.

What the optimum optimises: mining revenue minus energy at the real-time price (imports and
exports, the battery), minus the 4CP transmission charge where the scenario sets a rate (on the
year's real peak intervals, ``costs.fourcp_linear``), plus reserve availability where the
scenario offers RRS, ECRS, ERS or Non-Spin, under the interconnect limits. Supply contracts and fixed
costs do not depend on the dispatch. With reserves, the margins compared add each run's reserve
availability to its net margin (the rules' from their program plan; the strike-price practice
sells none).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ballast.inputs import step_hours
from ballast.optimize.baselines import strike_price_run
from ballast.optimize.model import OptimizeError
from ballast.sim.engine import RunSeries, Simulation
from ballast.sim.kpis import compute_kpis, interval_money

OPTIMUM_SCOPE = (
    "The optimum maximises mining revenue minus real-time energy cost (imports, exports, battery) "
    "minus the 4CP transmission charge, plus reserve availability where offered, with perfect "
    "foresight under the interconnect limits; supply contracts and fixed costs do not depend on "
    "the dispatch."
)


def rules_reserve_usd(sim: Simulation) -> pd.Series:
    """Reserve availability the rule controller sold, per interval [USD]: MW sold x the
    program's price x hours (as ``programs.settle`` pays it); zero without reserves."""
    plan = sim.programs
    out = pd.Series(0.0, index=sim.inputs.index)
    if plan is None:
        return out
    dt = step_hours(sim.inputs.index)
    for name, sold in plan.reserve_sold_mw.items():
        out += sold * getattr(sim.scenario.programs, name).price_usd_per_mw_h * dt
    return out


@dataclass(frozen=True)
class Baselines:
    """Strike price and optimum beside the rule controller on one backtest's inputs.

    ``strike_kpis``/``optimum.kpis``: ``compute_kpis`` tables (index kpi; value, unit).
    ``optimum``: a ``dispatch.Optimum``, or None with ``optimum_note`` saying why.
    ``gain_over_practice_usd``: rule net margin - strike-price net margin;
    ``gain_over_practice_pct``: that as a share of the strike-price net margin (NaN unless it
    is positive). ``regret_usd``: optimum net margin - rule net margin; ``regret_pct``: that as
    a share of the optimum's flexibility value (optimum - all-on), NaN when that is not
    positive or there is no optimum.
    ``monthly``: net margin [USD] per UTC month of rules, strike price, their difference
    ``gain_over_practice_usd`` (and optimum and ``regret_usd`` with an optimum).
    ``regret_by_rule_usd``: the regret summed over the intervals where each rule bound the rule
    controller (empty without an optimum).
    """

    strike_price: RunSeries
    strike_kpis: pd.DataFrame
    optimum: object | None  # dispatch.Optimum
    optimum_note: str | None
    gain_over_practice_usd: float
    gain_over_practice_pct: float
    regret_usd: float
    regret_pct: float
    monthly: pd.DataFrame
    regret_by_rule_usd: pd.Series
    scope: str = OPTIMUM_SCOPE

    @property
    def optimum_kpis(self) -> pd.DataFrame | None:
        return None if self.optimum is None else self.optimum.kpis


def against_baselines(
    sim: Simulation,
    rules_kpis: pd.DataFrame,
    *,
    optimum: bool = True,
    time_limit_s: float | None = None,
    horizon: str = "perfect",
    require_optimum: bool = False,
    min_times: bool = False,
    forecast: str = "perfect",
) -> Baselines:
    """The strike-price baseline and (if ``optimum``) the optimum of ``sim``'s scenario, and
    the rule controller's gain over the one and regret against the other.

    ``rules_kpis``: the rule controller's ``compute_kpis`` table. Where the optimiser refuses
    the scenario (``OptimizeError``: programs, smoothing, steps under 1 min) the optimum is None
    and ``optimum_note`` says why, unless ``require_optimum`` (then the error propagates)."""
    from ballast.optimize.dispatch import optimize_simulation  # dispatch.compare imports this module

    scn, inp, cfg = sim.scenario, sim.inputs, sim.config
    strike_run = strike_price_run(sim)
    strike = compute_kpis(strike_run, inp, cfg, scn, baseline=sim.baseline)
    opt, note = None, None
    if optimum:
        try:
            opt = optimize_simulation(
                scn,
                simulation=sim,
                time_limit_s=time_limit_s,
                horizon=horizon,
                min_times=min_times,
                forecast=forecast,
            )
        except OptimizeError as exc:
            if require_optimum:
                raise
            note = f"no optimum: {exc}"
    else:
        note = "no optimum: skipped (--no-optimum)"
    reserve = {"rules": rules_reserve_usd(sim)}
    if opt is not None and opt.solution.reserve_mw is not None:
        paid = (opt.solution.reserve_mw * opt.problem.reserves.value_usd_per_mw).sum(axis=1)
        reserve["optimum"] = pd.Series(paid, index=inp.index)
    rules_margin = float(rules_kpis.loc["net_margin_usd", "value"]) + reserve["rules"].sum()
    strike_margin = float(strike.loc["net_margin_usd", "value"])
    gain = rules_margin - strike_margin
    gain_pct = 100.0 * gain / strike_margin if strike_margin > 0 else float("nan")
    runs = {"rules": sim.ballast, "strike_price": strike_run}
    regret, regret_pct = float("nan"), float("nan")
    if opt is not None:
        runs["optimum"] = opt.run
        opt_margin = float(opt.kpis.loc["net_margin_usd", "value"])
        regret = opt_margin + (reserve["optimum"].sum() if "optimum" in reserve else 0.0) - rules_margin
        flex = float(opt.kpis.loc["flexibility_value_usd", "value"])
        regret_pct = 100.0 * regret / flex if flex > 0 else float("nan")
    margin = pd.DataFrame(
        {
            name: interval_money(run, inp, cfg, scn)["net_margin_usd"] + reserve.get(name, 0.0)
            for name, run in runs.items()
        }
    )
    margin["gain_over_practice_usd"] = margin["rules"] - margin["strike_price"]
    by_rule = pd.Series(dtype=float)
    if opt is not None:
        margin["regret_usd"] = margin["optimum"] - margin["rules"]
        by_rule = margin["regret_usd"].groupby(sim.ballast.frame["binding_rule"], observed=True).sum()
    monthly = margin.groupby(inp.index.strftime("%Y-%m")).sum().rename_axis("month")
    return Baselines(
        strike_price=strike_run,
        strike_kpis=strike,
        optimum=opt,
        optimum_note=note,
        gain_over_practice_usd=gain,
        gain_over_practice_pct=gain_pct,
        regret_usd=regret,
        regret_pct=regret_pct,
        monthly=monthly,
        regret_by_rule_usd=by_rule,
        # what this optimum models only in part is named wherever the scope is shown
        scope=" ".join([OPTIMUM_SCOPE, *(f"{n[0].upper()}{n[1:]}." for n in opt.notes)])
        if opt is not None
        else OPTIMUM_SCOPE,
    )
