"""The site's perfect-foresight dispatch as one sparse linear programme, solved by HiGHS.

Per interval t (length ``step_h``) the variables are: running miners per group
``r[t, g]`` in [0, count] (a continuous relaxation of the count; the LP's column is the
group's flexible power ``(run_mw - sleep_mw) r`` [MW], for scaling), grid import ``imp[t]`` in
[0, import limit], export ``exp[t]`` in [0, export limit], renewable curtailment ``curt[t]`` in
[0, renewable output], and with a battery its charge ``ch[t]``, discharge ``dis[t]`` [MW] and
state of charge ``soc[t]`` [MWh, end of the interval]. Rows:

- power balance (import positive, the project's sign):
  ``sum_g (run_mw - sleep_mw)[g] r[t, g] - imp + exp + curt + ch - dis
  = renewable - ai - sum_g count[g] sleep_mw[g]``;
- battery: ``soc[t] - soc[t-1] - eta step_h ch[t] + step_h / eta dis[t] = 0`` (``soc[-1]`` the
  initial state), one-way efficiency ``eta = sqrt(round trip)`` as in ``sim/fine.py``, and
  ``soc[T-1] >= soc[-1]`` so the optimum does not sell the battery's initial energy;
- grid programs where the scenario has them (``lp.build_lp``): reserves sold per interval up
  to the running miners' flexible power, and the 4CP charge on each peak's demand;
- with ``min_times``, whole miners and minimum on/off times (a MILP, ``lp.commitment_rows``).

Objective (maximised): mining revenue minus energy cost (minus the 4CP charge, plus reserve
availability), with coefficients taken from the backtest's own functions
(``sim.kpis.mining_revenue_usd``, ``sim.kpis.energy_cost_usd``, ``costs.fourcp_linear``), so the
optimum and the rule controller are priced by the same arithmetic. Where the price is negative
the export column is closed (cost of import then export in the same interval is concave there);
curtailing is free, so nothing is lost.

The matrix is written in CSC form with numpy (``optimize.lp``) and passed whole to HiGHS
(``passModel``). Without a battery or programs the LP separates per interval and
``merit.solve_merit`` gives its optimum in closed form; with one, the columns neither the
battery nor a program can move are fixed (``merit.reach_bounds``) and dropped before HiGHS sees
them (``lp.drop_fixed``; the 15-min year keeps 183,009 of 316,224 columns).
HiGHS options measured on the 15-min year with a battery (CPU s of ``run``, shared 2-core
machine): default 5.4, dual simplex 4.3, no presolve 3.7, IPX 16.4 (11.9 without crossover),
PDLP > 30, primal simplex > 30; devex or Dantzig pricing no better. The defaults are kept.
Substituting out the intervals left with one free column was tried and gave nothing: HiGHS's
presolve reaches the same LP (hourly year: 14,790 rows, 42,744 columns). What remains is the
battery itself: a pure price-taking 50 MW / 200 MWh battery over the 15-min year alone takes
dual simplex about 42,000 iterations, 1.2-1.4 s CPU; this campus is import-limited most hours,
so the battery also moves the miners. Tried in this round and not kept (CPU s, 2-core machine
shared with five other jobs): windows solved on the reduced LP each (0.99-1.36 for the 15-min
windows, against 0.59 updating one model in place); each window's basis shifted by the kept
day before it starts (an "alien" basis HiGHS repairs: 0.35 against 0.19 hourly); HiGHS 1.16's
HiPO interior point is not in this build of ``highspy``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import highspy
import numpy as np
import pandas as pd

from ballast.control import ControllerConfig
from ballast.costs import FourCpLinear, fourcp_calendar, fourcp_linear, transmission_rate_usd_per_kw_year
from ballast.highs import new_highs as _highs
from ballast.inputs import SiteInputs, step_hours
from ballast.optimize import merit
from ballast.optimize.deployments import ReserveDeployment, deployment_row_count, scenario_deployments
from ballast.optimize.lp import basis_from_point, build_lp, drop_fixed, layout, pass_lp
from ballast.optimize.presolve import substitute_imports
from ballast.programs.schema import RESERVE_PROGRAMS
from ballast.scenario import Scenario
from ballast.sim.kpis import energy_cost_usd, mining_revenue_usd


class OptimizeError(Exception):
    """The optimiser cannot answer for this scenario (the message says why)."""


class InfeasibleError(OptimizeError):
    """No dispatch meets the site's limits; the message names the first interval that fails."""


