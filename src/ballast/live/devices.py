"""Book-keeping of the miner devices and the pure planning the runtime does with it.

- ``split_fleet``: which devices the controller may move this tick, and the power of the
  others (non-compliant, unreachable, or in a group that must sleep) as inflexible load;
- ``plan_commands``: which devices to sleep and wake so each group runs the controller's count,
  keeping the ones already running (fewest commands);
- ``apply_outcomes``: update the book from a fleet command's verified outcomes.

Powers are facility MW per device (``run_mw``/``sleep_mw`` per group, as the controller sees
them). ``want_run`` is the intent last commanded, recorded *before* the command is sent.

The device records are plain dataclasses. ``split_fleet`` and ``plan_commands`` read the
numpy columns of a ``live.fleet_table.FleetTable`` the runtime builds once over its records;
whoever writes a record's state updates the table (``FleetTable.refresh``; ``apply_outcomes``
returns the addresses it wrote for that). A record's address is its identity and is never
written (``addr_key`` is computed once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ballast.live import fleet_table
from ballast.live.fleet_table import FleetTable
from ballast.physics import group_power_mw

NON_COMPLIANT = ("ignored", "error")  # reachable, but does not do what it is told
UNREACHABLE = ("timeout", "refused", "unknown")


@dataclass(slots=True)
class Device:
    """What the runtime knows about one miner address."""

    ip: str
    group: int
    want_run: bool | None = None  # the state last commanded (None: never commanded)
    status: str = "unknown"  # ok | ignored | error | timeout | refused | unknown
    asleep: bool | None = None  # as last read back
    # the address as one integer in ``ip_key`` order (None unless a dotted quad of bytes), for
    # ``plan_commands``; the address is the record's identity and never changes
    addr_key: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            self.addr_key = _ip_int(self.ip)
        except ValueError:  # not numeric: ``plan_commands`` refuses it as before (ip_key)
            self.addr_key = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@lru_cache(maxsize=1 << 17)  # the same addresses every tick
def ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(p) for p in ip.split("."))


def split_fleet(
    table: FleetTable, forced: set[int], run_mw: np.ndarray, sleep_mw: np.ndarray
) -> tuple[np.ndarray, float, list[str]]:
    """(controllable devices per group, inflexible miner power [MW], devices to put to sleep).

    A device in a ``forced`` group (manual curtail, tripped relay, safe state) must sleep: it
    counts at sleep power once verified asleep, else at full power, and is (re)commanded while
    reachable. An unreachable or non-compliant device elsewhere counts at what it last showed
    (full power when unknown). Only compliant devices outside forced groups are controllable.

    Over the runtime's ``FleetTable`` columns (counts per group with ``np.bincount``; no pass
    over the records): at 10,000 devices p50 0.7 / p99 2 ms of CPU against 1.6 / 4.4 ms for
    one list pass per field every tick (``benchmarks/bench_live_controller.py``, shared
    machine).
    """
    t = _table(table)
    n_groups = len(run_mw)
    group, code = t.group, t.code
    _check_groups(group, n_groups)
    in_forced = _in_groups(group, forced)
    shown_running = (code & fleet_table.SHOWN_RUNNING).astype(bool)
    to_sleep: list[str] = []
    if in_forced.any():
        # verified asleep after a sleep command (read back not running), else running; the
        # others are (re)commanded unless unreachable (the read-back retries those)
        asleep = (code & fleet_table.VERIFIED_ASLEEP).astype(bool)
        resend = in_forced & ~asleep & (code & fleet_table.REACHABLE).astype(bool)
        to_sleep = [t.ips[i] for i in np.flatnonzero(resend).tolist()]
        shown_running = np.where(in_forced, ~asleep, shown_running)
    ok = (code & fleet_table.OK).astype(bool)
    controllable = np.bincount(group[ok & ~in_forced], minlength=n_groups).astype(np.int64)
    fixed_mask = in_forced | ~ok  # devices counted as inflexible load
    fixed = np.bincount(group[fixed_mask], minlength=n_groups).astype(np.int64)
    fixed_running = np.bincount(
        group[fixed_mask & shown_running],  # of them, at full power
        minlength=n_groups,
    ).astype(np.int64)
    fixed_mw = group_power_mw(fixed_running, fixed, np.asarray(run_mw), np.asarray(sleep_mw))
    return controllable, float(fixed_mw.sum()), to_sleep


def _table(table: FleetTable) -> FleetTable:
    if not isinstance(table, FleetTable):
        raise TypeError(
            "split_fleet/plan_commands take the fleet's FleetTable (live.fleet_table), "
            f"not {type(table).__name__}: build it once, FleetTable(devices)"
        )
    return table


def _check_groups(group: np.ndarray, n_groups: int) -> None:
    if group.size and not 0 <= group.min() <= group.max() < n_groups:
        raise IndexError(f"device group index out of range 0..{n_groups - 1}: {group.min()}..{group.max()}")


def _in_groups(group: np.ndarray, groups: set[int]) -> np.ndarray:
    """Whether each device's group is one of ``groups``."""
    if not groups:
        return np.zeros(group.shape[0], dtype=bool)
    return np.isin(group, np.fromiter(groups, dtype=np.int64, count=len(groups)))


