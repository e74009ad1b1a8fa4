"""What a plan run returns to a person or a program: the JSON document (schema
``ballast.plan/1``), the cash-flow table and the Bitcoin paths table, and the files of ``--out``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.plan import bitcoin_future as bf
from ballast.plan import fleet, operations
from ballast.plan.environment import intensity_g_per_kwh
from ballast.plan.milp import cvar_usd
from ballast.plan.model import FOOTPRINT_ITEMS, LINE_ITEMS, PlanResult, repower_index

SCHEMA = "ballast.plan/1"
FILES = ("plan.json", "cashflows.csv", "paths.parquet", "report.html")


def _list(values) -> list:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype="float64")]


def _risk(npv_usd: np.ndarray, level: float) -> dict[str, float]:
    p10, p50, p90 = np.percentile(npv_usd, [10, 50, 90])
    return {
        "p10": float(p10),
        "p50": float(p50),
        "p90": float(p90),
        "mean": float(np.mean(npv_usd)),
        "cvar": cvar_usd(npv_usd, level),
        "prob_negative": float(np.mean(npv_usd < 0)),
    }


def optimize_document(result: PlanResult) -> dict | None:
    """The optimiser's schedule, its NPV over the scenarios, the best deterministic plan's, and
    the MILP's size and gap (docs/plan.md#optimizer); None when the plan has no optimize."""
    o = result.optimum
    if o is None:
        return None
    spec = result.plan.optimize
    blk = spec.block_mw
    sol = o.solution

    def decision(d) -> dict:
        return {
            "convert_mw": _list(d.convert_blocks * blk),
            "converted_mw": _list(np.cumsum(d.convert_blocks) * blk),
            "ballast_mw": _list(np.cumsum(d.ballast_blocks) * blk),
            "firm_ballast_mw": _list(d.firm_mw),
        }

    return {
        "strategy": o.strategy.name,
        "objective": spec.objective,
        "cvar_level": spec.cvar_level,
        "scenarios": spec.scenarios,
        "block_mw": blk,
        **decision(o.decision),
        "objective_usd": o.objective_usd,
        "npv_usd": _risk(o.npv_usd, spec.cvar_level),
        "case_npv_usd": o.case_npv_usd,
        "deterministic": {
            "case": result.plan.bitcoin.base_case,
            **decision(o.deterministic),
            "objective_usd": o.deterministic_objective_usd,
            "npv_usd": _risk(o.deterministic_npv_usd, spec.cvar_level),
            "case_npv_usd": o.deterministic_case_npv_usd,
        },
        "value_of_stochastic_solution_usd": o.objective_usd - o.deterministic_objective_usd,
        "case_npv_given_up_usd": o.deterministic_case_npv_usd - o.case_npv_usd,
        "milp": {
            "rows": sol.rows,
            "columns": sol.columns,
            "integer_columns": sol.integer_columns,
            "nonzeros": sol.nonzeros,
            "status": sol.status,
            "mip_gap": sol.mip_gap,
        },
    }


def _footprint(items: dict[str, np.ndarray]) -> dict:
    """Energy, CO2 and water per year of one price case, and the energy drawn per USD earned."""
    earned_usd = float(
        np.sum(
            items["mining_revenue_usd"]
            + items["lease_revenue_usd"]
            + items["ballast_value_usd"]
            + items["program_revenue_usd"]
        )
    )
    energy_mwh = float(np.sum(items["energy_mwh"]))
    return {
        "energy_mwh": _list(items["energy_mwh"]),
        "co2_t": _list(items["co2_t"]),
        "water_m3": _list(items["water_m3"]),
        "kwh_per_usd_earned": energy_mwh * 1000.0 / earned_usd if earned_usd > 0 else None,
    }


def operations_document(result: PlanResult) -> dict | None:
    """The backtested configurations (docs/plan.md#operations); None without operations."""
    ops = result.plan.operations
    if ops is None:
        return None
    met: list[operations.Measured] = []
    for r in result.strategies:
        met += [m for m in operations.per_year(result.plan, r.schedule).met if m not in met]
    return {
        "scenario": ops.scenario,
        "resolution": ops.resolution,
        "configurations": [asdict(m) for m in met],
    }