class SolverError(OptimizeError):
    """HiGHS stopped without a proven optimum (time limit, numerical trouble)."""


@dataclass(frozen=True)
class BatteryParams:
    """A battery behind the meter."""

    power_mw: float  # both directions
    energy_mwh: float
    efficiency: float  # one way [-]
    initial_soc_mwh: float
    final_soc_min_mwh: float | None = None  # the last interval's floor; None: initial_soc_mwh


@dataclass(frozen=True)
class Reserves:
    """Reserve products sold from curtailable running miners, paid for availability."""

    names: tuple[str, ...]
    offer_mw: np.ndarray  # (products,): most sold per interval
    value_usd_per_mw: np.ndarray  # (intervals, products): availability paid for 1 MW over one
    # scheduled deployments (ECRS/ERS/Non-Spin), miners capped through each (optimize.deployments)
    deployments: tuple[ReserveDeployment, ...] = ()


@dataclass(frozen=True)
class DispatchProblem:
    """Every number of the LP, per interval (rows) and group (columns)."""

    index: pd.DatetimeIndex
    step_h: float
    ai_load_mw: np.ndarray
    renewable_mw: np.ndarray
    value_usd_per_miner: np.ndarray  # (intervals, groups): revenue of one running miner
    import_cost_usd_per_mw: np.ndarray  # cost of importing 1 MW over the interval
    export_cost_usd_per_mw: np.ndarray  # cost of exporting 1 MW (negative: a revenue)
    count: np.ndarray
    run_mw: np.ndarray
    sleep_mw: np.ndarray
    import_limit_mw: float
    export_limit_mw: float
    battery: BatteryParams | None = None
    reserves: Reserves | None = None
    peak_charge: FourCpLinear | None = None  # the 4CP transmission charge (costs.fourcp_linear)
    # (minimum on, minimum off) intervals per group: whole miners, a MILP (lp.commitment_rows)
    min_times: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def sleep_total_mw(self) -> float:
        return float((self.count * self.sleep_mw).sum())


@dataclass(frozen=True)
class DispatchSolution:
    """The optimum: objective [USD] (mining revenue - energy cost - 4CP charge + reserve
    availability) and its dispatch [MW]."""

    objective_usd: float
    running: np.ndarray  # (intervals, groups), mean miners running
    import_mw: np.ndarray  # net, import positive
    curtailed_mw: np.ndarray
    battery_mw: np.ndarray  # discharge positive
    soc_mwh: np.ndarray  # end of each interval
    status: str
    solve_s: float
    columns: int
    rows: int
    reserve_mw: np.ndarray | None = None  # (intervals, products) sold
    peak_demand_mw: np.ndarray | None = None  # the site's demand in each 4CP peak
    solver: str = "HiGHS"  # or "merit order" (closed form, no battery: merit.solve_merit)


def problem_from_inputs(
    inputs: SiteInputs, config: ControllerConfig, scenario: Scenario, *, min_times: bool = False
) -> DispatchProblem:
    """The LP's data from the same inputs and config the backtest runs on. ``min_times``: whole
    miners with the groups' minimum on/off times (``control.min_on_s``/``min_off_s``, rounded
    up to whole intervals), a MILP."""
    g = config.groups
    dt = step_hours(inputs.index)
    price = inputs.frame["price_usd_per_mwh"].to_numpy()
    share = scenario.markets.export_price_share
    n = len(inputs.index)
    battery = None
    if scenario.battery is not None:
        b = scenario.battery
        battery = BatteryParams(
            power_mw=b.power_mw,
            energy_mwh=b.energy_mwh,
            efficiency=b.one_way_efficiency,
            initial_soc_mwh=b.initial_soc_share * b.energy_mwh,
        )
    return DispatchProblem(
        index=inputs.index,
        step_h=dt,
        ai_load_mw=inputs.frame["ai_load_mw"].to_numpy(),
        renewable_mw=inputs.frame["renewable_mw"].to_numpy(),
        value_usd_per_miner=mining_revenue_usd(np.ones((n, len(g.names))), inputs, config),
        import_cost_usd_per_mw=energy_cost_usd(np.ones(n), price, dt, share),
        export_cost_usd_per_mw=energy_cost_usd(-np.ones(n), price, dt, share),
        count=g.count.astype("float64"),
        run_mw=g.run_mw,
        sleep_mw=g.sleep_mw,
        import_limit_mw=config.import_limit_mw,
        export_limit_mw=config.export_limit_mw,
        battery=battery,
        reserves=reserves_of(scenario, inputs.index, dt, float((g.count * (g.run_mw - g.sleep_mw)).sum())),
        peak_charge=peak_charge_of(scenario, inputs.index),
        min_times=(
            (np.ceil(g.min_on_s / (dt * 3600) - 1e-9), np.ceil(g.min_off_s / (dt * 3600) - 1e-9))
            if min_times
            else None
        ),
    )


