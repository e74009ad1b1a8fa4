"""Keep a process's last few built inputs (``build_inputs``) for runs that share them.

A sweep over the fleet size, the import limit or a deadband gives every run the same prices,
hashprice, AI load and renewables: rebuilding them (reading, validating and aligning each
series) was about a third of a 15-min year's CPU. Batch workers (sweeps) turn the cache on for
their process (``keep_inputs_in_memory``; a serial sweep for its own duration,
``inputs_in_memory``); elsewhere ``build_inputs`` builds every time.

An entry is found by the key ``build_inputs`` gives (every scenario field the inputs can
depend on; ``ballast.inputs.site.inputs_key``) and is used only while every file read to
build it is unchanged (path, size and modification time). Its arrays are read-only and each
caller gets a frame of its own over them, so a run can add columns to its frame but cannot
change a value another run will read (writing into one raises ``ValueError``). Least recently
used entries go first, within ``max_entries`` and ``max_mb``. Errors are never kept. The
bookkeeping (order, bounds, freshness, counts, lock) is ``ballast.memo.Memo``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.data.loaders import file_stamp, files_read
from ballast.memo import Memo

MAX_ENTRIES = 4  # a grid of a few years or price nodes keeps each one's inputs
MAX_MB = 512  # a 15-min year with 4 plants is ~5 MB, a 1-min year ~75 MB


@dataclass(frozen=True)
class _Entry:
    index: pd.DatetimeIndex
    columns: dict[str, np.ndarray]  # read-only
    extra: object  # what the builder returns besides the frame (hashable, immutable)
    files: tuple[tuple[str, int, int], ...]  # file_stamp of every file read to build it
    nbytes: int


class InputsCache:
    """Least recently used inputs, by key, within ``max_entries`` and ``max_mb``."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_mb: float = MAX_MB) -> None:
        self._memo: Memo[_Entry] = Memo(
            max_entries, max_mb * 2**20, nbytes=lambda e: e.nbytes, fresh=_files_unchanged
        )

    def __len__(self) -> int:
        return len(self._memo)

    @property
    def hits(self) -> int:
        return self._memo.hits

    @property
    def misses(self) -> int:
        return self._memo.misses

    def get(
        self, key: Hashable, build: Callable[[], tuple[pd.DataFrame, object]]
    ) -> tuple[pd.DataFrame, object]:
        """``build()`` (a frame of numeric columns and any extra), or a new frame over the
        arrays kept under ``key`` if every file read to build them is unchanged."""

        def frozen() -> _Entry:
            with files_read() as files:
                frame, extra = build()
            return _freeze(frame, extra, tuple(dict.fromkeys(files)))

        entry = self._memo.get(key, frozen)
        return _frame(entry), entry.extra


def _files_unchanged(entry: _Entry) -> bool:
    return all(_unchanged(f) for f in entry.files)


def _unchanged(stamp: tuple[str, int, int]) -> bool:
    try:
        return file_stamp(Path(stamp[0])) == stamp
    except OSError:  # gone: build again (and let the builder name the missing file)
        return False


def _freeze(frame: pd.DataFrame, extra: object, files: tuple) -> _Entry:
    columns = {}
    for name in frame.columns:
        values = frame[name].to_numpy(copy=True)
        values.flags.writeable = False
        columns[name] = values
    return _Entry(frame.index, columns, extra, files, sum(v.nbytes for v in columns.values()))


def _frame(entry: _Entry) -> pd.DataFrame:
    """A frame of the caller's own over the entry's read-only arrays (no copy)."""
    return pd.DataFrame(entry.columns, index=entry.index, copy=False)


_CACHE: InputsCache | None = None  # off unless asked for


def active_cache() -> InputsCache | None:
    """The process's inputs cache, or None when inputs are built every time."""
    return _CACHE


def keep_inputs_in_memory(max_entries: int = MAX_ENTRIES, max_mb: float = MAX_MB) -> None:
    """Make ``build_inputs`` keep its last inputs for this process (a batch worker)."""
    global _CACHE
    if _CACHE is None:
        _CACHE = InputsCache(max_entries, max_mb)


@contextmanager
def inputs_in_memory() -> Iterator[InputsCache]:
    """``keep_inputs_in_memory`` within the block, the previous setting back after it (a serial
    sweep in a caller's process keeps inputs across its runs, not afterwards)."""
    global _CACHE
    before = _CACHE
    keep_inputs_in_memory()
    try:
        yield _CACHE
    finally:
        _CACHE = before
