"""Numpy columns of the runtime's device records, kept current by explicit updates (issue 17).

The runtime builds one ``FleetTable`` over its ``live.devices.Device`` records when it makes its
fleet (``Runtime.__init__``: the site config's addresses, fixed for the runtime's life; another
set of devices needs a new table) and hands it to ``split_fleet`` and ``plan_commands``, so a
tick reads no record and never re-checks which records the fleet holds.

The records are plain dataclasses. Whoever writes a record's state (``status``, ``want_run``,
``asleep``) or its group updates the table with the addresses it wrote, before its next
``await``: ``refresh(ips)``, or ``with table.updating(ips):`` around the writes (which updates
the rows also when the writes stop half-way on an exception). The runtime writes records only
on its event-loop thread, so no tick reads the table between a write and its update. The
writers are ``live.commands.FleetControl`` (intents, command outcomes, read-backs, wake
verifications); ``stale_rows()`` lists rows that disagree with their records (the runtime
tests check it is empty after every run). An address is a record's identity and is never
written; a copy of a record is not in the table (``refresh`` reads the table's own records).

Hand-written: no library keeps numpy columns of Python records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ballast.live.devices import Device

# bits of ``FleetTable.code``, from (status, want_run, asleep) of one record
OK = 1  # status == "ok" (compliant)
SHOWN_RUNNING = 2  # not asleep: full power unless verified asleep (unknown counts as running)
VERIFIED_ASLEEP = 4  # compliant, commanded to sleep and not read back running
REACHABLE = 8  # status not in ``UNREACHABLE``
WANT_RUN = 16  # commanded to run
UNREACHABLE = ("timeout", "refused", "unknown")


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
_STATE = attrgetter("status", "want_run", "asleep")
_GROUP = attrgetter("group")


def state_code(d: Device) -> int:
    """The ``code`` bits of one record's state."""
    return _CODES[_STATE(d)]


def _codes(devs: list[Device]) -> list[int]:
    return list(map(_CODES.__getitem__, map(_STATE, devs)))  # C loops


class FleetTable:
    """Columns of one fleet of device records (row i is ``devs[i]``; a record listed twice has
    two rows)."""

    def __init__(self, devices: Iterable[Device]) -> None:
        devs = list(devices)
        n = len(devs)
        self.devs = devs
        self.ips = [d.ip for d in devs]
        self.group = np.fromiter(map(_GROUP, devs), dtype=np.int64, count=n)
        self.code = np.array(_codes(devs), dtype=np.int64)
        self.addr_key = [d.addr_key for d in devs]
        self._row: dict[str, int] = {}  # address -> its (first) row
        self._more: dict[str, list[int]] = {}  # address -> its other rows (listed twice)
        for i, ip in enumerate(self.ips):
            if self._row.setdefault(ip, i) != i:
                self._more.setdefault(ip, []).append(i)
        self._order: dict[int, np.ndarray | None] = {}  # group -> rows sorted by address

    def __len__(self) -> int:
        return len(self.devs)

    def refresh(self, ips: Iterable[str]) -> None:
        """Re-read the state and group of the records at ``ips`` (after writing them).
        KeyError for an address that is not in this fleet."""
        ips = ips if isinstance(ips, list) else list(ips)
        try:
            rows = list(map(self._row.__getitem__, ips))
        except KeyError as e:
            raise KeyError(f"fleet table: {e.args[0]!r} is not a device of this fleet") from None
        if self._more:
            rows += [r for ip in ips for r in self._more.get(ip, ())]
        if not rows:
            return
        recs = list(map(self.devs.__getitem__, rows))
        self.code[rows] = _codes(recs)
        group = np.fromiter(map(_GROUP, recs), dtype=np.int64, count=len(recs))
        if (group != self.group[rows]).any():  # a group changed: its address order too
            self.group[rows] = group
            self._order.clear()

    @contextmanager
    def updating(self, ips: Iterable[str]) -> Iterator[None]:
        """Refresh ``ips`` when the block ends, also when it raises."""
        ips = list(ips)
        try:
            yield
        finally:
            self.refresh(ips)

    def stale_rows(self) -> list[int]:
        """Rows whose code or group disagrees with their record (a writer that did not
        ``refresh``): empty when the table is current. One pass over the records."""
        code = np.array(_codes(self.devs), dtype=np.int64)
        group = np.fromiter(map(_GROUP, self.devs), dtype=np.int64, count=len(self.devs))
        return np.flatnonzero((code != self.code) | (group != self.group)).tolist()

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