MIP_REL_GAP = 1e-6  # HiGHS's default 1e-4 would let a MILP "optimum" leave 0.01 % on the table


def reserves_of(
    scenario: Scenario, index: pd.DatetimeIndex, dt_h: float, fleet_flex_mw: float
) -> Reserves | None:
    """The scenario's reserve offers (RRS, ECRS, ERS, Non-Spin: ``programs.schema``'s
    ``RESERVE_PROGRAMS``) with their availability prices, paid per MW sold per hour as
    ``programs.settle`` pays them, and their scheduled deployments
    (``deployments.scenario_deployments``); None without any."""
    n = len(index)
    progs = scenario.programs
    offered = [(k, getattr(progs, k)) for k in RESERVE_PROGRAMS if progs is not None and getattr(progs, k)]
    if not offered:
        return None
    names = tuple(k for k, _ in offered)
    return Reserves(
        names=names,
        offer_mw=np.array([prog.offer_mw for _, prog in offered]),
        value_usd_per_mw=np.tile([prog.price_usd_per_mw_h * dt_h for _, prog in offered], (n, 1)),
        deployments=scenario_deployments(scenario, index, names, fleet_flex_mw),
    )


def peak_charge_of(scenario: Scenario, index: pd.DatetimeIndex) -> FourCpLinear | None:
    """The 4CP charge the backtest prices (``costs.transmission_usd``) as a linear form; None
    when the scenario sets no rate or the run settles no year (its notes say why)."""
    rate = transmission_rate_usd_per_kw_year(scenario)
    if rate is None:
        return None
    linear = fourcp_linear(index, fourcp_calendar(scenario), rate)
    return linear if len(linear.usd_per_mw) else None


def check_feasible(p: DispatchProblem) -> None:
    """Raise ``InfeasibleError`` naming the first interval where no dispatch keeps the import
    within its limit: the AI load plus sleeping miners, less renewables and the battery."""
    floor_mw = p.ai_load_mw + p.sleep_total_mw - p.renewable_mw
    deficit_mw = floor_mw - p.import_limit_mw
    if not (deficit_mw > 1e-9).any():
        return
    b = p.battery
    power = 0.0 if b is None else b.power_mw
    over = np.flatnonzero(deficit_mw > power + 1e-9)
    if over.size:
        t = int(over[0])
        raise InfeasibleError(
            f"interval {t} ({p.index[t].isoformat()}): AI load {p.ai_load_mw[t]:.3f} MW + "
            f"sleeping miners {p.sleep_total_mw:.3f} MW - renewables {p.renewable_mw[t]:.3f} MW"
            + (f" - battery {power:.3f} MW" if b is not None else "")
            + f" needs {floor_mw[t] - power:.3f} MW from the grid, above the import limit "
            f"{p.import_limit_mw:.3f} MW"
        )
    # The battery must carry the deficits: the fullest it can be is reached by charging
    # whenever the limit leaves room. Hand-written (a short scan over the intervals; no library
    # call states it).
    soc = b.initial_soc_mwh
    for t in range(len(deficit_mw)):
        d = deficit_mw[t]
        if d > 0:
            soc -= d * p.step_h / b.efficiency
            if soc < -1e-9:
                raise InfeasibleError(
                    f"interval {t} ({p.index[t].isoformat()}): the battery is empty; the AI load "
                    f"and sleeping miners need {floor_mw[t]:.3f} MW less renewables, above the "
                    f"import limit {p.import_limit_mw:.3f} MW by {d:.3f} MW"
                )
        else:
            soc = min(b.energy_mwh, soc + min(-d, b.power_mw) * p.step_h * b.efficiency)
    if soc < b.initial_soc_mwh - 1e-9:
        raise InfeasibleError(
            f"interval {len(deficit_mw) - 1} ({p.index[-1].isoformat()}): the battery cannot end "
            f"at its initial state of charge {b.initial_soc_mwh:.3f} MWh (at most {soc:.3f} MWh) "
            "while covering the import-limit deficits"
        )


