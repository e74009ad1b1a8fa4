"""Read user or bundled time series (CSV, CSV.gz, Parquet) into validated UTC pandas objects.

Accepted shapes:
- Ballast's own: ``interval_start_utc`` plus value columns with units in their names;
- gridstatus output: ``Interval Start``, ``Interval End``, ``Location``, ``SPP`` (or ``LMP``);
  filter one settlement point with ``location=``;
- any table with a timestamp column (``time_column=``) carrying a UTC offset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.data.errors import DataError
from ballast.data.validate import check_index, check_values, parse_utc_timestamps

BUNDLED_PREFIX = "bundled:"
TIME_COLUMN_CANDIDATES = ("interval_start_utc", "Interval Start", "interval_start", "time_utc",
                          "datetime_utc", "date_utc", "timestamp", "Time", "time", "date")
# Caps on one user data file, checked before it is read (a 2 GB CSV ran out of memory after
# 51 s; a small .csv.gz or Parquet file can hold billions of rows). 10 million rows hold 95 years
# at 5 min or 116 days at 1 s; raise either cap through its environment variable.
MAX_DATA_FILE_MB_ENV, MAX_DATA_FILE_MB = "BALLAST_MAX_DATA_FILE_MB", 256
MAX_DATA_ROWS_ENV, MAX_DATA_ROWS = "BALLAST_MAX_DATA_ROWS", 10_000_000


def bundled_folder() -> Path:
    """The folder of bundled data sets inside the package."""
    return Path(str(resources.files("ballast.data") / "bundled"))


def bundled_path(name: str) -> Path:
    """Path of a bundled data file by stem (``ercot_rtm_hb_hubavg_15min_2024_2025``); a name
    that leads outside the bundled folder (``..``, an absolute path, a symlink) is refused."""
    folder = bundled_folder().resolve()
    for suffix in (".parquet", ".csv"):
        candidate = (folder / f"{name}{suffix}").resolve()
        if not candidate.is_relative_to(folder):
            raise DataError(f"{BUNDLED_PREFIX}{name}", "leads outside the bundled data folder; "
                            "give a bundled data set name, or a file path without 'bundled:'")
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in folder.iterdir() if p.suffix in (".parquet", ".csv"))
    raise DataError(f"{BUNDLED_PREFIX}{name}", f"no such bundled data set; known: {known}")


def resolve_source(source: str | Path, base_dir: Path | None = None) -> Path:
    """Turn ``bundled:NAME`` or a (relative) path into an existing file path."""
    text = str(source)
    if text.startswith(BUNDLED_PREFIX):
        return bundled_path(text[len(BUNDLED_PREFIX):])
    path = Path(text)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.exists():
        raise DataError(str(source), "file not found")
    if not path.is_file():
        raise DataError(str(source), "not a file (a directory or special file)")
    return path


def _cap(env: str, default: int) -> int:
    text = os.environ.get(env)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise DataError(env, f"environment variable is {text!r}, not a whole number") from None
    if value <= 0:
        raise DataError(env, f"environment variable is {value}, must be positive")
    return value


_TABLES: dict[tuple[str, int, int], pd.DataFrame] | None = None  # off unless asked for


def keep_tables_in_memory() -> None:
    """Make ``read_table`` keep each file it reads in memory for this process (keyed by path,
    size and modification time). Batch workers (sweeps) call it so that a bundled data set is
    read once per process, not once per run."""
    global _TABLES
    if _TABLES is None:
        _TABLES = {}


@contextmanager
def tables_in_memory() -> Iterator[None]:
    """``keep_tables_in_memory`` within the block, and the previous setting back after it (a
    serial sweep in a caller's process: the tables are kept across its runs, not afterwards)."""
    global _TABLES
    before = _TABLES
    keep_tables_in_memory()
    try:
        yield
    finally:
        _TABLES = before


# one call's tables (``tables_read_once``); a context variable, so threads do not share it
_CALL_TABLES: ContextVar[dict[tuple[str, int, int], pd.DataFrame] | None] = ContextVar(
    "ballast_call_tables", default=None)


@contextmanager
def tables_read_once() -> Iterator[None]:
    """Within the block, ``read_table`` reads each file once (keyed as ``keep_tables_in_memory``)
    and forgets it at the end: the coverage check and the input builder read the same files
    (a 15-min year read 5 files 14 times, about 60 ms of a 120 ms ``simulate``)."""
    if _TABLES is not None or _CALL_TABLES.get() is not None:
        yield  # already remembered for longer
        return
    token = _CALL_TABLES.set({})
    try:
        yield
    finally:
        _CALL_TABLES.reset(token)


# the files read within ``files_read`` blocks, as ``file_stamp`` gives them
_FILES_READ: ContextVar[list[tuple[str, int, int]] | None] = ContextVar("ballast_files_read",
                                                                      default=None)


def file_stamp(path: Path) -> tuple[str, int, int]:
    """A file as its resolved path, size and modification time [ns]: equal stamps, same file
    (the key of the kept tables, and how cached inputs tell a changed file)."""
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


@contextmanager
def files_read() -> Iterator[list[tuple[str, int, int]]]:
    """Within the block, the list yielded gains the ``file_stamp`` of every file ``read_table``
    reads (from disk or from memory); the caller's own list back after it."""
    log: list[tuple[str, int, int]] = []
    token = _FILES_READ.set(log)
    try:
        yield log
    finally:
        _FILES_READ.reset(token)


def read_table(path: Path) -> pd.DataFrame:
    """Read CSV, gzipped CSV or Parquet by file name (from memory after
    ``keep_tables_in_memory`` or inside ``tables_read_once``; callers get a shallow copy and do
    not modify values in place)."""
    memo = _TABLES if _TABLES is not None else _CALL_TABLES.get()
    log = _FILES_READ.get()
    if memo is not None or log is not None:
        key = file_stamp(path)
        if log is not None:
            log.append(key)
    if memo is not None:
        if key not in memo:
            memo[key] = _read_table(path)
        return memo[key].copy(deep=False)
    return _read_table(path)


def _read_table(path: Path) -> pd.DataFrame:
    """Read CSV, gzipped CSV or Parquet by file name, within the size and row caps."""
    name = path.name.lower()
    max_mb, max_rows = _cap(MAX_DATA_FILE_MB_ENV, MAX_DATA_FILE_MB), _cap(MAX_DATA_ROWS_ENV,
                                                                          MAX_DATA_ROWS)
    size = path.stat().st_size
    if size > max_mb * 1e6:
        raise DataError(str(path), f"file is {size / 1e6:,.0f} MB, above the {max_mb:,} MB cap "
                        f"for a data file (set {MAX_DATA_FILE_MB_ENV} to raise it)")
    too_many = (f"more than {max_rows:,} rows, the cap for a data file "
                f"(set {MAX_DATA_ROWS_ENV} to raise it)")
    try:
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            if pq.read_metadata(path).num_rows > max_rows:
                raise DataError(str(path), too_many)
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".txt")):
            frame = pd.read_csv(path, nrows=max_rows + 1)
            if len(frame) > max_rows:
                raise DataError(str(path), too_many)
            return frame
    except (ValueError, OSError) as exc:  # pandas/pyarrow parse errors
        if isinstance(exc, DataError):
            raise
        raise DataError(str(path), f"cannot read file: {' '.join(str(exc).split())}") from exc
    raise DataError(str(path), "unsupported file type; use .csv, .csv.gz or .parquet")