def fleet_document(result: PlanResult) -> dict:
    """The fleet against the network (docs/plan.md#fleet): difficulty growth used, the
    network's J/TH per year (when given), the fleet's J/TH and margin per year in the base
    case, the repowering (year, new J/TH; strategies with ``repower: false`` keep the old
    fleet: their own ``efficiency_j_per_th``), and per miner model (least efficient first) its
    J/TH, MW, margin, and per strategy its MW, revenue and idle years in the base case."""
    plan = result.plan
    b, m = plan.bitcoin, plan.mining
    index = repower_index(plan)
    models = fleet.fleet_models(plan)
    start_j_per_th = fleet.start_efficiency_j_per_th(plan)
    efficiency = fleet.fleet_efficiency_j_per_th(len(result.years), start_j_per_th, m.repower, index)
    power = m.power_price_usd_per_mwh * (1.0 + m.power_escalator_per_yr) ** np.arange(len(result.years))
    hp = result.case_bitcoin[b.base_case].hashprice_usd_per_ph_day[0]
    network = None
    if b.network_efficiency_j_per_th is not None:
        network = fleet.network_efficiency_j_per_th(
            b.network_efficiency_j_per_th, b.network_efficiency_change_per_yr, len(result.years)
        )
    return {
        "difficulty_growth_per_yr": b.difficulty_trend_per_yr,
        "network_efficiency_j_per_th": None if network is None else _list(network),
        "efficiency_j_per_th": _list(efficiency),
        "margin": _list(fleet.margin(hp, power, efficiency, m.pue)),
        "repower_year": None if index is None else int(result.years[index]),
        "repower_efficiency_j_per_th": None if m.repower is None else m.repower.efficiency_j_per_th,
        "models": [_model(result, i, *row) for i, row in enumerate(models)],
    }


def _model(result: PlanResult, i: int, name: str, mw: float, j_per_th: float) -> dict:
    """One miner model: its J/TH, MW at the start, margin per year (base case, before any
    repowering), and per strategy its MW, revenue and the years it is idled (it has MW and its
    hashprice does not cover its energy)."""
    plan, years = result.plan, result.years
    m, case = plan.mining, plan.bitcoin.base_case
    power = m.power_price_usd_per_mwh * (1.0 + m.power_escalator_per_yr) ** np.arange(len(years))
    hp = result.case_bitcoin[case].hashprice_usd_per_ph_day[0]
    by_strategy = {}
    for r in result.strategies:
        s, flows = r.schedule, r.cases[case]
        held = s.model_mining_mw[i] + s.model_ballast_mw[i]
        idle = (held > 0) & ~flows["model_hashing"][i]
        by_strategy[r.strategy.name] = {
            "efficiency_j_per_th": _list(s.model_efficiency_j_per_th[i]),
            "mining_mw": _list(s.model_mining_mw[i]),
            "ballast_mw": _list(s.model_ballast_mw[i]),
            "mining_revenue_usd": _list(flows["model_mining_revenue_usd"][i]),
            "idle_years": [int(y) for y in years[idle]],
        }
    return {
        "name": name,
        "efficiency_j_per_th": j_per_th,
        "mw": mw,
        "margin": _list(fleet.margin(hp, power, j_per_th, m.pue)),
        "strategies": by_strategy,
    }