def separable(p: DispatchProblem) -> bool:
    """True when the LP separates per interval (no battery, reserves, 4CP charge or minimum
    times): then ``merit.solve_merit`` is its optimum."""
    return p.battery is None and p.reserves is None and p.peak_charge is None and p.min_times is None


def solve(p: DispatchProblem, time_limit_s: float | None = None) -> DispatchSolution:
    """Solve the dispatch LP. Raises ``InfeasibleError`` (naming the first interval that
    fails) or ``SolverError`` (no proven optimum, e.g. the time limit)."""
    if (p.run_mw <= p.sleep_mw).any():
        raise OptimizeError("miner groups: a running miner must draw more than a sleeping one")
    check_feasible(p)
    t0 = time.perf_counter()
    if separable(p):  # the merit order is the optimum
        x, objective = merit.solve_merit(p)
        s = read_solution(p, x, objective, "Optimal", time.perf_counter() - t0)
        return replace(s, solver="merit order")
    # the merit-order bounds, once for the LP and the warm start's windows
    reach = merit.reach_bounds(p) if p.battery is not None else None
    sub = substitute_imports(build_lp(p, reach=reach), layout(p))
    red = drop_fixed(sub.lp)
    lp = red.lp
    h = _highs()
    if lp.integrality is not None:
        h.setOptionValue("mip_rel_gap", MIP_REL_GAP)
    pass_lp(h, lp)
    if warm_start_pays(p):
        from ballast.optimize.rolling import warm_start_point  # both build on this module
        from ballast.optimize.warm import sliced_warm_start

        if p.reserves is not None and p.reserves.deployments:  # window rows differ
            point = warm_start_point(p, time_limit_s, reach)
        else:
            point = sliced_warm_start(p, sub.lp, time_limit_s)
        if point is not None:
            x0, col_dual, row_dual = point
            basis = basis_from_point(lp, x0[red.keep], col_dual[red.keep], row_dual)
            if h.setBasis(basis) == highspy.HighsStatus.kError:  # start over, cold
                h = _highs()
                pass_lp(h, lp)
            else:  # devex from that basis (DSE would price every row anew first)
                h.setOptionValue("simplex_dual_edge_weight_strategy", WARM_PRICING)
    if time_limit_s is not None:  # the warm start spent part of it
        left_s = time_limit_s - (time.perf_counter() - t0)
        if left_s <= 0:
            raise SolverError(
                f"HiGHS stopped without a proven optimum: time limit {time_limit_s} s reached in "
                "the warm start; no optimum is reported"
            )
        h.setOptionValue("time_limit", float(left_s))
    x, objective, label = run_highs(h, time_limit_s)
    return read_solution(p, sub.restore(red.full_x(x)), objective, label, time.perf_counter() - t0)


WARM_START_MIN_H = 4 * 168.0  # runs longer than four weeks start warm
# HiGHS's dual edge weights after a warm start: devex (1). The 15-min year 1.28-1.48 -> 1.09-1.22
# s CPU against HiGHS's choice (steepest edge; Dantzig 1.14-1.24); the hourly year the same
WARM_PRICING = 1


