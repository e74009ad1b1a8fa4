"""Named DR baselines: what campus import would have been without the event, per interval.

Every method is a pure function of the metered import history (interval start times, UTC, and
the mean import of each interval [MW], import positive) and the event's interval starts; it
returns the baseline for each event interval [MW] and raises ``BaselineError`` naming what is
missing when the history cannot support it. Used by the backtest (``programs/plan.py``), the
live evidence export (``live/evidence.py``) and the settlement of both (``programs/dr.py``).

Methods (``BASELINE_METHODS``):

- ``meter_before_event``: the last metered import before the event starts, held over the
  window (the current meaning in ``programs/dr.py``; no program settles on it, kept as an
  option);
- ``middle_8_of_10``: ERCOT's "Middle 8-of-10 Preceding Like Days" model (ERCOT, *Default
  Baseline Methodology*, developed for EILS and used for ERS Loads; ERS *Technical
  Requirements & Scope of Work*, section "Baselines for ERS Loads",
  https://www.ercot.com/services/programs/load/eils; docs/sources.md#ercot-ers-baselines).
  Variant implemented: the 10 most recent like days before the event day (a like day is a
  weekday, Monday to Friday and not a given holiday, when the event day is one; else a weekend
  day or holiday), each with import in every interval of the event window; the days with the
  highest and the lowest mean import over the window are dropped; the baseline of each interval
  is the mean of the same interval over the middle 8. ERCOT's event-day adjustment is NOT
  applied; the backtest and the live export give no holiday list (weekends only);
- ``regression``: per interval, an ordinary least-squares line through the same interval's
  import on the same 10 like days against the day (calendar days from the event day), read at
  the event day: ``import[d, i] = a_i + b_i * (d - event_day)``, baseline ``a_i``. A linear
  trend on recent like days; no weather or day-of-week term.

Days and times of day are in ``tz`` (the site's zone; default UTC), so "the same interval" is
the same local wall-clock time. No library computes these (they are settlement rules), so they
are written here with numpy/pandas.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal, get_args

import numpy as np
import pandas as pd

BaselineMethod = Literal["meter_before_event", "middle_8_of_10", "regression"]
BASELINE_METHODS: tuple[str, ...] = get_args(BaselineMethod)
LIKE_DAYS = 10  # ERCOT "Middle 8-of-10": ten preceding like days (ERCOT Default Baseline Methodology)


class BaselineError(ValueError):
    """The history cannot support the baseline method; the message names what is missing."""


def _utc(times, name: str) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(times)
    if idx.tz is None:
        raise BaselineError(f"{name} must be UTC-aware timestamps, got naive ones")
    return idx.tz_convert("UTC")


def _history(times_utc, import_mw) -> tuple[pd.DatetimeIndex, np.ndarray]:
    idx = _utc(times_utc, "times_utc")
    mw = np.asarray(import_mw, dtype=float)
    if mw.shape != (len(idx),):
        raise BaselineError(f"import_mw has shape {mw.shape}, times_utc has {len(idx)} entries")
    return idx, mw


def _event(event_times_utc) -> pd.DatetimeIndex:
    ev = _utc(event_times_utc, "event_times_utc")
    if len(ev) == 0:
        raise BaselineError("the event has no intervals")
    return ev


def is_like_weekday(day: date, holidays: Iterable[date] = ()) -> bool:
    """A weekday (Mon-Fri) that is not a holiday; otherwise a weekend day or holiday."""
    return day.weekday() < 5 and day not in set(holidays)


def _wall(idx: pd.DatetimeIndex, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """(local dates as datetime64[D], local wall-clock time of day as timedelta64[ns])."""
    naive = idx.tz_convert(tz).tz_localize(None)
    days = naive.normalize()
    return days.to_numpy().astype("datetime64[D]"), (naive - days).to_numpy()


def like_day_matrix(
    times_utc,
    import_mw,
    event_times_utc,
    *,
    tz: str = "UTC",
    holidays: Iterable[date] = (),
    exclude_dates: Iterable[date] = (),
    days: int = LIKE_DAYS,
) -> tuple[list[date], np.ndarray]:
    """The ``days`` most recent like days before the event day with import in every event
    interval (newest first), and their import at the event's intervals [MW] (days x intervals).
    ``exclude_dates``: days not to use (earlier event days). BaselineError if fewer exist."""
    idx, mw = _history(times_utc, import_mw)
    ev = _event(event_times_utc)
    hol = set(holidays)
    skip = set(exclude_dates)
    ev_days, ev_tod = _wall(ev, tz)
    day0 = ev_days[0]
    offsets = (ev_days - day0).astype(int)  # an event past local midnight spans two days
    weekday = is_like_weekday(day0.astype(date), hol)
    ok = np.isfinite(mw)
    h_days, h_tod = _wall(idx[ok], tz)
    day_n, tod_n = h_days.astype(np.int64), h_tod.astype("timedelta64[ns]").astype(np.int64)
    table = (
        pd.DataFrame({"day": day_n, "tod": tod_n, "mw": mw[ok]}).groupby(["day", "tod"])["mw"].mean()
    )  # a repeated wall time (DST) averages
    cells = table.to_dict()
    ev_tod_n = ev_tod.astype("timedelta64[ns]").astype(np.int64)
    chosen: list[date] = []
    rows: list[list[float]] = []
    day0_n = int(day0.astype(np.int64))
    for d in sorted({int(x) for x in np.unique(day_n) if x < day0_n}, reverse=True):
        py = np.datetime64(d, "D").astype(date)
        if py in skip or is_like_weekday(py, hol) != weekday:
            continue
        row = [cells.get((d + int(o), int(t))) for o, t in zip(offsets, ev_tod_n, strict=True)]
        if any(v is None for v in row):
            continue
        chosen.append(py)
        rows.append(row)
        if len(chosen) == days:
            break
    if len(chosen) < days:
        kind = "weekdays (Mon-Fri, not holidays)" if weekday else "weekend days or holidays"
        have = ", ".join(str(c) for c in chosen) or "none"
        t0 = ev[0].tz_convert(tz)
        raise BaselineError(
            f"needs {days} like days ({kind}) before {day0.astype(date)} with metered import "
            f"in every interval of the event ({len(ev)} from {t0.strftime('%H:%M')} {tz}); "
            f"the history has {len(chosen)}: {have}"
        )
    return chosen, np.asarray(rows, dtype=float)


def baseline_meter_before_event(times_utc, import_mw, event_times_utc) -> np.ndarray:
    """The last finite metered import before the event's first interval, for every event
    interval [MW]."""
    idx, mw = _history(times_utc, import_mw)
    ev = _event(event_times_utc)
    before = np.flatnonzero((idx < ev[0]) & np.isfinite(mw))
    if before.size == 0:
        raise BaselineError(
            f"meter_before_event needs a metered import before the event "
            f"start {ev[0].isoformat()}; the history has none"
        )
    return np.full(len(ev), float(mw[before[-1]]))


def baseline_middle_8_of_10(
    times_utc,
    import_mw,
    event_times_utc,
    *,
    tz: str = "UTC",
    holidays: Iterable[date] = (),
    exclude_dates: Iterable[date] = (),
) -> np.ndarray:
    """ERCOT Middle 8-of-10 like days (module docstring): per event interval [MW]."""
    _, m = like_day_matrix(
        times_utc, import_mw, event_times_utc, tz=tz, holidays=holidays, exclude_dates=exclude_dates
    )
    order = np.argsort(m.mean(axis=1), kind="stable")  # lowest .. highest mean over the window
    return m[order[1:-1]].mean(axis=0)


def baseline_regression(
    times_utc,
    import_mw,
    event_times_utc,
    *,
    tz: str = "UTC",
    holidays: Iterable[date] = (),
    exclude_dates: Iterable[date] = (),
) -> np.ndarray:
    """Per-interval least-squares trend over the 10 like days, read at the event day [MW]."""
    chosen, m = like_day_matrix(
        times_utc, import_mw, event_times_utc, tz=tz, holidays=holidays, exclude_dates=exclude_dates
    )
    day0 = pd.DatetimeIndex(event_times_utc).tz_convert(tz)[0].date()
    x = np.array([(d - day0).days for d in chosen], dtype=float)
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, m, rcond=None)
    return coef[0]


def baseline_import_mw(
    method: str,
    times_utc,
    import_mw,
    event_times_utc,
    *,
    tz: str = "UTC",
    holidays: Iterable[date] = (),
    exclude_dates: Iterable[date] = (),
) -> np.ndarray:
    """The baseline by ``method`` (one of ``BASELINE_METHODS``) per event interval [MW]."""
    if method == "meter_before_event":
        return baseline_meter_before_event(times_utc, import_mw, event_times_utc)
    if method == "middle_8_of_10":
        return baseline_middle_8_of_10(
            times_utc, import_mw, event_times_utc, tz=tz, holidays=holidays, exclude_dates=exclude_dates
        )
    if method == "regression":
        return baseline_regression(
            times_utc, import_mw, event_times_utc, tz=tz, holidays=holidays, exclude_dates=exclude_dates
        )
    raise BaselineError(f"unknown baseline method {method!r}; one of {', '.join(BASELINE_METHODS)}")