def pick_time_column(frame: pd.DataFrame, source: str, time_column: str | None) -> str:
    if time_column is not None:
        if time_column not in frame.columns:
            raise DataError(source, f"time column not found; columns are {list(frame.columns)}",
                            column=time_column)
        return time_column
    for candidate in TIME_COLUMN_CANDIDATES:
        if candidate in frame.columns:
            return candidate
    raise DataError(source, "no timestamp column; expected one of "
                    f"{list(TIME_COLUMN_CANDIDATES)}, found {list(frame.columns)}")


def read_series(source: str | Path, value_column: str | None = None, *,
                time_column: str | None = None, location: str | None = None,
                minimum: float | None = None, maximum: float | None = None,
                base_dir: Path | None = None, check_step: bool = True,
                window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
                label: str | None = None) -> pd.Series:
    """Read one validated value column as a float Series on a UTC DatetimeIndex.

    ``value_column`` defaults to ``SPP`` (then ``LMP``) for gridstatus frames, else the only
    numeric column besides time. Validation: parseable tz-aware timestamps, no duplicates, sorted,
    no gaps (``check_step``), no NaN, values within [minimum, maximum]. With ``window``
    (start, end), values are checked only on the rows a run over that window uses (the row in
    force at start through the last row before end), so a defect elsewhere in a long file does
    not block a run that never reads it; timestamps are always checked in full. ``label`` names
    the source in error messages (e.g. the scenario field and file); default the source itself.
    """
    label = label or str(source)
    try:
        path = resolve_source(source, base_dir)
    except DataError as exc:
        raise DataError(label, exc.problem) from None
    frame = read_table(path)
    if location is not None:
        if "Location" not in frame.columns:
            raise DataError(label, "location filter given but the file has no 'Location' column",
                            column="Location")
        frame = frame[frame["Location"] == location]
        if frame.empty:
            raise DataError(label, f"no rows for location {location!r}", column="Location")
        frame = frame.reset_index(drop=True)
    elif "Location" in frame.columns and (frame["Location"] != frame["Location"].iloc[0]).any():
        raise DataError(label, "several locations in one file "
                        f"({sorted(frame['Location'].unique())[:5]}...); choose one with 'location'",
                        column="Location")
    tcol = pick_time_column(frame, label, time_column)
    if value_column is None:
        for candidate in ("SPP", "LMP"):
            if candidate in frame.columns:
                value_column = candidate
                break
        else:
            skip = {tcol, "Interval End", "interval_start_local", "Location", "Location Type",
                    "Market"}
            rest = [c for c in frame.columns if c not in skip]
            numeric = rest if len(rest) == 1 else [
                c for c in rest if pd.api.types.is_numeric_dtype(frame[c])]
            if len(numeric) != 1:
                raise DataError(label, f"say which value column to use; candidates {numeric}")
            value_column = numeric[0]
    if value_column not in frame.columns:
        raise DataError(label, f"value column not found; columns are {list(frame.columns)}",
                        column=value_column)
    index = parse_utc_timestamps(frame[tcol], label, tcol)
    step = check_index(index, label, tcol) if check_step else pd.Timedelta(0)
    index_start = index[0]
    if window is not None and (index[0] > window[0] or index[-1] + step < window[1]):
        raise DataError(label, f"covers {index[0]} to {index[-1] + step}, but the run needs "
                        f"{window[0]} to {window[1]}")
    values = frame[value_column]
    if window is not None:
        first = max(int(index.searchsorted(window[0], side="right")) - 1, 0)
        last = int(index.searchsorted(window[1], side="left"))
        index, values = index[first:last], values.iloc[first:last]
        offset = first
    else:
        offset = 0
    raw = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    not_numeric = np.isnan(raw) & values.notna().to_numpy()
    if not_numeric.any():
        row = int(np.argmax(not_numeric))
        raise DataError(label, f"not a number: {values.iloc[row]!r}", row=row + offset + 1,
                        column=value_column)
    check_values(raw, label, value_column, minimum=minimum, maximum=maximum, row_offset=offset)
    out = pd.Series(raw, index=index.rename("interval_start_utc"), name=value_column)
    out.attrs["step"] = step  # the file's interval length, kept for align() on short windows
    out.attrs["file_start"] = index_start  # the file's first instant, before any window
    return out


