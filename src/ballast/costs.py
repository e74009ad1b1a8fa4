"""Costs beyond energy at real time, per interval [USD]: the ERCOT transmission (4CP) charge, a
fixed-price supply contract and other fixed costs (the scenario's ``costs:`` section).

Every per-year amount accrues evenly at interval / 8760 h (as the colocation lease does).
The 4CP arithmetic is ``coincident_peak.py``'s: the year's peaks by ``find_monthly_peaks``, the
annual charge by ``settle_fourcp``; this module only spreads it over the year's intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ballast import coincident_peak as fourcp
from ballast.data.errors import DataError
from ballast.data.loaders import BUNDLED_PREFIX, bundled_folder, read_series
from ballast.memo import Memo
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
    """How a run's intervals settle 4CP: per interval the local year whose charge it accrues at
    (-1: none), each charged year's peaks that the run holds, and notes on the rest."""

    accrue_year: np.ndarray
    peaks: dict[int, pd.DataFrame]
    notes: list[str]


def fourcp_demand_mw(import_mw: pd.Series) -> pd.Series:
    """The site's demand in 15-minute intervals (the 4CP interval), whatever the run's step."""
    idx = import_mw.index
    if idx.freq == FOURCP_RESOLUTION and len(idx) and idx[0] == idx[0].floor(FOURCP_RESOLUTION):
        return import_mw.astype("float64").ffill()  # already the 4CP intervals (as resample)
    return import_mw.resample(FOURCP_RESOLUTION).mean().ffill()


def _when(peaks: pd.DataFrame) -> str:
    return ", ".join(f"{t:%Y-%m-%d %H:%M}" for t in peaks["peak_hour_start_utc"])


class _RunIndex:
    """``fourcp_years``' memo key: the calendar by identity (``_calendar``'s cached object), the
    index by value (a run and its baseline may carry equal indexes, not the same one)."""

    __slots__ = ("calendar", "index")

    def __init__(self, index: pd.DatetimeIndex, calendar: FourCpCalendar) -> None:
        self.index, self.calendar = index, calendar

    def __hash__(self) -> int:
        return hash((id(self.calendar), len(self.index)))  # the key holds the calendar: id is stable

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _RunIndex)
            and other.calendar is self.calendar
            and (other.index is self.index or other.index.equals(self.index))
        )


# The last fourcp_years answer: a backtest prices its Ballast run and its baseline (and the
# report, the optimiser's comparison runs) on one index and one calendar, so each run computes
# its 4CP years once, not once per priced run (issue 17 review: 4-5 ms of CPU each on a 15-min
# year). One entry: safe for a worker's threads (the memo's lock).
_YEARS_MEMO: Memo[FourCpYears] = Memo(max_entries=1)


def fourcp_years(index: pd.DatetimeIndex, calendar: FourCpCalendar) -> FourCpYears:
    """``_fourcp_years``, once for an index and calendar in a row (its arrays are read-only)."""

    def build() -> FourCpYears:
        years = _fourcp_years(index, calendar)
        years.accrue_year.flags.writeable = False
        return years

    return _YEARS_MEMO.get(_RunIndex(index, calendar), build)