def plan_document(result: PlanResult, source: str | None = None) -> dict:
    """The JSON-ready summary of a plan run (``ballast.plan/1``; docs/plan.md#output)."""
    plan = result.plan
    years = [int(y) for y in result.years]
    halvings = bf.halving_times_utc(int(result.years[-1]), plan.bitcoin.block_interval_s)
    base = result.case_bitcoin[plan.bitcoin.base_case]
    strategies = []
    for r in result.strategies:
        s = r.schedule
        strategies.append(
            {
                "name": r.strategy.name,
                "kind": r.strategy.kind,
                "baseline": r.strategy.name == result.baseline,
                "best": r.strategy.name == result.best,
                "capex_usd": float(s.capex_usd.sum()),
                "repower_capex_usd": float(s.repower_capex_usd.sum()),
                "efficiency_j_per_th": _list(s.efficiency_j_per_th),
                "converted_mw": _list(s.converted_mw),
                "mining_mw": _list(s.mining_mw),
                "ballast_mw": _list(s.ballast_mw),
                "it_mw": _list(s.it_mw),
                "environment": _footprint(r.cases[plan.bitcoin.base_case]),
                "cases": r.metrics,
                "risk": r.risk or None,
            }
        )
    return {
        "schema": SCHEMA,
        "name": plan.name,
        "plan": source,
        "start_year": plan.start_year,
        "end_year": years[-1],
        "years": years,
        "discount_rate": plan.discount_rate,
        "tax_rate": plan.tax_rate,
        "money": "nominal USD; cash flows at the end of each year, NPV at the start of the first year",
        "baseline": result.baseline,
        "best": result.best,
        "base_case": plan.bitcoin.base_case,
        "bitcoin": {
            "halvings": [
                {
                    "height": int(h.height),
                    "subsidy_btc": float(h.subsidy_btc),
                    "time_utc": h.time_utc.isoformat(),
                    "projected": bool(h.projected),
                }
                for h in halvings.itertuples()
            ],
            "mean_subsidy_btc": _list(base.subsidy_btc),
            "cases": {
                name: {
                    "growth_per_yr": g,
                    "btc_price_usd": _list(result.case_bitcoin[name].btc_price_usd[0]),
                    "hashprice_usd_per_ph_day": _list(result.case_bitcoin[name].hashprice_usd_per_ph_day[0]),
                }
                for name, g in plan.bitcoin.cases.items()
            },
            "paths": result.gbm if result.paths is not None else None,
        },
        "carbon_intensity_g_per_kwh": _list(intensity_g_per_kwh(plan)),
        "fleet": fleet_document(result),
        "strategies": strategies,
        "operations": operations_document(result),
        "optimize": optimize_document(result),
    }


def cashflow_table(result: PlanResult) -> pd.DataFrame:
    """Long table: one row per strategy, price case and year, every line item in USD, MW."""
    frames = []
    for r in result.strategies:
        s = r.schedule
        for case, items in r.cases.items():
            frame = pd.DataFrame(
                {
                    "strategy": r.strategy.name,
                    "case": case,
                    "year": s.years.astype("int64"),
                    "mining_mw": s.mining_mw,
                    "ballast_mw": s.ballast_mw,
                    "converted_mw": s.converted_mw,
                    "it_mw": s.it_mw,
                }
            )
            for k in (*LINE_ITEMS, *FOOTPRINT_ITEMS):
                frame[k] = items[k]
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def paths_table(result: PlanResult) -> pd.DataFrame:
    """Long table of the Bitcoin paths: path, year, price, difficulty, subsidy, hashprice, and
    each strategy's NPV on that path (repeated on its rows)."""
    p = result.paths
    if p is None:
        raise ValueError("this plan run has no price paths")
    n_paths, n_years = p.btc_price_usd.shape
    frame = pd.DataFrame(
        {
            "path": np.repeat(np.arange(n_paths), n_years),
            "year": np.tile(result.years.astype("int64"), n_paths),
            "btc_price_usd": p.btc_price_usd.ravel(),
            "difficulty": p.difficulty.ravel(),
            "subsidy_btc": np.tile(p.subsidy_btc, n_paths),
            "hashprice_usd_per_ph_day": p.hashprice_usd_per_ph_day.ravel(),
        }
    )
    for r in result.strategies:
        frame[f"npv_usd.{r.strategy.name}"] = np.repeat(r.path_npv_usd, n_years)
    return frame


def write_outputs(result: PlanResult, out: Path, doc: dict, report_html: str | None = None) -> dict[str, str]:
    """Write plan.json, cashflows.csv, (with paths) paths.parquet and (given) report.html into
    ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "plan": str(out / "plan.json"),
        "cashflows": str(out / "cashflows.csv"),
        "paths": str(out / "paths.parquet") if result.paths is not None else None,
        "report": str(out / "report.html") if report_html is not None else None,
    }
    cashflow_table(result).to_csv(out / "cashflows.csv", index=False)
    if result.paths is not None:
        paths_table(result).to_parquet(out / "paths.parquet", index=False)
    if report_html is not None:
        (out / "report.html").write_text(report_html, encoding="utf-8")
    (out / "plan.json").write_text(json.dumps({**doc, "files": files}, indent=2) + "\n")
    return files