@lru_cache(maxsize=1 << 17)  # the same addresses every tick
def _ip_int(ip: str) -> int | None:
    """``ip_key`` as one integer when the address is a dotted quad of bytes (same order)."""
    k = ip_key(ip)
    if len(k) == 4 and 0 <= min(k) and max(k) < 256:
        return (k[0] << 24) | (k[1] << 16) | (k[2] << 8) | k[3]
    return None


def ip_order(ips: list[str]) -> np.ndarray:
    """Sort keys of addresses in ``ip_key`` order (equal keys for equal addresses): the
    address as one integer when every one is a dotted quad of bytes, else its rank."""
    ints = [_ip_int(ip) for ip in ips]
    if None not in ints:
        return np.array(ints, dtype=np.int64)
    keys = [ip_key(ip) for ip in ips]
    rank = {k: r for r, k in enumerate(sorted(set(keys)))}
    return np.array([rank[k] for k in keys], dtype=np.int64)


def plan_commands(table: FleetTable, running: np.ndarray, forced: set[int]) -> tuple[list[str], list[str]]:
    """(to_sleep, to_wake) so that each non-forced group runs ``running[g]`` of its compliant
    devices. Keeps running devices running; wakes the lowest addresses first and sleeps the
    highest first, so the choice is stable from tick to tick.

    Over the runtime's ``FleetTable`` columns, with each group's address order sorted once:
    at 10,000 devices p50 0.9 / p99 2 ms of CPU against 2.0 / 6.5 ms for list passes over the
    records and a sort of each group whose count must change, every tick (23-28 ms for a
    Python sort of every group; ``benchmarks/bench_live_controller.py``, shared machine)."""
    t = _table(table)
    group, code = t.group, t.code
    take = (code & fleet_table.OK).astype(bool) & ~_in_groups(group, forced)
    on = (code & fleet_table.WANT_RUN).astype(bool)
    to_sleep: list[str] = []
    to_wake: list[str] = []
    ips = t.ips
    for gi in np.unique(group[take]).tolist():  # ascending
        k = int(running[gi])
        rows = t.order(gi)
        if rows is None:  # an address not numeric: sort the members (raises as ``ip_key``)
            members = np.flatnonzero(take & (group == gi))  # in the devices' order
            keys_arr = ip_order([ips[i] for i in members.tolist()])
            rows = members[np.argsort(keys_arr, kind="stable")]  # ties keep their order
        else:  # the group's rows by address, then its members (the order is kept)
            rows = rows[take[rows]]
        on_rows = on[rows]
        n_on = int(on_rows.sum())
        if n_on > k:
            to_sleep += [ips[i] for i in rows[on_rows][k:][::-1].tolist()]
        elif n_on < k:
            to_wake += [ips[i] for i in rows[~on_rows][: k - n_on].tolist()]
    return to_sleep, to_wake


def apply_outcomes(devices: Mapping[str, Device], outcomes: Iterable[Any], want_run: bool) -> list[str]:
    """Record what each miner did with a command (outcomes of ``live.drivers.fleet``).
    Returns the addresses written (for ``FleetTable.refresh``)."""
    written: list[str] = []
    for o in outcomes:
        d = devices.get(o.ip)
        if d is None:
            continue
        written.append(o.ip)
        d.want_run = want_run
        d.status = "ok" if o.compliant else o.status
        if o.reading is not None:
            d.asleep = bool(o.reading.asleep)
        elif o.compliant:
            d.asleep = not want_run
    return written


def planned_miner_mw(devices: Iterable[Device], run_mw: np.ndarray, sleep_mw: np.ndarray) -> float:
    """Miner power if every device is in its wanted state (never commanded: running) [MW]."""
    count = np.zeros(len(run_mw), dtype=np.int64)
    running = np.zeros(len(run_mw), dtype=np.int64)
    for d in devices:
        count[d.group] += 1
        running[d.group] += d.want_run is not False
    return float(group_power_mw(running, count, np.asarray(run_mw), np.asarray(sleep_mw)).sum())


def group_counts(devices: Iterable[Device], n_groups: int) -> list[dict[str, int]]:
    """Per group: devices running / asleep (compliant), non-compliant, unreachable."""
    out = [
        {"miners": 0, "running": 0, "asleep": 0, "non_compliant": 0, "unreachable": 0}
        for _ in range(n_groups)
    ]
    for d in devices:
        c = out[d.group]
        c["miners"] += 1
        if d.ok:
            c["running" if d.want_run else "asleep"] += 1
        elif d.status in NON_COMPLIANT:
            c["non_compliant"] += 1
        else:
            c["unreachable"] += 1
    return out


def group_power_estimate_mw(
    counts: list[dict[str, int]], run_mw: np.ndarray, sleep_mw: np.ndarray
) -> list[float]:
    """Per group (``group_counts`` rows): power [MW] from the verified device states. A device
    not complying or not reached counts at full power, as the controller counts it (the worst
    case for the interconnect)."""
    return [
        float(
            group_power_mw(
                c["running"] + c["non_compliant"] + c["unreachable"], c["miners"], run_mw[gi], sleep_mw[gi]
            )
        )
        for gi, c in enumerate(counts)
    ]
