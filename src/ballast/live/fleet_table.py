"""Numpy columns of the device records that the records write through (issue 17).

``columns(devices)`` returns the columns of that exact sequence of records (same objects, same
order). The table is built once and the records are attached to it: a write to a record's
state (``status``, ``want_run``, ``asleep``) updates its row at once, so a tick reads none of
the 10,000 records; a write to an address or group marks the table stale and the next call
rebuilds it. The sort order of each group's addresses is cached with the table. Only the last
sequence seen (the runtime's fleet) keeps a table; another sequence builds a new one.

Hand-written: no library keeps numpy columns of mutable Python objects current.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

# bits of ``FleetColumns.code``, from (status, want_run, asleep) of one record
OK = 1  # status == "ok" (compliant)
SHOWN_RUNNING = 2  # not asleep: full power unless verified asleep (unknown counts as running)
VERIFIED_ASLEEP = 4  # compliant, commanded to sleep and not read back running
REACHABLE = 8  # status not in ``UNREACHABLE``
WANT_RUN = 16  # commanded to run
UNREACHABLE = ("timeout", "refused", "unknown")
STATE = frozenset(("status", "want_run", "asleep"))  # fields in ``code``
STRUCTURE = frozenset(("ip", "group", "addr_key"))  # fields that change rows' group or order


class _Codes(dict):
    """(status, want_run, asleep) -> code, computed on first use."""

    def __missing__(self, key: tuple[str, Any, Any]) -> int:
        status, want_run, asleep = key
        ok = status == "ok"
        code = (
            (OK if ok else 0)
            | (0 if asleep else SHOWN_RUNNING)
            | (VERIFIED_ASLEEP if ok and want_run is False and asleep is not False else 0)
            | (0 if status in UNREACHABLE else REACHABLE)
            | (WANT_RUN if want_run else 0)
        )
        self[key] = code
        return code


_CODES = _Codes()


class Attached:
    """Base of a record that writes through to the table it is attached to."""

    __slots__ = ("_row", "_table")

    def __new__(cls, *args: Any, **kwargs: Any) -> Attached:
        self = object.__new__(cls)
        object.__setattr__(self, "_table", None)  # not attached
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        t = self._table
        if t is not None:
            t.written(self, name)


class FleetColumns:
    """Columns of one sequence of device records (row i is ``devs[i]``)."""

    def __init__(self, devs: list[Any]) -> None:
        self.devs = devs
        self.stale = False
        self.ips = [d.ip for d in devs]
        self.group = np.fromiter([d.group for d in devs], dtype=np.int64, count=len(devs))
        self.code = np.fromiter(
            [_CODES[(d.status, d.want_run, d.asleep)] for d in devs], dtype=np.int64, count=len(devs)
        )
        self.addr_key = [d.addr_key for d in devs]
        self._order: dict[int, np.ndarray | None] = {}  # group -> rows sorted by address
        for i, d in enumerate(devs):
            object.__setattr__(d, "_table", self)
            object.__setattr__(d, "_row", i)
        # a record listed twice has one ``_row``: such a table is rebuilt at every call
        self.repeated = len({id(d) for d in devs}) != len(devs)

    def written(self, d: Any, name: str) -> None:
        """Field ``name`` of record ``d`` (attached to this table) was written."""
        if name in STATE:
            i = d._row
            if self.devs[i] is d:  # else a copy of a record: not a row of ours
                self.code[i] = _CODES[(d.status, d.want_run, d.asleep)]
        elif name in STRUCTURE and self.devs[d._row] is d:
            self.stale = True

    def order(self, gi: int) -> np.ndarray | None:
        """Rows of group ``gi`` sorted by address (``ip_key`` order; ties in row order), or
        None when an address of the group is not numeric (the caller then sorts as before)."""
        if gi not in self._order:
            from ballast.live.devices import ip_order  # one sort key, defined there

            rows = np.flatnonzero(self.group == gi)
            keys = [self.addr_key[i] for i in rows.tolist()]
            if None in keys:
                try:
                    keys_arr = ip_order([self.ips[i] for i in rows.tolist()])
                except ValueError:
                    self._order[gi] = None
                    return None
            else:
                keys_arr = np.array(keys, dtype=np.int64)
            self._order[gi] = rows[np.argsort(keys_arr, kind="stable")]
        return self._order[gi]


_last: FleetColumns | None = None
_lock = threading.Lock()


def columns(devices: Sequence[Any]) -> FleetColumns:
    """The current columns of ``devices`` (a list of records): the last table when it is of
    these very records and none of them changed address or group, else a new one."""
    global _last
    with _lock:
        t = _last
        if (
            t is None
            or t.stale
            or t.repeated
            or len(t.devs) != len(devices)
            or not all(map(operator.is_, t.devs, devices))
        ):
            t = _last = FleetColumns(list(devices))
        return t