def warm_start_pays(p: DispatchProblem) -> bool:
    """Whether ``solve`` starts HiGHS from three-week windows (``warm.sliced_warm_start``, whose
    docstring has this round's figures; ``rolling.warm_start_point`` with reserve deployments):
    a battery over more than ``WARM_START_MIN_H``, no minimum times.

    Measured on the 15-min 2024 year with the 50 MW / 200 MWh battery (CPU s, shared machine):
    cold dual simplex 2.3-2.7 (69,684 iterations); weekly windows (168 h, keeping 144 h) 0.50,
    crossover from their dispatch 0.35, dual simplex from that basis 0.48 (7,608 iterations):
    1.3 in all, the same optimum. 48-h windows as the start: 1.9; the merit order with the
    battery idle: 15 (a poor start). Handing crossover the windows' duals too, on the LP
    without its fixed columns: windows 0.6, crossover 0.26, dual simplex 0.23 (933
    iterations): 1.1-1.2 (hourly year: 0.20 + 0.04 + 0.04, 248 iterations, 0.31-0.33).
    Three-week windows keeping 20 days (``rolling.WARM_WINDOW_H``): the hourly year 0.27-0.29
    against 0.32-0.37 with weekly ones, the 15-min year the same within the noise (1.08-1.17
    against 1.09-1.19). Crossover replaced by a basis read off the windows' point
    (``lp.basis_from_point``, repaired by HiGHS): 15-min year 2,359 dual simplex iterations in
    0.15-0.22 against crossover 0.25 + 637 iterations in 0.21-0.28; hourly 555 in 0.05-0.07
    against 0.04-0.07 + 0.05. Not kept: the windows' own bases (255 and 637 iterations, but
    ``highspy`` hands over each status as a Python object, about 0.2 s on the 15-min windows);
    cold on the hourly LP: dual simplex 0.42, without presolve 0.32-0.36 (any pricing, scaling
    or crash), IPX 1.5 (1.6 without crossover), primal > 5; ``parallel`` off, ``threads`` 1,
    ``simplex_strategy`` 1, presolve off in the windows, windows of 2-6 weeks with or without
    overlap: within the noise; the hourly optimum as the 15-min year's start: 7,106 iterations."""
    return p.battery is not None and p.min_times is None and len(p.ai_load_mw) * p.step_h > WARM_START_MIN_H


def run_highs(h: highspy.Highs, time_limit_s: float | None = None) -> tuple[np.ndarray, float, str]:
    """Run HiGHS on the model it holds; the primal solution, objective and status label, or
    ``InfeasibleError``/``SolverError``."""
    h.run()
    status = h.getModelStatus()
    label = h.modelStatusToString(status)
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        raise InfeasibleError(f"HiGHS: {label}: no dispatch meets the site's limits")
    if status != highspy.HighsModelStatus.kOptimal:
        limit = f" (time limit {time_limit_s} s)" if time_limit_s is not None else ""
        raise SolverError(f"HiGHS stopped without a proven optimum: {label}{limit}; no optimum is reported")
    return np.asarray(h.getSolution().col_value), float(h.getInfo().objective_function_value), label


def read_solution(
    p: DispatchProblem, x: np.ndarray, objective_usd: float, label: str, solve_s: float
) -> DispatchSolution:
    """The dispatch in the LP's primal solution ``x`` (column order of ``lp.build_lp``; the
    merit order's ``x`` stops after the curtailment)."""
    lay = layout(p)
    n, ng, o = lay.n, lay.groups, lay.imp
    imp, exp, curt = x[o : o + n], x[o + n : o + 2 * n], x[o + 2 * n : o + 3 * n]
    if p.battery is not None:
        ch, dis, soc = x[lay.ch : lay.ch + n], x[lay.ch + n : lay.ch + 2 * n], x[lay.ch + 2 * n : lay.res]
    else:
        ch = dis = soc = np.zeros(n)
    reserve = x[lay.res : lay.peak].reshape(n, lay.reserves) if p.reserves is not None else None
    peak = x[lay.peak : lay.num_col] if p.peak_charge is not None else None
    return DispatchSolution(
        objective_usd=objective_usd,
        running=(x[:o].reshape(n, ng) / (p.run_mw - p.sleep_mw)).clip(0.0, p.count),
        import_mw=imp - exp,
        curtailed_mw=curt,
        battery_mw=dis - ch,
        soc_mwh=soc,
        status=label,
        solve_s=solve_s,
        columns=lay.num_col,
        rows=n * (1 + (p.battery is not None) + (p.reserves is not None))
        + (0 if p.peak_charge is None else len(p.peak_charge.members))
        + (0 if p.reserves is None else deployment_row_count(p.reserves.deployments)),
        reserve_mw=reserve,
        peak_demand_mw=peak,
    )
