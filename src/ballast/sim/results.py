"""The results document: KPIs with baseline deltas, monthly table, event log, time series.

``save`` writes ``timeseries.parquet``, ``groups.parquet``, ``kpis.json``, ``kpis.csv``,
``monthly.csv`` and ``events.csv`` into one folder. ``to_json`` is the stable ``--json`` output
(schema ``ballast.results/1``, documented in the README).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from ballast.programs.settle import ProgramOutcome
from ballast.sim.engine import Simulation
from ballast.sim.events import group_events
from ballast.sim.json_fields import json_number, run_header
from ballast.sim.kpis import (
    compute_kpis,
    interval_money,
    kpi_table,
    monthly_table,
    program_kpi_rows,
)
from ballast.sim.program_runs import settle_program_runs

RESULTS_SCHEMA = "ballast.results/1"


def _kpis_of(sim: Simulation):
    """The KPI table (as ``Results.kpis``), the programs' settlement and each run's cash flows."""
    cfg, inp, scn = sim.config, sim.inputs, sim.scenario
    # each run's cash flows once (the KPIs, the baseline's, the months and the notes)
    money = interval_money(sim.ballast, inp, cfg, scn)
    base_money = interval_money(sim.baseline, inp, cfg, scn)
    ours = compute_kpis(sim.ballast, inp, cfg, scn, baseline=sim.baseline, money=money,
                        base_money=base_money)
    base = compute_kpis(sim.baseline, inp, cfg, scn, baseline=sim.baseline,
                        money=base_money, base_money=base_money)
    kpis = kpi_table(ours, base)
    if sim.fine is not None:  # 1 s and finer: compliance with the smoothing spec
        from ballast.sim.smoothing import smoothing_kpis

        kpis = pd.concat([kpis, smoothing_kpis(sim.fine)])
    outcome = None
    if sim.programs is not None:  # the engine's runs, settled by the programs
        outcome = settle_program_runs(sim)
        kpis = pd.concat([kpis, program_kpi_rows(outcome.kpis, kpis)]).rename_axis("kpi")
    return kpis, outcome, money, base_money


def kpis_of(sim: Simulation) -> pd.DataFrame:
    """``Results.from_simulation(sim).kpis`` without the monthly table, events and notes (what
    a sweep keeps: those cost about as much again per run)."""
    return _kpis_of(sim)[0]


@dataclass(frozen=True)
class Results:
    """One backtest: Ballast and its business-as-usual baseline on the same inputs.

    Attributes:
        simulation: both runs, their inputs and the controller config (``sim.Simulation``).
        kpis: one row per KPI (index ``kpi``, e.g. ``net_margin_usd``), columns ``ballast``,
            ``baseline``, ``delta`` (ballast - baseline) and ``unit`` (USD, MWh, MW, BTC, t,
            m3, %, h, count); the README lists every KPI.
        monthly: per UTC month: average price [USD/MWh], hashprice [USD/PH/day], miner energy
            [MWh], BTC mined, mining revenue, energy cost and net margin [USD], and the margin
            against the baseline [USD].
        events: every start, stop or partial curtailment of a miner group (``time_utc``,
            ``group``, miners before and after, the rule that caused it, the price [USD/MWh]).
        programs: grid-program settlement (``ProgramOutcome``) when the scenario has
            ``programs:``, else None.
        notes: the scenario's ``notes`` (a proxy node, a series left out), then what the
            margins leave out, estimate or do not charge (e.g. no transmission charge for a
            run that holds none of the 4CP peak intervals, with the basis).
        baselines: the strike-price baseline and the optimum (``optimize.against.Baselines``,
            attached by ``with_baselines``; ``ballast.simulate`` does), else None. With them
            ``kpis`` gains the columns ``strike_price`` and ``optimum`` (NaN without an optimum).
    """

    simulation: Simulation
    kpis: pd.DataFrame  # index kpi; columns ballast, baseline, delta, unit
    monthly: pd.DataFrame
    events: pd.DataFrame
    programs: ProgramOutcome | None = None  # with programs:
    notes: tuple[str, ...] = ()
    baselines: object | None = None  # ballast.optimize.against.Baselines

    def with_baselines(self, baselines) -> Results:
        """These results with the strike-price and optimum columns (``optimize.against``);
        the rows they do not price (grid programs, smoothing) stay NaN."""
        kpis = self.kpis.copy()
        kpis.insert(2, "strike_price", baselines.strike_kpis["value"].reindex(kpis.index))
        opt = baselines.optimum_kpis
        kpis.insert(3, "optimum", float("nan") if opt is None else opt["value"].reindex(kpis.index))
        return replace(self, kpis=kpis, baselines=baselines)

    @classmethod
    def from_simulation(cls, sim: Simulation) -> Results:
        cfg, inp, scn = sim.config, sim.inputs, sim.scenario
        kpis, outcome, money, base_money = _kpis_of(sim)
        # the notes depend on the scenario and the run's intervals only: the same for every run
        # (the scenario's own notes first: a proxy node or a series left out)
        notes = (*scn.notes, *money.attrs["notes"])
        if scn.battery is not None and sim.fine is None and sim.schedule_battery_mw is not None:
            notes = (*notes, f"battery: Ballast runs it on the {sim.policy} schedule's power; "
                     "the baselines leave it idle (the optimum, if solved, dispatches it)")
        elif scn.battery is not None and sim.fine is None:  # said, never silently idle
            notes = (*notes, f"battery: the rule controller dispatches the battery on its "
                     f"smoothing rule, which runs at 1 s or finer with a smoothing section; this "
                     f"run at {scn.run.resolution} leaves it idle for Ballast and the baselines "
                     f"(the optimum, if solved, does dispatch it; so does --policy rolling)")
        return cls(
            notes=notes,
            simulation=sim,
            kpis=kpis,
            programs=outcome,
            monthly=monthly_table(sim.ballast, sim.baseline, inp, cfg, scn, money=money,
                                  base_money=base_money),
            events=group_events(sim.ballast, inp.frame["price_usd_per_mwh"]),
        )

    @property
    def timeseries(self) -> pd.DataFrame:
        """Per interval (UTC start): inputs, Ballast flows and baseline flows (``baseline_``).

        Powers in MW (interval averages, import positive), prices in USD/MWh, hashprice in
        USD/PH/day, carbon intensity in gCO2/kWh; ``binding_rule`` names the rule that set
        the miners.
        """
        sim = self.simulation
        inputs_only = ["ai_load_mw", "renewable_mw"]
        ours = sim.ballast.frame.drop(columns=inputs_only)
        base = sim.baseline.frame.drop(columns=["binding_rule", *inputs_only]).add_prefix(
            "baseline_")
        return pd.concat([sim.inputs.frame, ours, base], axis=1)

    @property
    def attributions(self) -> list[str]:
        """The lines the licences of the data behind these numbers require (NOTICE): the
        bundled Coin Metrics series when ``markets.bitcoin.fees`` is ``series``, the carbon
        intensity when CO2 is shown."""
        from ballast.data.attribution import bitcoin_attribution, carbon_attribution

        markets = self.simulation.scenario.markets
        btc = markets.bitcoin
        lines = [bitcoin_attribution(btc.network_source if btc.fees == "series" else btc.source)]
        if "co2_t" in self.kpis.index:
            lines.append(carbon_attribution(markets.carbon.source if markets.carbon else None))
        return [line for line in lines if line is not None]

    def to_json(self) -> dict:
        """The stable JSON document ``ballast simulate --json`` prints (``ballast.results/1``)."""
        sim = self.simulation
        idx = sim.inputs.index

        b = self.baselines
        per_baseline = ("strike_price", "optimum") if b is not None else ()
        return {
            "schema": RESULTS_SCHEMA,
            **run_header(sim),
            "policy": sim.policy,
            "prices_year": int(idx[0].year),
            "kpis": {k: {"ballast": json_number(r.ballast), "baseline": json_number(r.baseline),
                         "delta": json_number(r.delta), "unit": r.unit,
                         **{c: json_number(r[c]) for c in per_baseline}}
                     for k, r in self.kpis.iterrows()},
            **({} if b is None else _baselines_json(b)),
            "events": len(self.events),
            "notes": list(self.notes),
            "attributions": self.attributions,
            **({"programs": {p: {k: json_number(v) for k, v in row.items() if json_number(v) is not None}
                             for p, row in self.programs.summary.iterrows()},
                "program_events": len(self.programs.events)} if self.programs is not None
               else {}),
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write ``timeseries.parquet``, ``groups.parquet``, ``kpis.json``, ``kpis.csv``,
        ``monthly.csv`` and ``events.csv`` (plus the programs' files) into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.timeseries.to_parquet(out_dir / "timeseries.parquet")
        sim = self.simulation
        groups = pd.concat({"running": sim.ballast.group_running,
                            "power_mw": sim.ballast.group_power_mw}, axis=1)
        groups.columns = [f"{a}[{b}]" for a, b in groups.columns]
        groups.to_parquet(out_dir / "groups.parquet")
        (out_dir / "kpis.json").write_text(json.dumps(self.to_json(), indent=2))
        self.kpis.to_csv(out_dir / "kpis.csv")
        self.monthly.to_csv(out_dir / "monthly.csv")
        self.events.to_csv(out_dir / "events.csv", index=False)
        if self.baselines is not None:
            self.baselines.monthly.to_csv(out_dir / "baselines_monthly.csv")
        if self.programs is not None:
            self.programs.events.to_csv(out_dir / "program_events.csv", index=False)
            self.programs.summary.to_csv(out_dir / "programs.csv")
        return out_dir

    def report(self, path: str | Path) -> Path:
        """Write the self-contained HTML report (opens offline) to ``path``; returns it."""
        from ballast.report.html import write_report

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_report(self, path)


def _baselines_json(b) -> dict:
    """The headline figures against practice and the optimum (``optimize.against``)."""
    opt = b.optimum
    solver = None
    if opt is not None:
        s = opt.solution
        solver = {"name": "HiGHS", "status": s.status, "objective_usd": s.objective_usd,
                  "solve_s": round(s.solve_s, 4)}
    return {
        "gain_over_practice_usd": json_number(b.gain_over_practice_usd),
        "gain_over_practice_pct": json_number(b.gain_over_practice_pct),
        "regret_usd": json_number(b.regret_usd),
        "regret_pct": json_number(b.regret_pct),
        "baselines": {
            "baseline": "all on: every miner on wherever the interconnect allows",
            "strike_price": "each group curtailed while the real-time price is above its "
                            "breakeven, no foresight (Foreman, Braiins Manager, Foundry OptiFleet)",
            "optimum": {"solved": opt is not None, "note": b.optimum_note, "scope": b.scope,
                        "horizon": None if opt is None else opt.horizon, "solver": solver},
        },
        "regret_by_month_usd": ({m: json_number(v) for m, v in b.monthly["regret_usd"].items()}
                                if "regret_usd" in b.monthly else {}),
    }
