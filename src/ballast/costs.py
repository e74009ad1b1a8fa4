"""Costs beyond energy at real time, per interval [USD]: the ERCOT transmission (4CP) charge, a
fixed-price supply contract and other fixed costs (the scenario's ``costs:`` section).

Every per-year amount accrues evenly at interval / 8760 h (as the colocation lease does).
The 4CP arithmetic is ``programs/fourcp.py``'s: the year's peaks by ``find_monthly_peaks``, the
annual charge by ``settle_fourcp``; this module only spreads it over the year's intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.data.loaders import BUNDLED_PREFIX, bundled_folder, read_series
from ballast.programs import fourcp
from ballast.scenario import Scenario
from ballast.scenario_costs import DEFAULT_TRANSMISSION_USD_PER_KW_YEAR, SupplyContract

HOURS_PER_YEAR = 8760.0
BUNDLED_LOAD_PREFIX = "ercot_system_hourly_"  # every bundled ERCOT system load file
FOURCP_RESOLUTION = pd.Timedelta("15min")  # 4CP intervals are 15-minute intervals


def transmission_rate_usd_per_kw_year(scenario: Scenario) -> float | None:
    """The 4CP rate in force: ``costs``', else the coincident_peak program's (or its default);
    None when the scenario states neither (no transmission charge)."""
    if scenario.costs.transmission_usd_per_kw_year is not None:
        return scenario.costs.transmission_usd_per_kw_year
    cp = scenario.programs.coincident_peak if scenario.programs is not None else None
    if cp is None:
        return None
    rate = cp.transmission_rate_usd_per_kw_year
    return DEFAULT_TRANSMISSION_USD_PER_KW_YEAR if rate is None else rate


def supply_contract(scenario: Scenario) -> SupplyContract | None:
    """The contract in force: ``costs.supply_contract``, else programs.price_response's (the
    scenario validator allows only one of them)."""
    if scenario.costs.supply_contract is not None:
        return scenario.costs.supply_contract
    pr = scenario.programs.price_response if scenario.programs is not None else None
    if pr is None:
        return None
    return SupplyContract(price_usd_per_mwh=pr.contract_price_usd_per_mwh, volume_mw=pr.contract_mw)


def contract_settlement_usd(
    price_usd_per_mwh: np.ndarray, contract_mw: float, contract_price_usd_per_mwh: float, dt_h: float
) -> np.ndarray:
    """Per interval: the fixed-price block's payoff against real time [USD] (positive when real
    time is above the contract price). Energy cost at real time minus this = cost under the
    contract; the power credits are the part of it on energy not taken."""
    return (np.asarray(price_usd_per_mwh) - contract_price_usd_per_mwh) * contract_mw * dt_h


def power_credits_usd(
    import_mw: np.ndarray,
    price_usd_per_mwh: np.ndarray,
    contract_mw: float,
    contract_price_usd_per_mwh: float,
    dt_h: float,
) -> np.ndarray:
    """Per interval: contracted energy not taken, sold back at real time [USD]:
    (RT - contract price) x max(contract - import, 0) x dt (docs/sources.md#power-credits)."""
    unused_mw = np.maximum(contract_mw - np.asarray(import_mw), 0.0)
    return (np.asarray(price_usd_per_mwh) - contract_price_usd_per_mwh) * unused_mw * dt_h


def accrual_usd(usd_per_year: float, n: int, dt_h: float) -> np.ndarray:
    """An annual amount spread evenly over ``n`` intervals of ``dt_h`` hours [USD each]."""
    return np.full(n, usd_per_year * dt_h / HOURS_PER_YEAR)


@dataclass(frozen=True)
class FourCpCalendar:
    """The 4CP peak hours of every year the load file covers, and what that file was."""

    peaks: pd.DataFrame  # fourcp.find_monthly_peaks: year, month, peak_hour_start_utc, ...
    months: tuple[int, ...]
    timezone: str
    label: str


@lru_cache(maxsize=8)
def _calendar(
    sources: tuple[str, ...],
    column: str,
    base_dir: Path | None,
    months: tuple[int, ...],
    timezone: str,
    label: str,
) -> FourCpCalendar:
    parts = [read_series(s, column, base_dir=base_dir, minimum=0.0, label=label) for s in sources]
    load = pd.concat(parts).sort_index()
    load = load[~load.index.duplicated(keep="first")]
    peaks = fourcp.find_monthly_peaks(load, months, timezone)
    # a month the file covers only in part has no known peak
    full = [
        (pd.Timestamp(year=y, month=m, day=1).days_in_month * 24) - 1 <= h
        for y, m, h in zip(
            peaks.get("year", []), peaks.get("month", []), peaks.get("hours_in_month", []), strict=True
        )
    ]
    return FourCpCalendar(
        peaks[np.asarray(full, dtype=bool)] if len(peaks) else peaks, months, timezone, label
    )


def fourcp_calendar(scenario: Scenario) -> FourCpCalendar:
    """The 4CP peaks from ``costs.transmission_load_source`` (default: the coincident_peak
    program's load file, else every bundled ERCOT system load file)."""
    c = scenario.costs
    cp = scenario.programs.coincident_peak if scenario.programs is not None else None
    months = tuple(cp.months) if cp is not None else (6, 7, 8, 9)
    if c.transmission_load_source is not None:
        sources, label = (c.transmission_load_source,), "costs.transmission_load_source"
    elif cp is not None:
        sources, label = (cp.load_source,), "programs.coincident_peak.load_source"
    else:
        names = sorted(
            {
                p.stem
                for p in bundled_folder().glob(f"{BUNDLED_LOAD_PREFIX}*")
                if p.suffix in (".parquet", ".csv")
            }
        )
        sources, label = tuple(f"{BUNDLED_PREFIX}{n}" for n in names), "bundled ERCOT system load"
    column = c.transmission_load_column if cp is None or c.transmission_load_source else (cp.load_column)
    return _calendar(
        sources, column, scenario.base_dir, months, scenario.site.timezone, f"{label} ({', '.join(sources)})"
    )


@dataclass(frozen=True)
class FourCpYears:
    """How a run's intervals settle 4CP: per interval the settled local year whose charge it
    accrues at (-1: none), each settled year's peaks, and notes on years not settled."""

    accrue_year: np.ndarray
    peaks: dict[int, pd.DataFrame]
    notes: list[str]


def fourcp_demand_mw(import_mw: pd.Series) -> pd.Series:
    """The site's demand in 15-minute intervals (the 4CP interval), whatever the run's step."""
    return import_mw.resample(FOURCP_RESOLUTION).mean().ffill()


def fourcp_years(index: pd.DatetimeIndex, calendar: FourCpCalendar) -> FourCpYears:
    """Which local years of ``index`` are settled (all their peak intervals in the run) and the
    year each interval accrues at: its own if settled, else the nearest settled one."""
    demand = fourcp_demand_mw(pd.Series(0.0, index=index))
    never = pd.Series(False, index=demand.index)
    years = np.asarray(index.tz_convert(calendar.timezone).year)
    settled: dict[int, pd.DataFrame] = {}
    why: dict[int, str] = {}
    for year in (int(y) for y in np.unique(years)):
        peaks = calendar.peaks[calendar.peaks["year"] == year] if len(calendar.peaks) else (calendar.peaks)
        if len(peaks) < len(calendar.months):
            why[year] = f"{calendar.label} has no complete 4CP months {list(calendar.months)} in {year}"
            continue
        table, summary = fourcp.settle_fourcp(demand, peaks, never, 0.0)
        if summary["peaks_covered"] < len(peaks):
            done = set(table["peak_hour_start_utc"]) if len(table) else set()
            missing = [f"{t:%Y-%m-%d %H:%M}" for t in peaks["peak_hour_start_utc"] if t not in done]
            why[year] = (
                f"the run does not contain the {year} 4CP peak hour(s) "
                f"{', '.join(missing)} UTC, so the site's demand in them is unknown"
            )
            continue
        settled[year] = peaks
    accrue = np.full(len(index), -1)
    notes = []
    dt_h = (index[1] - index[0]) / pd.Timedelta("1h") if len(index) > 1 else 0.0
    for year in (int(y) for y in np.unique(years)):
        mask = years == year
        if year in settled:
            accrue[mask] = year
        elif settled:
            near = min(settled, key=lambda y: (abs(y - year), y))
            accrue[mask] = near
            notes.append(
                f"transmission_cost_usd: the run's {mask.sum() * dt_h:g} h of {year} "
                f"accrue at {near}'s 4CP charge ({why[year]})"
            )
        else:
            notes.append(
                f"transmission_cost_usd and net_margin_usd are NaN for {year}: "
                f"{why[year]} (run through June-September of that year, or leave "
                "costs.transmission_usd_per_kw_year unset)"
            )
    return FourCpYears(accrue, settled, notes)


def transmission_usd(
    import_mw: pd.Series, calendar: FourCpCalendar, rate_usd_per_kw_year: float
) -> tuple[np.ndarray, list[str]]:
    """Per interval of ``import_mw``'s index: the 4CP charge of the interval's (local) year,
    rate x mean site import in that year's peak intervals (``fourcp.settle_fourcp``), accrued
    at interval / 8760 h.

    A year is settled when all its peak intervals are in the run. Intervals of a year that is
    not settled accrue at the nearest settled year's charge (a UTC-year run holds six hours of
    the previous local year), and a note says so; with no settled year, NaN and a note why."""
    idx = import_mw.index
    dt_h = (idx[1] - idx[0]) / pd.Timedelta("1h") if len(idx) > 1 else 0.0
    years = fourcp_years(idx, calendar)
    demand = fourcp_demand_mw(import_mw)
    never = pd.Series(False, index=demand.index)
    out = np.full(len(idx), np.nan)
    for year, peaks in years.peaks.items():
        _, summary = fourcp.settle_fourcp(demand, peaks, never, rate_usd_per_kw_year)
        out[years.accrue_year == year] = summary["charge_usd"] * dt_h / HOURS_PER_YEAR
    return out, years.notes


@dataclass(frozen=True)
class FourCpLinear:
    """The run's 4CP charge in the optimiser's terms: charge [USD] = sum over peaks k of
    ``usd_per_mw[k]`` x demand_k, demand_k = the largest over peak k's 15-minute buckets of
    max(0, mean import over ``members[b]``) (``fourcp_demand_mw`` and ``settle_fourcp``)."""

    usd_per_mw: np.ndarray  # per peak
    bucket_peak: np.ndarray  # per bucket: its peak
    members: list[np.ndarray]  # per bucket: positions of the intervals it averages
    notes: list[str]


def fourcp_linear(
    index: pd.DatetimeIndex, calendar: FourCpCalendar, rate_usd_per_kw_year: float
) -> FourCpLinear:
    """``transmission_usd`` as a linear form of the import (for ``optimize``): each settled
    year's charge, rate x 1000 x mean demand over its peaks, times the hours accruing at it
    / 8760 h, split over its peaks; each bucket the run's intervals that ``fourcp_demand_mw``
    averages into it (or carries forward into it, at steps over 15 min)."""
    dt_h = (index[1] - index[0]) / pd.Timedelta("1h") if len(index) > 1 else 0.0
    years = fourcp_years(index, calendar)
    position = pd.Series(np.arange(len(index), dtype="float64"), index=index)
    first = position.resample(FOURCP_RESOLUTION).min().ffill()
    last = position.resample(FOURCP_RESOLUTION).max().ffill()
    usd, bucket_peak, members = [], [], []
    for year, peaks in years.peaks.items():
        hours = (years.accrue_year == year).sum() * dt_h
        per_peak = rate_usd_per_kw_year * 1000.0 * hours / HOURS_PER_YEAR / len(peaks)
        for start in peaks["peak_hour_start_utc"]:
            for b in fourcp.peak_interval_starts(start):
                members.append(np.arange(int(first[b]), int(last[b]) + 1))
                bucket_peak.append(len(usd))
            usd.append(per_peak)
    return FourCpLinear(np.asarray(usd), np.asarray(bucket_peak, dtype=np.int64), members, years.notes)


def cost_frame(
    import_mw: pd.Series, price_usd_per_mwh: np.ndarray, scenario: Scenario, dt_h: float
) -> tuple[pd.DataFrame, list[str]]:
    """Per interval [USD]: transmission_cost_usd, supply_contract_usd, fixed_cost_usd (all
    costs: subtract them from the margin), and notes on anything left out or not settled."""
    n = len(import_mw)
    notes: list[str] = []
    rate = transmission_rate_usd_per_kw_year(scenario)
    if rate is None:
        trans = np.zeros(n)
        notes.append(
            "net_margin_usd has no transmission (4CP) charge: costs.transmission_usd_per_kw_year is not set"
        )
    else:
        trans, notes_t = transmission_usd(import_mw, fourcp_calendar(scenario), rate)
        notes += notes_t
    contract = supply_contract(scenario)
    supply = np.zeros(n)
    if contract is not None and contract.settlement == "fixed_block":  # the only settlement
        # the block at the fixed price instead of real time: (price - RT) x block x dt
        supply = -contract_settlement_usd(
            price_usd_per_mwh, contract.volume_mw, contract.price_usd_per_mwh, dt_h
        )
    fixed = accrual_usd(scenario.costs.fixed_usd_per_year, n, dt_h)
    frame = pd.DataFrame(
        {"transmission_cost_usd": trans, "supply_contract_usd": supply, "fixed_cost_usd": fixed},
        index=import_mw.index,
    )
    return frame, notes
