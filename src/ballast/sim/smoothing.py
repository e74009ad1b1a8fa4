"""Smoothing studies: miners, a battery and a GPU power floor on the same AI waveform, each alone
and in combination, with compliance metrics and money; and the fine path of ``simulate``.

Money per case [USD, nominal]: import energy at the real-time price; mining revenue from the
hashing miners (group power above sleep, divided by a miner's run-minus-sleep power) at the
day's BTC per TH/s and BTC price, net of pool fee; the floor's burned energy at the real-time
price; the up reserve's opportunity cost as held MW x the margin of the marginal (least
efficient) group, when positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ballast import physics
from ballast.control import ControllerConfig
from ballast.control.build import controller_config, dynamics_of
from ballast.scenario import Scenario
from ballast.sim.compliance import Spec, compliance
from ballast.sim.fine import FineRun, FineSetup, fine_setup, run_fine

DEFAULT_FLOOR_SHARE = 0.9  # GB200 floors of at most 90% of TDP (Choukse et al., arXiv 2508.14318;
# docs/sources.md#gpu-power-smoothing)
CASES: tuple[tuple[str, bool, bool, bool], ...] = (
    # name, miners smooth, battery, GPU floor
    ("none", False, False, False),
    ("miners", True, False, False),
    ("battery", False, True, False),
    ("floor", False, False, True),
    ("miners+battery", True, True, False),
    ("miners+floor", True, False, True),
    ("battery+floor", False, True, True),
    ("miners+battery+floor", True, True, True),
)


def spec_of(scenario: Scenario) -> Spec:
    s = scenario.smoothing
    if s is None:
        return Spec()
    return Spec(s.ramp_up_mw_per_s, s.ramp_down_mw_per_s, s.ramp_window_s, s.dynamic_range_limit_mw,
                s.target_tau_s, s.band_energy_share_max)


@dataclass(frozen=True)
class CaseRun:
    name: str
    run: FineRun
    config: ControllerConfig


def run_case(setup: FineSetup, name: str, miners: bool, battery: bool, floor: bool,
             floor_share: float | None = None, *, baseline: bool = False,
             record_every: int = 1, keep_ticks: bool = True, progress=None) -> CaseRun:
    """One policy on the scenario's waveform. ``baseline``: business as usual (every miner on
    wherever the interconnect allows, no smoothing, no battery, no floor)."""
    scn = setup.scenario
    share = None
    if floor:
        share = scn.ai.training.gpu_power_floor_share or DEFAULT_FLOOR_SHARE
    ai = setup.ai(floor=floor, floor_share=share if floor else 0.0) if scn.ai else setup.ai()
    batt = scn.battery if battery else None
    cfg = controller_config(scn, setup.dt_s, ai=ai, baseline=baseline, miners=miners,
                            battery=batt, smoothing=(miners or batt is not None) and not baseline)
    run = run_fine(cfg, setup.coarse.frame, ai, setup.n_ticks, dynamics_of(scn), name=name,
                   battery=batt, record_every=record_every, keep_ticks=keep_ticks,
                   progress=progress)
    return CaseRun(name, run, cfg)


def case_money(case: CaseRun, setup: FineSetup, pool_fee: np.ndarray | None = None
               ) -> dict[str, float]:
    """Energy, BTC and money of one case (see module docstring)."""
    run, cfg = case.run, case.config
    g = cfg.groups
    f = setup.coarse.frame
    dt_h = run.dt_s / 3600.0
    every = setup.coarse_every
    n = run.n
    tick_c = np.arange(n) // every
    price = f["price_usd_per_mwh"].to_numpy()
    # per coarse row sums of import and miner power (bincount keeps memory flat)
    imp_c = np.bincount(tick_c, weights=run.import_mw, minlength=len(f))
    energy_cost = float((imp_c * price[:len(imp_c)]).sum() * dt_h)
    blk_c = (np.arange(run.group_power_mw.shape[0]) * run.record_every) // every
    hashing = physics.hashing_miners(run.group_power_mw, g.count, g.run_mw, g.sleep_mw)
    blk_h = np.minimum(run.record_every, n - np.arange(len(blk_c)) * run.record_every) * dt_h
    btc_per_th_day = f["btc_per_th_day"].to_numpy()[blk_c]
    fee = g.pool_fee_share if pool_fee is None else pool_fee
    btc = physics.after_pool_fee(  # per block and group [BTC]
        physics.btc_mined(hashing * g.hashrate_th_s, btc_per_th_day[:, None], blk_h[:, None]), fee)
    btc_mined = float(btc.sum())
    revenue = float(physics.mining_revenue_usd(btc.sum(axis=1),
                                               f["btc_price_usd"].to_numpy()[blk_c]).sum())
    group_mwh = run.group_power_mw * blk_h[:, None]
    miner_mwh = float(group_mwh.sum())
    miner_cost = float((group_mwh.sum(axis=1) * price[blk_c]).sum())
    # opportunity cost of the up reserve, priced at the marginal (least efficient) group
    worst = int(g.merit[-1]) if len(g.merit) else 0
    be = f["hashprice_usd_per_ph_day"].to_numpy()[blk_c] * (
        g.breakeven_per_hashprice[worst] if len(g.merit) else 0.0)
    reserve_cost = float((run.reserve_mw[:, 0] * np.maximum(be - price[blk_c], 0) * blk_h).sum())
    return {
        "ai_energy_mwh": float(run.ai_mw.sum(dtype="float64") * dt_h),
        "import_energy_mwh": float(run.import_mw.sum(dtype="float64") * dt_h),
        "energy_cost_usd": energy_cost,
        "miner_energy_mwh": miner_mwh,
        "miner_energy_cost_usd": miner_cost,
        "btc_mined": btc_mined,
        "mining_revenue_usd": revenue,
        "mining_margin_usd": revenue - miner_cost,
        "floor_burn_mwh": run.floor_fill_mwh,
        "floor_burn_cost_usd": run.floor_fill_cost_usd,
        "reserve_up_mean_mw": float(run.reserve_mw[:, 0].mean()) if len(run.reserve_mw) else 0.0,
        "reserve_down_mean_mw": float(run.reserve_mw[:, 1].mean()) if len(run.reserve_mw)
        else 0.0,
        "reserve_opportunity_cost_usd": reserve_cost,
        "battery_discharge_mwh": float(np.clip(run.battery_mw, 0, None).sum(dtype="float64")
                                       * dt_h) if run.battery_mw is not None else 0.0,
    }


UNITS = {"mw_per_s": "MW/s", "_mwh": "MWh", "_mw": "MW", "_usd": "USD", "btc_mined": "BTC",
         "share": "-", "minutes": "min", "hz": "Hz", "violation": "flag"}


def unit_of(name: str) -> str:
    for key, unit in UNITS.items():
        if key in name:
            return unit
    return "-"


def compare_cases(scenario: Scenario, base_dir: Path | None = None,
                  cases=CASES, setup: FineSetup | None = None
                  ) -> tuple[pd.DataFrame, dict[str, CaseRun]]:
    """Compliance and money of each case on the same waveform: rows = metrics, columns = cases
    (plus unit). Battery cases are skipped when the scenario has no battery."""
    setup = setup or fine_setup(scenario, base_dir)
    spec = spec_of(scenario)
    cols: dict[str, dict[str, float]] = {}
    runs: dict[str, CaseRun] = {}
    for name, miners, battery, floor in cases:
        if battery and scenario.battery is None:
            continue
        if floor and (scenario.ai is None or scenario.ai.profile != "training"):
            continue
        case = run_case(setup, name, miners, battery, floor)
        metrics = compliance(case.run.import_mw, setup.dt_s, spec)
        metrics.pop("_ramp_hist_1s")
        metrics.update(case_money(case, setup))
        cols[name] = metrics
        runs[name] = case
    table = pd.DataFrame(cols)
    table["unit"] = [unit_of(k) for k in table.index]
    table.index.name = "metric"
    return table, runs


MAX_SIMULATE_TICKS = 3_000_000  # per-tick results document; longer runs: run_case(record_every)


@dataclass(frozen=True)
class FineResults:
    """What ``simulate`` keeps of a fine run, for the smoothing KPIs and report."""

    setup: FineSetup
    ballast: CaseRun
    baseline: CaseRun


def to_run_series(case: CaseRun, setup: FineSetup):
    """A fine case as the engine's per-tick ``RunSeries`` (needs ``record_every`` = 1)."""
    from ballast.control import RULE_NAMES
    from ballast.sim.engine import RunSeries, site_flows

    run, g = case.run, case.config.groups
    idx = run.index()
    ren = setup.coarse.frame["renewable_mw"].to_numpy()[np.arange(run.n) // setup.coarse_every]
    frame = site_flows(run.ai_mw.astype("float64"), ren, run.miner_mw.astype("float64"),
                       case.config.export_limit_mw, idx)
    frame["battery_mw"] = run.battery_mw.astype("float64")
    frame["import_mw"] = run.import_mw.astype("float64")
    frame["export_mw"] = physics.export_mw(frame["import_mw"].to_numpy())
    frame["binding_rule"] = pd.Categorical.from_codes(run.rule.astype(np.int64),
                                                      categories=list(RULE_NAMES))
    hashing = physics.hashing_miners(run.group_power_mw, g.count, g.run_mw, g.sleep_mw)
    names = list(g.names)
    return RunSeries(name=case.name, frame=frame,
                     group_running=pd.DataFrame(hashing, index=idx, columns=names),
                     group_power_mw=pd.DataFrame(run.group_power_mw, index=idx, columns=names))


def simulate_fine(scenario: Scenario, base_dir: Path | None = None, progress=None):
    """``simulate`` at 1 s or finer: Ballast (smoothing, battery and floor as the scenario says)
    and the business-as-usual baseline, on the miner plant model."""
    from ballast.data.errors import DataError
    from ballast.inputs import SiteInputs
    from ballast.sim.engine import Simulation

    setup = fine_setup(scenario, base_dir)
    if setup.n_ticks > MAX_SIMULATE_TICKS:
        raise DataError("scenario run", f"{setup.n_ticks:,} ticks at {scenario.run.resolution} "
                        f"exceed {MAX_SIMULATE_TICKS:,} for a per-tick results document; shorten "
                        "the period, or use ballast.sim.smoothing.run_case(record_every=...) "
                        "as benchmarks/smoothing.py does for a 1-s year")
    n = setup.n_ticks

    def half(offset: int):
        if progress is None:
            return None
        return lambda done, _total: progress(offset + done, 2 * n)

    spec = scenario.smoothing
    floor = (scenario.ai is not None and scenario.ai.profile == "training"
             and scenario.ai.training.gpu_power_floor_share > 0)
    ours = run_case(setup, "ballast", spec is not None and spec.enabled,
                    scenario.battery is not None, floor, progress=half(0))
    base = run_case(setup, "baseline", False, False, False, baseline=True, progress=half(n))
    tick_c = np.arange(n) // setup.coarse_every
    frame = setup.coarse.frame.iloc[tick_c].set_index(ours.run.index())
    frame["ai_load_mw"] = ours.run.ai_mw.astype("float64")
    if scenario.ai is not None:
        frame["ai_it_load_mw"] = frame["ai_load_mw"] / scenario.ai.pue
    inputs = SiteInputs(frame=frame, renewable_columns=setup.coarse.renewable_columns)
    return Simulation(scenario=scenario, inputs=inputs, ballast=to_run_series(ours, setup),
                      baseline=to_run_series(base, setup), config=ours.config,
                      fine=FineResults(setup, ours, base))


def smoothing_kpis(fine: FineResults) -> pd.DataFrame:
    """Smoothing KPIs of Ballast and the baseline, in the KPI table's shape."""
    spec = spec_of(fine.setup.scenario)
    cols = {}
    for label, case in (("ballast", fine.ballast), ("baseline", fine.baseline)):
        m = compliance(case.run.import_mw, fine.setup.dt_s, spec)
        m.pop("_ramp_hist_1s")
        money = case_money(case, fine.setup)
        for key in ("floor_burn_mwh", "floor_burn_cost_usd", "reserve_up_mean_mw",
                    "reserve_down_mean_mw", "reserve_opportunity_cost_usd",
                    "battery_discharge_mwh"):
            m[key] = money[key]
        cols[label] = m
    out = pd.DataFrame(cols)
    out["delta"] = out["ballast"] - out["baseline"]
    out["unit"] = [unit_of(k) for k in out.index]
    out.index = [f"smoothing.{k}" for k in out.index]
    out.index.name = "kpi"
    return out