def as_published(series: pd.Series, delay: pd.Timedelta) -> pd.Series:
    """Re-stamp each value at the instant it becomes known: its timestamp plus ``delay``.

    A daily close stamped at the day's 00:00 UTC is known only at the end of that day (delay
    1 day); applying it from its own stamp would use it up to 24 h before it exists. ``align``
    then holds each value from its publication to the next one.
    """
    out = series.copy()
    out.index = series.index + delay
    out.attrs = dict(series.attrs)
    return out


def align(series: pd.Series, index: pd.DatetimeIndex, source: str) -> pd.Series:
    """Put an interval series onto ``index`` (interval starts, regular step).

    Coarser source data (hourly price, daily BTC price) is held over each of its intervals
    (forward fill); finer data (5-min prices onto a 15-min run) is averaged over each target
    interval. Both keep interval averages, which is right for prices and average MW. The source
    must cover the whole index.
    """
    if len(index) == 0:
        return pd.Series([], index=index, dtype="float64", name=series.name)
    src_step = series.attrs.get("step") or (
        series.index[1] - series.index[0] if len(series) > 1 else pd.Timedelta(0))
    dst_step = index[1] - index[0] if len(index) > 1 else src_step
    end_needed = index[-1] + dst_step
    if series.index[0] > index[0] or series.index[-1] + src_step < end_needed:
        raise DataError(source, f"covers {series.index[0]} to {series.index[-1] + src_step}, "
                        f"but the run needs {index[0]} to {end_needed}")
    if src_step < dst_step:
        binned = series.resample(dst_step, origin=index[0]).mean()
        out = binned.reindex(index)
    else:
        out = series.reindex(index, method="ffill")  # both sorted: value in force at each start
    if out.isna().any():
        first = out.index[out.isna().to_numpy()][0]
        raise DataError(source, f"no value for {first} after alignment")
    return out.astype("float64")
