"""Limits of miner balancing: for AI swings of amplitude A [MW] and period T [s], how much of the
swing the miners remove through the rule controller and the miner plant (the fine engine,
``ballast.sim.fine``), and what it costs them in mining energy.

Each cell replays a pure sine AI load (mean = the scenario's AI power, amplitude A, period T)
for ``hours`` at the scenario's resolution, once with smoothing by the miners (no battery, no GPU
floor) and once without. The residual is the import's amplitude at the forcing frequency over
the AI's (a lock-in measurement over the second half of the run); above 1 the miners make the
swing worse.

Mining margin lost [USD] = (mining revenue - the site's energy cost) without smoothing minus the
same with it, priced on the scenario's own inputs (BTC per TH/s-day, BTC price, real-time price,
pool fee, export price share) by the backtest's functions (``sim.kpis``); the AI load is the
same in both runs, so the difference is what balancing costs the miners.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.control import ControllerConfig
from ballast.inputs import SiteInputs, step_hours
from ballast.scenario import Scenario, parse_scenario
from ballast.sim.engine import RunSeries
from ballast.sim.kpis import energy_cost_usd, mining_revenue_usd

SPEC_BAND_HZ = (0.1, 2.0)  # AI-training oscillation band (Microsoft, OpenAI and NVIDIA,
# "Power Stabilization for AI Training Datacenters", arXiv:2508.14318, 2025)
ABSORBED = 0.2  # "absorbs" a swing: residual <= 20 %
NOT_ABSORBED = 0.8  # "needs a battery or a GPU floor": residual >= 80 %


def amplitude_at(x: np.ndarray, dt_s: float, period_s: float) -> float:
    """Amplitude [same unit as x] of the component of ``x`` at 1/period (lock-in over whole
    periods of the given samples)."""
    n_per = period_s / dt_s
    n = int(len(x) // n_per * n_per) if len(x) >= n_per else len(x)
    t = np.arange(n) * dt_s
    y = x[:n] - x[:n].mean()
    z = np.exp(-2j * np.pi * t / period_s)
    return float(2 * np.abs((y * z).mean()))


@dataclass
class BalancingMap:
    """Residual share, mining energy lost and mining margin lost per (period, amplitude)."""

    scenario: str
    fleet_mw: float
    periods_s: np.ndarray
    amplitudes_mw: np.ndarray
    residual: np.ndarray  # periods x amplitudes [-]
    mining_energy_lost: np.ndarray  # periods x amplitudes [-], share of the unsmoothed run's
    mining_margin_lost_usd: np.ndarray  # periods x amplitudes [USD per run of ``hours``]
    hours: float = 1.0  # simulated hours per cell

    def absorbs_slower_than_s(self, amp_index: int | None = None) -> float | None:
        """Shortest period from which every slower swing keeps <= 20 % residual."""
        col = self.residual[:, self._col(amp_index)]
        ok = col <= ABSORBED
        for i in range(len(col)):
            if ok[i:].all():
                return float(self.periods_s[i])
        return None

    def fails_faster_than_s(self, amp_index: int | None = None) -> float | None:
        """Longest period up to which every faster swing keeps >= 80 % residual."""
        col = self.residual[:, self._col(amp_index)]
        bad = col >= NOT_ABSORBED
        best = None
        for i in range(len(col)):
            if bad[: i + 1].all():
                best = float(self.periods_s[i])
        return best

    def _col(self, amp_index: int | None) -> int:
        return len(self.amplitudes_mw) // 2 if amp_index is None else amp_index

    def sentence(self) -> str:
        a = self.amplitudes_mw[self._col(None)]
        x, y = self.absorbs_slower_than_s(), self.fails_faster_than_s()
        lo_s, hi_s = 1 / SPEC_BAND_HZ[1], 1 / SPEC_BAND_HZ[0]
        slow = f"slower than {x:.3g} s" if x is not None else "of no tested period"
        fast = (f"faster than {y:.3g} s it needs a battery or a GPU floor" if y is not None
                else "no tested period is beyond it")
        where = ("entirely" if y is not None and y >= hi_s else "partly"
                 if y is not None and y >= lo_s else "not")
        return (f"This {self.fleet_mw:,.0f} MW fleet absorbs {a:,.0f} MW swings {slow}; {fast}. "
                f"The 0.1-2 Hz band of the AI-training specification ({lo_s:g}-{hi_s:g} s "
                f"periods) lies {where} in the range where the miners alone do not help.")

    def table(self) -> pd.DataFrame:
        rows = [{"period_s": p, "amplitude_mw": a, "residual_share": self.residual[i, j],
                 "mining_energy_lost_share": self.mining_energy_lost[i, j],
                 "mining_margin_lost_usd": self.mining_margin_lost_usd[i, j]}
                for i, p in enumerate(self.periods_s) for j, a in enumerate(self.amplitudes_mw)]
        return pd.DataFrame(rows)


def mining_margin_usd(run: RunSeries, inputs: SiteInputs, config: ControllerConfig,
                      export_price_share: float) -> float:
    """Mining revenue minus the site's energy cost [USD] of a run at ticks finer than the
    intervals of ``inputs`` (a whole number of ticks per interval, from ``inputs``' start):
    revenue of the interval-mean hashing miners (``kpis.mining_revenue_usd``) and each tick's
    import at its interval's real-time price (``kpis.energy_cost_usd``)."""
    dt_h = step_hours(run.frame.index)
    every = round(step_hours(inputs.index) / dt_h)
    tick_c = np.arange(len(run.frame)) // every
    nc = len(inputs.index)
    running = np.column_stack([np.bincount(tick_c, weights=run.group_running[c].to_numpy(),
                                           minlength=nc) / every
                               for c in run.group_running.columns])
    price = inputs.frame["price_usd_per_mwh"].to_numpy()[tick_c]
    revenue = mining_revenue_usd(running, inputs, config).sum()
    cost = energy_cost_usd(run.frame["import_mw"].to_numpy(), price, dt_h, export_price_share)
    return float(revenue - cost.sum())


# "Hold the import flat": the tightest spec the controller accepts, so the map measures what the
# fleet *can* remove rather than what the scenario's own spec asks of it.
FLAT_SPEC = {"ramp_up_mw_per_s": 0.01, "ramp_down_mw_per_s": 0.01, "dynamic_range_mw": 0.5,
             "target_tau_s": 3600.0}


def _map_scenario(scenario: Scenario, hours: float, flat: bool) -> Scenario:
    data = scenario.model_dump(mode="json")
    start = pd.Timestamp(scenario.run.start)
    data["run"]["end"] = (start + pd.Timedelta(hours=hours)).isoformat()
    data["battery"] = None  # miners alone
    if flat:
        data["smoothing"] = {**(data.get("smoothing") or {}), **FLAT_SPEC}
    return parse_scenario(data, "(balancing map)")


def balancing_map(scenario: Scenario, periods_s: np.ndarray | None = None,
                  amplitudes_mw: np.ndarray | None = None, hours: float = 1.0,
                  base_dir: Path | None = None, flat: bool = True) -> BalancingMap:
    """The capability map of the scenario's miner fleet (see module docstring); ``flat``: ask
    for a flat import (``FLAT_SPEC``) instead of the scenario's own smoothing spec."""
    from ballast.control.build import controller_config, dynamics_of
    from ballast.sim.fine import fine_setup, run_fine
    from ballast.sim.fine_ai import FineAi
    from ballast.sim.smoothing import CaseRun, to_run_series

    scn = _map_scenario(scenario, hours, flat)
    setup = fine_setup(scn, base_dir)
    g = controller_config(scn, setup.dt_s).groups
    fleet = float((np.asarray(g.count) * np.asarray(g.run_mw)).sum())
    mean_ai = float(scn.ai.it_load_mw * scn.ai.pue) * 0.8 if scn.ai else fleet
    periods = np.geomspace(4, 1800, 10) if periods_s is None else np.asarray(periods_s, float)
    amps = (np.linspace(0.05, 0.5, 10) * fleet if amplitudes_mw is None
            else np.asarray(amplitudes_mw, float))
    coarse_ai = np.full(len(setup.coarse.frame), mean_ai)
    dt, dyn = setup.dt_s, dynamics_of(scn)
    residual = np.zeros((len(periods), len(amps)))
    lost = np.zeros_like(residual)
    lost_usd = np.zeros_like(residual)
    share = scn.markets.export_price_share
    half = setup.n_ticks // 2
    for i, period in enumerate(periods):
        n = max(8, round(period / dt))
        t = np.arange(n + 1) * (period / n)
        for j, amp in enumerate(amps):
            trace = mean_ai + amp * np.sin(2 * np.pi * t / period + np.pi / 4)
            ai = FineAi("replay", dt, setup.t0_s, coarse_ai, setup.coarse_every, scn.run.seed,
                        trace_t_s=t, trace_mw=trace)
            runs, margin = {}, {}
            for case, on in (("miners", True), ("none", False)):
                cfg = controller_config(scn, dt, ai=ai, miners=on, battery=None, smoothing=on)
                runs[case] = run_fine(cfg, setup.coarse.frame, ai, setup.n_ticks, dyn, name=case)
                series = to_run_series(CaseRun(case, runs[case], cfg), setup)
                margin[case] = mining_margin_usd(series, setup.coarse, cfg, share)
            m = runs["miners"]
            ai_amp = amplitude_at(m.ai_mw[half:].astype("float64"), dt, period)
            residual[i, j] = (amplitude_at(m.import_mw[half:].astype("float64"), dt, period)
                              / ai_amp if ai_amp > 0 else np.nan)
            e_none = float(runs["none"].miner_mw.sum(dtype="float64"))
            lost[i, j] = 1 - float(m.miner_mw.sum(dtype="float64")) / e_none if e_none else 0.0
            lost_usd[i, j] = margin["none"] - margin["miners"]
    return BalancingMap(scn.name, fleet, periods, amps, residual, lost, lost_usd, hours)


def system_oscillation_mw(study, limit_mhz: float, forcing_hz: float,
                          residual_share: float = 1.0) -> float:
    """MW of AI oscillation at ``forcing_hz`` that keeps the interconnection's frequency swing
    within +/- ``limit_mhz`` (SFR model, linear): limit / |df/dP|(j w), divided by the share of
    the swing left after miners (``residual_share``)."""
    from ballast.studies.frequency_study import sfr_params

    p = sfr_params(study)
    h, r, d, km = p.inertia_h_s, p.droop_pu, p.damping_pu, p.governor_gain_pu
    tr, fh = p.reheat_time_s, p.hp_fraction
    s = 2j * np.pi * forcing_hz
    g = (1 + tr * s) / ((2 * h * s + d) * (1 + tr * s) + km / r * (1 + fh * tr * s))
    hz_per_mw = abs(g) * p.nominal_hz / p.base_mw
    return float(limit_mhz / 1000 / hz_per_mw / max(residual_share, 1e-9))


def system_table(bmap: BalancingMap, study, miners_mw: float, limit_mhz: float) -> pd.DataFrame:
    """Per period: MW of AI oscillation the interconnection carries within +/- ``limit_mhz``
    without miners, and with ``miners_mw`` of miners spread like this campus's fleet (each MW of
    system swing meets miners in the campus's proportion; the map's residual at the matching
    campus amplitude applies). 'with' is capped at the largest amplitude the map tested."""
    rows = []
    for i, period in enumerate(bmap.periods_s):
        bare = system_oscillation_mw(study, limit_mhz, 1.0 / period)
        best, lower = 0.0, 0.0
        for j, amp in enumerate(bmap.amplitudes_mw):  # residual r_j holds up to amplitude j
            system_mw = amp * miners_mw / bmap.fleet_mw
            r = bmap.residual[i, j]
            if np.isfinite(r) and r > 0 and bare / r >= lower:
                best = max(best, min(system_mw, bare / r))
            lower = system_mw
        capped = bool(best >= bmap.amplitudes_mw[-1] * miners_mw / bmap.fleet_mw)
        rows.append({"period_s": float(period), "forcing_hz": float(1 / period),
                     "without_miners_mw": bare,
                     "with_miners_mw": max(best, bare) if capped else best,
                     "with_miners_at_map_limit": capped})
    return pd.DataFrame(rows)
