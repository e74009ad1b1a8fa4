"""Settlement of grid programs: what each program paid or cost, for Ballast and the baseline,
how the site performed in every event, and the event log.

Money is nominal USD. Reserve availability is paid on the MW actually sold per interval (never
more than the headroom); a shortfall in a deployment pays a penalty per MWh not delivered. The
4CP transmission charge and the fixed-price contract are costs of every run, in
``net_margin_usd`` (``ballast/costs.py``); here they are only reported (the charge each run
pays, the power credits), never added to the programs' cash a second time.

Settlement reads results and never runs the controller: the engine makes every run (with the
programs, with none, without each one: ``sim/program_runs.py``) and hands them here as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from ballast.coincident_peak import settle_fourcp
from ballast.costs import (
    contract_settlement_usd,
    power_credits_usd,
    supply_contract,
    transmission_rate_usd_per_kw_year,
)
from ballast.inputs import SiteInputs, step_hours
from ballast.programs.dr import dr_achieved_reduction_mw, dr_shortfall_mw
from ballast.programs.plan import ProgramPlan
from ballast.programs.schema import RESERVE_PROGRAMS
from ballast.scenario import Scenario

__all__ = ["RULE_PROGRAMS", "Counterfactuals", "ProgramOutcome", "Run", "contract_settlement_usd",
           "energy_mwh", "energy_usd", "power_credits_usd", "reserve_payment_usd", "settle_programs"]

# the programs that act through the rule stack: each is left out in turn to value it
RULE_PROGRAMS = ("coincident_peak", "responsive_reserve", "ecrs", "ers", "non_spin",
                 "demand_response", "emergency")

EVENT_COLUMNS = ["program", "kind", "signal_time_utc", "start_utc", "end_utc", "command",
                 "opted_in", "reason", "committed_mw", "reference_mw", "baseline_import_mw",
                 "baseline_method", "achieved_reduction_mw",
                 "shortfall_mw", "reduced_mwh", "vs_baseline_reduction_mw", "time_to_reach_min", "on_time"]


class Run(Protocol):
    """What settlement reads of one run (the engine's ``RunSeries`` is one)."""

    frame: pd.DataFrame  # per interval on the run index: import_mw, miner_mw [MW]


@dataclass(frozen=True)
class Counterfactuals:
    """Net margins [USD] of the runs that value the programs, made by the engine
    (``sim/program_runs.py``) and handed in as data.

    ``margin_usd``: the Ballast run, every program answered; ``no_programs_margin_usd``: the
    same controller answering none (its margin holds its own 4CP charge and the same
    contract, like every run's); ``without_usd``: per program left out, that run's margin and
    its programs' cash (empty with fewer than two rule programs)."""

    margin_usd: float
    no_programs_margin_usd: float
    without_usd: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ProgramOutcome:
    """Per-program money and performance, KPI rows and the event log."""

    summary: pd.DataFrame  # index program; revenue_usd, penalty_usd, net_usd, baseline_net_usd,...
    kpis: pd.DataFrame  # index kpi; ballast, baseline, unit
    events: pd.DataFrame  # EVENT_COLUMNS
    fourcp_peaks: pd.DataFrame | None  # one row per peak covered, site demand both runs, hit


def reserve_payment_usd(sold_mw, price_usd_per_mw_h: float, dt_h: float) -> float:
    """Reserve availability paid on the MW sold per interval (one or an array) [USD]."""
    return float((np.asarray(sold_mw, dtype=float) * price_usd_per_mw_h * dt_h).sum())


def energy_mwh(power_mw, dt_h: float) -> float:
    """Energy of a power held over intervals of ``dt_h`` (one or per interval [MW]; negative
    counts as none) [MWh]: a reduction achieved, a shortfall, a reserve sold."""
    return float(np.clip(power_mw, 0, None).sum() * dt_h)


def energy_usd(mwh: float, usd_per_mwh: float) -> float:
    """An energy payment or penalty [USD]: a DR payment on MWh reduced, a reserve's penalty on
    MWh short."""
    return float(mwh * usd_per_mwh)


def _event_rows(plan: ProgramPlan, run: Run, baseline: Run, dt_h: float) -> pd.DataFrame:
    idx = plan.index
    miner = run.frame["miner_mw"].to_numpy()
    base_miner = baseline.frame["miner_mw"].to_numpy()
    imp = run.frame["import_mw"].to_numpy()
    base_imp = baseline.frame["import_mw"].to_numpy()
    step = idx[1] - idx[0] if len(idx) > 1 else pd.Timedelta("15min")
    rows = []
    for ev in plan.events:
        a, b = ev.start_tick, min(ev.end_tick, len(idx))
        start = idx[a] if a < len(idx) else idx[-1] + step
        end = idx[b - 1] + step if b > a else start
        row = {"program": ev.program, "kind": ev.kind, "signal_time_utc": ev.signal_time_utc,
               "start_utc": start, "end_utc": end, "opted_in": ev.opted_in, "reason": ev.reason,
               "committed_mw": ev.commit_mw, "reference_mw": ev.reference_mw,
               "baseline_import_mw": ev.baseline_import_mw,
               "baseline_method": ev.baseline_method or None}
        if not ev.opted_in or b <= a:
            row["command"] = "none"
            rows.append(row)
            continue
        row["command"] = f"cap miners at {ev.cap_mw:.2f} MW"
        asked = ev.commit_mw
        if ev.dr is not None:  # DR: campus import below its baseline (programs/dr.py)
            if ev.baseline_series_mw is not None:  # like days: a baseline per interval
                red = dr_achieved_reduction_mw(ev.baseline_series_mw[:b - a], imp[a:b])
                asked = ev.reduction_series_mw[:b - a]
                lo, hi = ev.baseline_series_mw.min(), ev.baseline_series_mw.max()
                row["command"] = (f"cap miners, tightest {ev.cap_mw:.2f} MW (baseline "
                                  f"{lo:.2f}-{hi:.2f} MW by {ev.baseline_method})")
            else:
                red = dr_achieved_reduction_mw(ev.baseline_import_mw, imp[a:b])
            vs_base = base_imp[a:b] - imp[a:b]
        else:  # reserves: miner power below the last measured tick
            red = ev.reference_mw - miner[a:b]
            vs_base = base_miner[a:b] - miner[a:b]
        row["achieved_reduction_mw"] = float(red.mean())
        row["reduced_mwh"] = energy_mwh(red, dt_h)
        row["vs_baseline_reduction_mw"] = float(vs_base.mean())
        if not np.isnan(ev.commit_mw):
            row["shortfall_mw"] = float(dr_shortfall_mw(asked, red).mean())
            reached = np.flatnonzero(red >= asked - 1e-6)
            t_reach = float(reached[0] * dt_h * 60.0) if reached.size else float("nan")
            row["time_to_reach_min"] = t_reach
            if not np.isnan(ev.response_minutes):
                row["on_time"] = bool(reached.size) and t_reach <= max(ev.response_minutes,
                                                                        dt_h * 60.0)
        rows.append(row)
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def settle_programs(scenario: Scenario, inputs: SiteInputs, plan: ProgramPlan, ballast: Run,
                    baseline: Run, counterfactuals: Counterfactuals | None = None
                    ) -> ProgramOutcome:
    """Pay and score every program of ``scenario.programs`` for the Ballast run (under
    ``plan``) and the baseline. With ``counterfactuals``, also what the programs are worth
    against answering none (``programs_value_usd``) and each one's marginal value: margin plus
    program cash with every program, minus the same with that one left out. Leaving 4CP out
    does not leave out the transmission charge: that run's margin holds it, on its own peak
    demand. Marginal values are not additive: programs compete for the same miners."""
    progs = scenario.programs
    idx = inputs.index
    dt = step_hours(idx)
    price = inputs.frame["price_usd_per_mwh"].to_numpy()
    ours, base = ballast.frame, baseline.frame
    events = _event_rows(plan, ballast, baseline, dt)
    summary: dict[str, dict[str, float]] = {}
    kpis: list[tuple[str, float, float, str]] = []

    def add(program: str, revenue: float, penalty: float = 0.0, baseline_net: float = 0.0,
            **extra: float) -> None:
        summary[program] = {"revenue_usd": revenue, "penalty_usd": penalty,
                            "net_usd": revenue - penalty, "baseline_net_usd": baseline_net,
                            **extra}

    evs = events[events["opted_in"].astype(bool)] if len(events) else events

    if progs.price_response is not None:  # the contract itself settles in net_margin_usd
        contract = supply_contract(scenario)
        cred = power_credits_usd(ours["import_mw"].to_numpy(), price, contract.volume_mw,
                                 contract.price_usd_per_mwh, dt).sum()
        cred_b = power_credits_usd(base["import_mw"].to_numpy(), price, contract.volume_mw,
                                   contract.price_usd_per_mwh, dt).sum()
        kpis.append(("power_credits_usd", float(cred), float(cred_b), "USD"))
        add("price_response", float(cred), baseline_net=float(cred_b))

    peaks_table = None
    if progs.coincident_peak is not None and plan.fourcp_peaks is not None:
        tx_rate = transmission_rate_usd_per_kw_year(scenario)
        curtailing = pd.Series(plan.fourcp_alert, index=idx)
        t_ours, s_ours = settle_fourcp(ours["import_mw"], plan.fourcp_peaks, curtailing,
                                              tx_rate)
        never = pd.Series(False, index=idx)
        t_base, s_base = settle_fourcp(base["import_mw"], plan.fourcp_peaks, never,
                                              tx_rate)
        if len(t_ours):
            peaks_table = t_ours.assign(baseline_site_demand_mw=t_base["site_demand_mw"].to_numpy())
        hours_alert = float(plan.fourcp_alert.sum() * dt)
        hit_rate = s_ours["hits"] / s_ours["peaks_covered"] if s_ours["peaks_covered"] else np.nan
        saved = s_base["charge_usd"] - s_ours["charge_usd"]
        kpis += [("4cp_peaks_covered", s_ours["peaks_covered"], s_base["peaks_covered"], "peaks"),
                 ("4cp_hit_rate_pct", 100 * hit_rate, 0.0, "%"),
                 ("4cp_mean_demand_mw", s_ours["mean_demand_mw"], s_base["mean_demand_mw"], "MW"),
                 ("4cp_transmission_charge_usd", s_ours["charge_usd"], s_base["charge_usd"], "USD"),
                 ("4cp_hours_curtailing", hours_alert, 0.0, "h")]
        add("coincident_peak", float(saved), baseline_net=0.0, charge_usd=s_ours["charge_usd"],
            baseline_charge_usd=s_base["charge_usd"], hit_rate_pct=100 * hit_rate,
            hours_curtailing=hours_alert, peaks_covered=s_ours["peaks_covered"],
            deployments=float(sum(1 for e in plan.events if e.program == "coincident_peak")))

    for name in RESERVE_PROGRAMS:
        prog = getattr(progs, name)
        if prog is None:
            continue
        sold = plan.reserve_sold_mw[name]
        pay = reserve_payment_usd(sold, prog.price_usd_per_mw_h, dt)
        sold_mw_h = energy_mwh(sold, dt)  # sold is never negative
        mine = evs[evs["program"] == name] if len(evs) else evs
        short_mwh = 0.0
        if len(mine):
            hours = (pd.to_datetime(mine["end_utc"]) - pd.to_datetime(mine["start_utc"])
                     ).dt.total_seconds().to_numpy() / 3600.0
            short_mwh = float(np.nansum(mine["shortfall_mw"].to_numpy(dtype=float) * hours))
        rate = getattr(prog, "shortfall_penalty_usd_per_mwh", 0.0)
        penalty = energy_usd(short_mwh, rate)
        offered_mwh = prog.offer_mw * len(idx) * dt
        kpis += [(f"reserve_sold_mwh[{name}]", sold_mw_h, 0.0, "MW-h"),
                 (f"reserve_sold_share_pct[{name}]",
                  100 * sold_mw_h / offered_mwh if offered_mwh else 0.0, 0.0, "%")]
        add(name, pay, penalty, deployments=float(len(mine)), shortfall_mwh=short_mwh,
            sold_mw_h=sold_mw_h)

    if progs.demand_response is not None:
        dr = progs.demand_response
        mine = evs[evs["program"] == "demand_response"] if len(evs) else evs
        reduced = float(np.nansum(mine["reduced_mwh"].to_numpy(dtype=float))) if len(mine) else 0.0
        declined = int((events["program"] == "demand_response").sum() - len(mine))
        add("demand_response", energy_usd(reduced, dr.payment_usd_per_mwh),
            deployments=float(len(mine)), declined=float(declined), reduced_mwh=reduced)

    if progs.emergency is not None:
        mask = np.zeros(len(idx), dtype=bool)
        for ev in plan.events:
            if ev.program == "emergency" and ev.opted_in:
                mask[ev.start_tick:ev.end_tick] = True
        off = (base["miner_mw"].to_numpy() - ours["miner_mw"].to_numpy())[mask]
        kpis += [("eea_hours", float(mask.sum() * dt), float(mask.sum() * dt), "h"),
                 ("eea_mw_off_grid_mean", float(off.mean()) if off.size else 0.0, 0.0, "MW"),
                 ("eea_mw_off_grid_max", float(off.max()) if off.size else 0.0, 0.0, "MW"),
                 ("eea_energy_avoided_mwh", float(off.sum() * dt), 0.0, "MWh")]
        add("emergency", 0.0, deployments=float(sum(1 for e in plan.events
                                                     if e.program == "emergency")),
            mw_off_grid_max=float(off.max()) if off.size else 0.0)

    table = pd.DataFrame.from_dict(summary, orient="index")
    table.index.name = "program"
    for program, row in table.iterrows():
        kpis.append((f"program_net_usd[{program}]", float(row["net_usd"]),
                     float(row["baseline_net_usd"]), "USD"))
    # the cash the programs add to the site's margin: payments less penalties. The 4CP charge
    # and the contract (with its power credits) are already in net_margin_usd
    total = sum(float(r["net_usd"]) for p, r in table.iterrows()
                if p not in ("coincident_peak", "price_response"))
    total_b = 0.0
    kpis.append(("programs_cash_usd", total, total_b, "USD"))
    if counterfactuals is not None:
        cf = counterfactuals
        with_all = cf.margin_usd + total  # margin plus program cash, every program answered
        kpis.append(("programs_value_usd", with_all - cf.no_programs_margin_usd, 0.0, "USD"))
        for name, (margin_v, cash_v) in cf.without_usd.items():
            value = with_all - margin_v - cash_v
            kpis.append((f"program_value_usd[{name}]", value, 0.0, "USD"))
            table.loc[name, "value_usd"] = value
    frame = pd.DataFrame(kpis, columns=["kpi", "ballast", "baseline", "unit"]).set_index("kpi")
    return ProgramOutcome(summary=table, kpis=frame, events=events, fourcp_peaks=peaks_table)
