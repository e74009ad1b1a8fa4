"""Validation of time series: timestamps (gaps, duplicates, order, DST) and values (NaN, range).

Row numbers in messages are 1-based data rows as a person sees them in a CSV file after the
header (row 1 is the first data line).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.data.errors import DataError


def parse_utc_timestamps(values: pd.Series, source: str, column: str) -> pd.DatetimeIndex:
    """Parse timestamps into a tz-aware UTC index.

    Naive timestamps are rejected (their time zone, and so DST, would be a guess); strings with
    an offset ('...Z', '-06:00') and tz-aware values are converted to UTC.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ns")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise DataError(source, "timestamps have no time zone; give UTC ('...Z') or an offset",
                        column=column)
    text = values.astype("string")
    bad_null = text.isna().to_numpy()
    if bad_null.any():
        raise DataError(source, "empty timestamp", row=int(np.argmax(bad_null)) + 1, column=column)
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(source, f"cannot parse timestamp {text.iloc[row]!r}", row=row + 1,
                        column=column)
    has_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).to_numpy()
    if not has_offset.all():
        row = int(np.argmin(has_offset))
        raise DataError(source, f"timestamp {text.iloc[row]!r} has no time zone; give UTC "
                        "('...Z') or an offset such as -06:00", row=row + 1, column=column)
    return pd.DatetimeIndex(parsed).as_unit("ns")


def check_index(index: pd.DatetimeIndex, source: str, column: str,
                expected_step: pd.Timedelta | None = None) -> pd.Timedelta:
    """Check a UTC index is strictly increasing, has no duplicates and no gaps.

    Returns the step. Duplicated local hours at a DST change show up here as duplicates when a
    file was written in local time without offsets, so the message mentions DST.
    """
    if len(index) < 2:
        raise DataError(source, f"needs at least 2 rows, has {len(index)}", column=column)
    steps = np.diff(index.asi8)
    dup = steps == 0
    if dup.any():
        row = int(np.argmax(dup)) + 2
        raise DataError(source, f"duplicated timestamp {index[row - 1]} (a repeated local hour "
                        "at a DST change? use UTC or offsets)", row=row, column=column)
    back = steps < 0
    if back.any():
        row = int(np.argmax(back)) + 2
        raise DataError(source, f"timestamps go backwards at {index[row - 1]} "
                        "(not sorted, or local time across a DST change)", row=row, column=column)
    if expected_step is None:  # the most common step (ties: the shortest)
        values, counts = np.unique(steps, return_counts=True)
        step_ns = int(values[np.argmax(counts)])
    else:
        step_ns = int(expected_step.value)
    gap = steps != step_ns
    if gap.any():
        row = int(np.argmax(gap)) + 2
        missing = pd.Timedelta(int(steps[row - 2]), "ns")
        raise DataError(source, f"gap or irregular step before {index[row - 1]}: "
                        f"{missing} since the previous row, expected {pd.Timedelta(step_ns, 'ns')}",
                        row=row, column=column)
    return pd.Timedelta(step_ns, "ns")


def check_values(values: np.ndarray, source: str, column: str, *, minimum: float | None = None,
                 maximum: float | None = None, row_offset: int = 0) -> None:
    """Reject NaN/inf and values outside [minimum, maximum] with the first offending row."""
    values = np.asarray(values, dtype="float64")
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(source, "missing or non-numeric value (NaN)", row=row + row_offset + 1,
                        column=column)
    if minimum is not None:
        low = values < minimum
        if low.any():
            row = int(np.argmax(low))
            raise DataError(source, f"value {values[row]:g} below the allowed minimum {minimum:g}",
                            row=row + row_offset + 1, column=column)
    if maximum is not None:
        high = values > maximum
        if high.any():
            row = int(np.argmax(high))
            raise DataError(source, f"value {values[row]:g} above the allowed maximum {maximum:g}",
                            row=row + row_offset + 1, column=column)
