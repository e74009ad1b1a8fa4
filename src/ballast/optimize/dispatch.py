"""The perfect-foresight optimum of a scenario, its KPIs, and the rule controller's regret.

The optimum runs on the very inputs and controller config of the backtest (``sim.simulate``):
nothing is read twice. Its KPIs come from ``sim.kpis.compute_kpis``, the function that prices
the rule controller, so the two tables have the same rows and the same arithmetic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.control.controller import GroupParams
from ballast.optimize.against import against_baselines
from ballast.optimize.forecast import forecast_problem
from ballast.optimize.model import (
    RESERVE_PROGRAMS,
    DispatchProblem,
    DispatchSolution,
    OptimizeError,
    problem_from_inputs,
    solve,
)
from ballast.optimize.rolling import solve_rolling
from ballast.scenario import Scenario
from ballast.sim.engine import RunSeries, Simulation, simulate
from ballast.sim.json_fields import json_number, run_header
from ballast.sim.kpis import compute_kpis

OPTIMIZE_SCHEMA = "ballast.optimize/1"


@dataclass(frozen=True)
class Optimum:
    """The optimum of one scenario: its run (same columns as a rule run, plus the battery),
    its KPI table (index kpi; value, unit) and the LP solution."""

    run: RunSeries
    kpis: pd.DataFrame
    problem: DispatchProblem
    solution: DispatchSolution
    horizon: str = "perfect"
    notes: tuple[str, ...] = ()  # what the optimum models only in part (check_supported)
    forecast: str = "perfect"  # the price the rolling windows saw (optimize.forecast)


def optimum_run(p: DispatchProblem, s: DispatchSolution, groups: GroupParams) -> RunSeries:
    """The optimum as a ``RunSeries`` [MW, interval means; import positive]. Exports may come
    from the battery; ``renewable_used_mw`` counts only renewable power kept on site."""
    group_power = groups.power_mw(s.running)
    group_names = groups.names
    miner_mw = group_power.sum(axis=1)
    export_mw = np.maximum(-s.import_mw, 0.0)
    kept_mw = p.renewable_mw - s.curtailed_mw
    frame = pd.DataFrame(
        {
            "ai_load_mw": p.ai_load_mw,
            "miner_mw": miner_mw,
            "renewable_mw": p.renewable_mw,
            "renewable_used_mw": kept_mw - np.minimum(export_mw, kept_mw),
            "renewable_curtailed_mw": s.curtailed_mw,
            "import_mw": s.import_mw,
            "export_mw": export_mw,
            "battery_mw": s.battery_mw,
            "battery_soc_mwh": s.soc_mwh,
        },
        index=p.index,
    )
    return RunSeries(
        name="optimum",
        frame=frame,
        group_running=pd.DataFrame(s.running, index=p.index, columns=list(group_names)),
        group_power_mw=pd.DataFrame(group_power, index=p.index, columns=list(group_names)),
    )


def check_supported(scenario: Scenario) -> list[str]:
    """Refuse, by name, what the optimiser does not model yet (never dropped silently); the
    notes on what it models only in part."""
    notes = []
    progs = scenario.programs
    if progs is not None:
        refused = [
            name
            for name, on in (
                ("demand_response", progs.demand_response is not None and progs.demand_response.events),
                ("emergency", progs.emergency is not None and progs.emergency.windows),
            )
            if on
        ]
        if refused:
            raise OptimizeError(
                f"programs: {', '.join(refused)} events are not in the optimiser yet (issue 11); "
                "drop them to compare against the optimum"
            )
        if any(getattr(progs, k) is not None for k in RESERVE_PROGRAMS):
            notes.append(
                "reserves: the optimum sells RRS/ECRS/ERS/Non-Spin availability from running "
                "miners and keeps the scenario's ECRS/ERS/Non-Spin deployments (known in advance: "
                "miners at most their power before the instruction less the MW sold); RRS "
                "frequency events and shortfall penalties are not modelled"
            )
        if progs.coincident_peak is not None:
            notes.append(
                "coincident_peak: the optimum knows the year's real 4CP intervals (perfect "
                "foresight) and pays the transmission charge on them; it runs no alert rule"
            )
    if scenario.smoothing is not None or scenario.run.step < pd.Timedelta("1min"):
        raise OptimizeError(
            f"run.resolution {scenario.run.resolution!r} / smoothing: the "
            "optimiser runs at 1 min or coarser without smoothing"
        )
    return notes


def optimize_simulation(
    scenario: Scenario,
    base_dir: Path | None = None,
    *,
    simulation: Simulation | None = None,
    time_limit_s: float | None = None,
    horizon: str = "perfect",
    min_times: bool = False,
    forecast: str = "perfect",
) -> Optimum:
    """Solve the scenario's perfect-foresight dispatch and price it like the rule controller.

    ``simulation`` (a finished backtest of the same scenario) supplies the inputs, config and
    all-on baseline; without it the backtest runs first. KPIs: ``compute_kpis`` rows, with
    ``flexibility_value_usd`` against the same all-on baseline as the rule controller's.
    ``horizon``: ``perfect`` (one LP over the run) or ``rolling`` (48-h windows re-solved every
    24 h, perfect forecast; ``optimize.rolling``). ``min_times``: whole miners keeping the
    groups' minimum on/off times (a MILP, perfect horizon only). ``forecast``: the price each
    rolling window sees (``optimize.forecast``: perfect, dam or persistence).
    """
    if forecast != "perfect" and horizon != "rolling":
        raise OptimizeError(f"forecast {forecast!r}: a price forecast needs --horizon rolling")
    if horizon not in ("perfect", "rolling"):
        raise OptimizeError(f"horizon {horizon!r}: expected 'perfect' or 'rolling'")
    notes = check_supported(scenario)
    sim = simulation if simulation is not None else simulate(scenario, base_dir)
    p = problem_from_inputs(sim.inputs, sim.config, scenario, min_times=min_times)
    if min_times:
        notes.append("min_times: whole miners with the groups' minimum on/off times (MILP)")
    if horizon == "rolling":
        price = sim.inputs.frame["price_usd_per_mwh"].to_numpy()
        alert = None if sim.programs is None else sim.programs.fourcp_alert
        seen = forecast_problem(
            p, forecast, price, scenario.markets.export_price_share, alert, scenario.site.timezone
        )
        s = solve_rolling(p, time_limit_s=time_limit_s, forecast=seen)
        notes.append(f"rolling: 48-h windows every 24 h on the {forecast} price forecast")
        if p.peak_charge is not None:
            notes.append(rolling_fourcp_note(forecast, alert is not None))
    else:
        s = solve(p, time_limit_s=time_limit_s)
    run = optimum_run(p, s, sim.config.groups)
    kpis = compute_kpis(run, sim.inputs, sim.config, scenario, baseline=sim.baseline)
    if p.reserves is not None:
        paid = float((s.reserve_mw * p.reserves.value_usd_per_mw).sum())
        kpis.loc["reserve_availability_usd"] = [paid, "USD"]
    return Optimum(
        run=run, kpis=kpis, problem=p, solution=s, horizon=horizon, notes=tuple(notes), forecast=forecast
    )


def rolling_fourcp_note(forecast: str, alert: bool) -> str:
    """How the rolling windows see the 4CP charge (``optimize.forecast``)."""
    if forecast == "perfect":
        seen = "each window's objective has the 4CP charge on the year's real peak intervals"
    elif alert:
        seen = (
            "each window's objective has the 4CP charge on the intervals the coincident-peak "
            "alert flags, at each month's real charge per MW"
        )
    else:
        seen = (
            "the windows see no 4CP peak (no coincident_peak program flags likely peaks on the "
            f"{forecast} forecast)"
        )
    return f"rolling: {seen}; the KPIs charge the real peaks"


@dataclass(frozen=True)
class Comparison:
    """The rule controller beside the optimum on the same inputs.

    ``table``: index kpi; columns ``rules``, ``strike_price`` (the fleet managers' practice,
    ``optimize.baselines``), ``optimum``, ``delta`` (optimum - rules), ``unit``.
    ``gain_over_practice_usd``: rule net margin - strike-price net margin.
    ``regret_usd``: optimum net margin - rule net margin. ``regret_pct``: that as a share of the
    optimum's flexibility value (optimum - all-on baseline), i.e. the share of what flexibility
    could earn that the rules leave; NaN when the optimum gains nothing over all-on.
    ``monthly``: net margin [USD] per UTC month of rules, strike price and optimum, and the
    regret. ``regret_by_rule_usd``: the regret summed over the intervals where each rule bound
    the rule controller (where the regret comes from).

    The optimum keeps the interconnect limit itself, not the controller's safety margin
    (``control.import_margin_mw``), so a margin shows in the regret.
    """

    scenario: Scenario
    simulation: Simulation
    rules_kpis: pd.DataFrame
    optimum: Optimum
    table: pd.DataFrame
    regret_usd: float
    regret_pct: float
    gain_over_practice_usd: float
    monthly: pd.DataFrame
    regret_by_rule_usd: pd.Series

    def to_json(self) -> dict:
        """The ``ballast optimize --json`` document (schema ``ballast.optimize/1``)."""
        s = self.optimum.solution
        return {
            "schema": OPTIMIZE_SCHEMA,
            **run_header(self.simulation),
            "horizon": self.optimum.horizon,
            "forecast": self.optimum.forecast,
            "optimum_notes": list(self.optimum.notes),
            "kpis": {
                k: {
                    "rules": json_number(r.rules),
                    "strike_price": json_number(r.strike_price),
                    "optimum": json_number(r.optimum),
                    "delta": json_number(r.delta),
                    "unit": r.unit,
                }
                for k, r in self.table.iterrows()
            },
            "regret_usd": json_number(self.regret_usd),
            "regret_pct": json_number(self.regret_pct),
            "gain_over_practice_usd": json_number(self.gain_over_practice_usd),
            "regret_by_month_usd": {m: json_number(v) for m, v in self.monthly["regret_usd"].items()},
            "regret_by_rule_usd": {r: json_number(v) for r, v in self.regret_by_rule_usd.items()},
            "solver": {
                "name": s.solver,
                "status": s.status,
                "objective_usd": s.objective_usd,
                "columns": s.columns,
                "rows": s.rows,
                "solve_s": round(s.solve_s, 4),
            },
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write ``optimum.parquet`` (the optimum's flows and groups), ``optimize.json``,
        ``optimize_kpis.csv`` and ``optimize_monthly.csv`` into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        run = self.optimum.run
        groups = pd.concat({"running": run.group_running, "power_mw": run.group_power_mw}, axis=1)
        groups.columns = [f"{a}[{b}]" for a, b in groups.columns]
        pd.concat(
            [self.simulation.inputs.frame[["price_usd_per_mwh"]], run.frame, groups], axis=1
        ).to_parquet(out_dir / "optimum.parquet")
        (out_dir / "optimize.json").write_text(json.dumps(self.to_json(), indent=2))
        self.table.to_csv(out_dir / "optimize_kpis.csv")
        self.monthly.to_csv(out_dir / "optimize_monthly.csv")
        return out_dir


def compare(
    scenario: Scenario,
    base_dir: Path | None = None,
    *,
    time_limit_s: float | None = None,
    horizon: str = "perfect",
    min_times: bool = False,
    forecast: str = "perfect",
) -> Comparison:
    """Backtest the rule controller, solve the optimum on the same inputs, and the regret."""
    check_supported(scenario)
    if horizon not in ("perfect", "rolling"):
        raise OptimizeError(f"horizon {horizon!r}: expected 'perfect' or 'rolling'")
    sim = simulate(scenario, base_dir)
    rules = compute_kpis(sim.ballast, sim.inputs, sim.config, scenario, baseline=sim.baseline)
    b = against_baselines(
        sim,
        rules,
        time_limit_s=time_limit_s,
        horizon=horizon,
        require_optimum=True,
        min_times=min_times,
        forecast=forecast,
    )
    opt = b.optimum
    table = pd.DataFrame({"rules": rules["value"]})
    table["strike_price"] = b.strike_kpis["value"].reindex(table.index)
    table["optimum"] = opt.kpis["value"].reindex(table.index)
    table["delta"] = table["optimum"] - table["rules"]
    table["unit"] = rules["unit"]
    return Comparison(
        scenario=scenario,
        simulation=sim,
        rules_kpis=rules,
        optimum=opt,
        table=table,
        regret_usd=b.regret_usd,
        regret_pct=b.regret_pct,
        gain_over_practice_usd=b.gain_over_practice_usd,
        monthly=b.monthly,
        regret_by_rule_usd=b.regret_by_rule_usd,
    )