def _fourcp_years(index: pd.DatetimeIndex, calendar: FourCpCalendar) -> FourCpYears:
    """Which local years of ``index`` carry a 4CP charge and the year each interval accrues at.

    ERCOT's 4CP charge is set by the site's demand in the June-September peak intervals and
    billed monthly through the following year (docs/sources.md#ercot-4cp). Here each local year
    carries the charge its own peaks set, accrued over its intervals:
    - the run holds all the year's peak intervals: the charge (settled);
    - it holds some: the charge from those (an estimate; a note names the peaks left out);
    - none: the year's intervals accrue at the nearest year that has a charge (a note);
    - no year of the run has one: no 4CP charge at all (accrue_year -1, a note gives the
      basis: these hours set no charge, and the one billed in them was set by earlier peaks).
    The run's hours of a year whose peaks the load file does not give are refused (DataError)
    when no other year has a charge and the run holds hours of that year's 4CP months."""
    buckets = fourcp_demand_mw(pd.Series(0.0, index=index)).index  # the run's 15-min intervals
    local = index.tz_convert(calendar.timezone)
    years = np.asarray(local.year)
    held: dict[int, pd.DataFrame] = {}
    why: dict[int, str] = {}
    unknown: list[int] = []
    notes = []
    for year in (int(y) for y in np.unique(years)):
        peaks = calendar.peaks[calendar.peaks["year"] == year] if len(calendar.peaks) else (calendar.peaks)
        if len(peaks) < len(calendar.months):
            why[year] = f"{calendar.label} has no complete 4CP months {list(calendar.months)} in {year}"
            if np.isin(local.month[years == year], list(calendar.months)).any():
                unknown.append(year)
            continue
        inside = (fourcp.peak_positions(buckets, peaks) >= 0).all(axis=1)
        if not inside.any():
            why[year] = (
                f"the run does not contain the {year} 4CP peak hour(s) {_when(peaks)} UTC, "
                "so the site's demand in them is unknown"
            )
            continue
        held[year] = peaks[inside]
        if not inside.all():
            notes.append(
                f"transmission_cost_usd: {year}'s 4CP charge is estimated from the {int(inside.sum())} "
                f"of its {len(peaks)} peak hours the run holds; the site's demand in "
                f"{_when(peaks[~inside])} UTC is taken as their mean"
            )
    accrue = np.full(len(index), -1)
    dt_h = (index[1] - index[0]) / pd.Timedelta("1h") if len(index) > 1 else 0.0
    if not held and unknown:
        raise DataError(
            calendar.label,
            f"no 4CP peak hours for {', '.join(map(str, unknown))}, and the run holds hours of "
            f"that year's 4CP months {list(calendar.months)}: its transmission charge is unknown; "
            "give costs.transmission_load_source with that year's June-September system load, "
            "or leave costs.transmission_usd_per_kw_year unset",
        )
    for year in (int(y) for y in np.unique(years)):
        mask = years == year
        if year in held:
            accrue[mask] = year
        elif held:
            near = min(held, key=lambda y: (abs(y - year), y))
            accrue[mask] = near
            notes.append(
                f"transmission_cost_usd: the run's {mask.sum() * dt_h:g} h of {year} "
                f"accrue at {near}'s 4CP charge ({why[year]})"
            )
        else:
            notes.append(
                f"transmission_cost_usd is 0 for the run's {mask.sum() * dt_h:g} h of {year}: "
                f"{why[year]}. The 4CP charge is set only by the site's import in the "
                "June-September peak intervals and billed monthly through the following year, so "
                "these hours set no charge and cannot change the one billed in them (set by "
                "earlier peaks, a fixed cost outside this run); run through June-September to "
                "price the site's 4CP demand"
            )
    return FourCpYears(accrue, held, notes)


def transmission_usd(
    import_mw: pd.Series, calendar: FourCpCalendar, rate_usd_per_kw_year: float
) -> tuple[np.ndarray, list[str]]:
    """Per interval of ``import_mw``'s index: the 4CP charge of the year it accrues at
    (``fourcp_years``), rate x mean site import in that year's peak intervals the run holds
    (``coincident_peak.settle_fourcp``), accrued at interval / 8760 h; 0 where no year of the
    run has a charge. Never NaN."""
    idx = import_mw.index
    dt_h = (idx[1] - idx[0]) / pd.Timedelta("1h") if len(idx) > 1 else 0.0
    years = fourcp_years(idx, calendar)
    demand = fourcp_demand_mw(import_mw)
    never = pd.Series(False, index=demand.index)
    out = np.zeros(len(idx))
    for year, peaks in years.peaks.items():
        _, summary = fourcp.settle_fourcp(demand, peaks, never, rate_usd_per_kw_year)
        out[years.accrue_year == year] = summary["charge_usd"] * dt_h / HOURS_PER_YEAR
    return out, list(years.notes)


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
    return FourCpLinear(np.asarray(usd), np.asarray(bucket_peak, dtype=np.int64), members, list(years.notes))


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
