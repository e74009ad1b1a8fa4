"""A process's memo of recent answers, by key: the least recently used entry goes first.

Ballast keeps two such memos, each in the module whose answers it keeps:
- ``costs.fourcp_years``: the last run's 4CP years (one entry: a run and its baseline share them);
- ``ballast.inputs.cache``: a batch worker's last few built inputs (a few entries, within a
  size in bytes, each used only while the files read to build it are unchanged).

A key is any hashable value naming every argument the answer depends on. An entry that is no
longer ``fresh`` is built again; an answer larger than ``max_bytes`` is returned and not kept;
an error is never kept. ``build`` runs outside the lock: two threads asking at once for the
same missing key may each build it, once. ``clear()`` empties the memo (tests).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar, cast

V = TypeVar("V")
_MISSING = object()


def _always_fresh(value: object) -> bool:
    return True


def _no_bytes(value: object) -> int:
    return 0


class Memo(Generic[V]):
    """The last ``max_entries`` answers by key (least recently used out first), within
    ``max_bytes`` as ``nbytes`` counts them, each reused while ``fresh`` says so."""

    def __init__(
        self,
        max_entries: int,
        max_bytes: float = math.inf,
        *,
        nbytes: Callable[[V], int] = _no_bytes,
        fresh: Callable[[V], bool] = _always_fresh,
    ) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._nbytes, self._fresh = nbytes, fresh
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()  # a worker may run several task threads
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, build: Callable[[], V]) -> V:
        """The answer kept under ``key`` while it is fresh, else ``build()`` (kept if it fits)."""
        with self._lock:
            # one lookup (a key's __eq__ may compare arrays): taken out, put back last if fresh
            kept = self._entries.pop(key, _MISSING)
            if kept is not _MISSING and self._fresh(cast(V, kept)):
                self._entries[key] = cast(V, kept)  # now the most recently used
                self.hits += 1
                return cast(V, kept)
            self.misses += 1
        value = build()
        if self._nbytes(value) <= self.max_bytes:
            with self._lock:
                self._entries.pop(key, None)  # another thread's answer: this one goes last
                self._entries[key] = value
                while len(self._entries) > self.max_entries or (
                    sum(self._nbytes(v) for v in self._entries.values()) > self.max_bytes
                ):
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every answer and the counts of hits and misses."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0
