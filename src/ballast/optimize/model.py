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
  ``soc[T-1] >= soc[-1]`` so the optimum does not sell the battery's initial energy.

Objective (maximised): mining revenue minus energy cost, both with coefficients taken from the
backtest's own functions (``sim.kpis.mining_revenue_usd``, ``sim.kpis.energy_cost_usd``), so the
optimum and the rule controller are priced by the same arithmetic. Where the price is negative
the export column is closed (cost of import then export in the same interval is concave there);
curtailing is free, so nothing is lost.

The matrix is built with numpy and ``scipy.sparse`` and passed whole to HiGHS (``passModel``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
from scipy import sparse

from ballast.control import ControllerConfig
from ballast.highs import new_highs as _highs
from ballast.inputs import SiteInputs
from ballast.scenario import Scenario
from ballast.sim.kpis import energy_cost_usd, mining_revenue_usd, step_hours


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

    @property
    def sleep_total_mw(self) -> float:
        return float((self.count * self.sleep_mw).sum())


@dataclass(frozen=True)
class DispatchSolution:
    """The optimum: objective [USD] (mining revenue - energy cost) and its dispatch [MW]."""

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


def problem_from_inputs(inputs: SiteInputs, config: ControllerConfig, scenario: Scenario) -> DispatchProblem:
    """The LP's data from the same inputs and config the backtest runs on."""
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
            efficiency=float(np.sqrt(b.round_trip_efficiency)),
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
    )


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


def build_lp(p: DispatchProblem) -> highspy.HighsLp:
    """The sparse LP (maximise) in HiGHS's column-wise form."""
    n = len(p.ai_load_mw)
    ng = len(p.count)
    nb = 3 if p.battery is not None else 0
    # column blocks: r (t-major, n*ng), imp, exp, curt, [ch, dis, soc]
    o_imp = n * ng
    o_exp, o_curt, o_ch = o_imp + n, o_imp + 2 * n, o_imp + 3 * n
    o_dis, o_soc = o_ch + n, o_ch + 2 * n
    ncol = o_ch + nb * n
    t = np.arange(n)
    flex_mw = p.run_mw - p.sleep_mw
    rows = [np.repeat(t, ng), t, t, t]
    cols = [np.arange(n * ng), o_imp + t, o_exp + t, o_curt + t]
    vals = [np.ones(n * ng), -np.ones(n), np.ones(n), np.ones(n)]
    lo = np.zeros(ncol)
    hi = np.empty(ncol)
    cost = np.zeros(ncol)
    # miner columns in MW of flexible power (running miners x (run - sleep)): coefficients of 1
    # keep the matrix well scaled (per-miner columns would carry 0.003 MW entries)
    hi[:o_imp] = np.tile(p.count * flex_mw, n)
    cost[:o_imp] = (p.value_usd_per_miner / flex_mw).ravel()
    hi[o_imp:o_exp] = p.import_limit_mw
    cost[o_imp:o_exp] = -p.import_cost_usd_per_mw
    # negative price: importing and exporting the same MW would earn (the cost is concave there)
    hi[o_exp:o_curt] = np.where(
        p.import_cost_usd_per_mw + p.export_cost_usd_per_mw < 0, 0.0, p.export_limit_mw
    )
    cost[o_exp:o_curt] = -p.export_cost_usd_per_mw
    hi[o_curt:o_ch] = p.renewable_mw
    rhs = p.renewable_mw - p.ai_load_mw - p.sleep_total_mw
    row_lo, row_hi = [rhs], [rhs]
    nrow = n
    if p.battery is not None:
        b, dt = p.battery, p.step_h
        rows += [t, t, n + t, n + t, n + t, n + t[1:]]
        cols += [o_ch + t, o_dis + t, o_ch + t, o_dis + t, o_soc + t, o_soc + t[:-1]]
        vals += [
            np.ones(n),
            -np.ones(n),
            np.full(n, -b.efficiency * dt),
            np.full(n, dt / b.efficiency),
            np.ones(n),
            -np.ones(n - 1),
        ]
        hi[o_ch:o_soc] = b.power_mw
        hi[o_soc:] = b.energy_mwh
        final = b.initial_soc_mwh if b.final_soc_min_mwh is None else b.final_soc_min_mwh
        lo[o_soc + n - 1] = min(final, b.energy_mwh)
        soc_rhs = np.zeros(n)
        soc_rhs[0] = b.initial_soc_mwh
        row_lo.append(soc_rhs)
        row_hi.append(soc_rhs)
        nrow += n
    a = sparse.csc_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nrow, ncol)
    )
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = ncol, nrow
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lo, hi
    lp.row_lower_, lp.row_upper_ = np.concatenate(row_lo), np.concatenate(row_hi)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    return lp


def solve(p: DispatchProblem, time_limit_s: float | None = None) -> DispatchSolution:
    """Solve the dispatch LP. Raises ``InfeasibleError`` (naming the first interval that
    fails) or ``SolverError`` (no proven optimum, e.g. the time limit)."""
    if (p.run_mw <= p.sleep_mw).any():
        raise OptimizeError("miner groups: a running miner must draw more than a sleeping one")
    check_feasible(p)
    t0 = time.perf_counter()
    lp = build_lp(p)
    h = _highs()
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    h.passModel(lp)
    x, objective, label = run_highs(h, time_limit_s)
    return read_solution(p, x, objective, label, time.perf_counter() - t0)


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
    """The dispatch in the LP's primal solution ``x`` (column order of ``build_lp``)."""
    n, ng = len(p.ai_load_mw), len(p.count)
    o = n * ng
    imp, exp, curt = x[o : o + n], x[o + n : o + 2 * n], x[o + 2 * n : o + 3 * n]
    if p.battery is not None:
        ch, dis, soc = x[o + 3 * n : o + 4 * n], x[o + 4 * n : o + 5 * n], x[o + 5 * n :]
    else:
        ch = dis = soc = np.zeros(n)
    return DispatchSolution(
        objective_usd=objective_usd,
        running=(x[:o].reshape(n, ng) / (p.run_mw - p.sleep_mw)).clip(0.0, p.count),
        import_mw=imp - exp,
        curtailed_mw=curt,
        battery_mw=dis - ch,
        soc_mwh=soc,
        status=label,
        solve_s=solve_s,
        columns=len(x),
        rows=n * (2 if p.battery is not None else 1),
    )
