"""Does the data cover the run? Every time series a run reads, checked before any is loaded.

A run over a period some series do not hold fails with one line that names each such series
(its scenario field and file) and the range it has, so a user sees at once what is bundled,
not only the first file that falls short. The ranges are in run time: a daily Bitcoin row
applied 24 h after its stamp (``markets.bitcoin.price_delay_h``) covers the day after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ballast.data.errors import DataError
from ballast.data.loaders import pick_time_column, read_table, resolve_source
from ballast.data.validate import check_index, parse_utc_timestamps
from ballast.scenario import Scenario

ZERO = pd.Timedelta(0)


@dataclass(frozen=True)
class Need:
    """One series a run reads: its label (scenario field and source), its file and the shift
    from file time to run time (a publication delay)."""

    label: str
    source: str
    time_column: str | None = None
    delay: pd.Timedelta = ZERO
    delay_end: bool = True  # False: a column read without the delay ends the range (difficulty)
    months: tuple[int, ...] = ()  # only the run's hours in these local months need the series
    timezone: str = "UTC"  # of ``months``
    location: str | None = None  # gridstatus frames: the settlement point's rows only


def _needed(need: Need, window: tuple[pd.Timestamp, pd.Timestamp]) -> tuple | None:
    """The part of ``window`` the series must cover: all of it, or (``months``) its hours in
    those local months; None when it needs none."""
    if not need.months:
        return window
    hours = pd.date_range(window[0], window[1], freq="1h", inclusive="left")
    hours = hours[hours.tz_convert(need.timezone).month.isin(need.months)]
    return (hours[0], min(hours[-1] + pd.Timedelta("1h"), window[1])) if len(hours) else None


def needs(scenario: Scenario) -> list[Need]:
    """Every time series the run reads over its whole period (sim/inputs.py), in that order,
    and the 4CP program's load over the run's 4CP months (programs/plan.py). Installed-capacity
    figures are held outside their range (models/renewables.py) and the transmission charge
    settles only the years its load holds (costs.py): neither has to cover the run."""
    m = scenario.markets
    out = [
        Need(
            f"markets.price ({m.price.source})",
            m.price.source,
            m.price.time_column,
            location=m.price.location,
        )
    ]
    delay = pd.Timedelta(hours=m.bitcoin.price_delay_h)
    if m.bitcoin.fees == "series":
        out.append(
            Need(
                f"markets.bitcoin.network_source ({m.bitcoin.network_source})",
                m.bitcoin.network_source,
                "date_utc",
                delay,
            )
        )
    else:
        # the price is applied after its delay, the difficulty (known ahead) at its own stamp
        out.append(
            Need(f"markets.bitcoin ({m.bitcoin.source})", m.bitcoin.source, None, delay, delay_end=False)
        )
    out += [Need(f"renewables[{p.name}] ({p.source})", p.source) for p in scenario.renewables]
    if m.carbon is not None:
        out.append(Need(f"markets.carbon ({m.carbon.source})", m.carbon.source, m.carbon.time_column))
    cp = scenario.programs.coincident_peak if scenario.programs is not None else None
    if cp is not None:
        out.append(
            Need(
                f"programs.coincident_peak.load_source ({cp.load_source})",
                cp.load_source,
                months=tuple(cp.months),
                timezone=scenario.site.timezone,
            )
        )
    return out


def span(need: Need, base_dir: Path | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The run-time range a series can serve: its first instant to its last plus one step,
    shifted by its delay. Errors in the file's time column (none, bad stamps, a gap) name it.
    None for a file of several settlement points without a choice (``read_series`` says so)."""
    try:
        path = resolve_source(need.source, base_dir)
    except DataError as exc:
        raise DataError(need.label, exc.problem) from None
    frame = read_table(path)
    if "Location" in frame.columns:  # a gridstatus frame: one settlement point's rows
        if need.location is not None:
            frame = frame[frame["Location"] == need.location]
        if frame.empty or (frame["Location"] != frame["Location"].iloc[0]).any():
            return None  # no such point, or no choice: read_series names the problem
    tcol = pick_time_column(frame, need.label, need.time_column)
    index = parse_utc_timestamps(frame[tcol], need.label, tcol)
    step = check_index(index, need.label, tcol)  # a gap or repeat is named first, by row
    end = index.max() + step + (need.delay if need.delay_end else ZERO)
    return index.min() + need.delay, end


def _utc(t: pd.Timestamp) -> str:
    return f"{t.tz_convert('UTC'):%Y-%m-%d %H:%M}"


def uncovered(
    scenario: Scenario, window: tuple[pd.Timestamp, pd.Timestamp], base_dir: Path | None = None
) -> list[str]:
    """One phrase per series that does not cover ``window`` (start, end), naming its range."""
    out = []
    for need in needs(scenario):
        needed = _needed(need, window)
        if needed is None:
            continue
        has = span(need, base_dir)
        if has is None:
            continue
        first, end = has
        if first > needed[0] or end < needed[1]:
            hours = need.delay / pd.Timedelta(hours=1)
            delayed = f", each row applied {hours:g} h after its stamp" if hours else ""
            months = f" (needed in months {list(need.months)})" if need.months else ""
            out.append(f"{need.label} covers {_utc(first)} to {_utc(end)}{delayed}{months}")
    return out


def check_coverage(
    scenario: Scenario, window: tuple[pd.Timestamp, pd.Timestamp], base_dir: Path | None = None
) -> None:
    """Raise one ``DataError`` naming every series that does not cover the run's period."""
    missing = uncovered(scenario, window, base_dir)
    if missing:
        raise DataError(
            f"run {_utc(window[0])} to {_utc(window[1])} UTC",
            f"not covered by {len(missing)} series: " + "; ".join(missing),
        )
