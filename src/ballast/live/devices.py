"""Book-keeping of the miner devices and the pure planning the runtime does with it.

- ``split_fleet``: which devices the controller may move this tick, and the power of the
  others (non-compliant, unreachable, or in a group that must sleep) as inflexible load;
- ``plan_commands``: which devices to sleep and wake so each group runs the controller's count,
  keeping the ones already running (fewest commands);
- ``apply_outcomes``: update the book from a fleet command's verified outcomes.

Powers are facility MW per device (``run_mw``/``sleep_mw`` per group, as the controller sees
them). ``want_run`` is the intent last commanded, recorded *before* the command is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ballast.physics import group_power_mw

NON_COMPLIANT = ("ignored", "error")  # reachable, but does not do what it is told
UNREACHABLE = ("timeout", "refused", "unknown")


@dataclass
class Device:
    """What the runtime knows about one miner address."""

    ip: str
    group: int
    want_run: bool | None = None  # the state last commanded (None: never commanded)
    status: str = "unknown"  # ok | ignored | error | timeout | refused | unknown
    asleep: bool | None = None  # as last read back

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(p) for p in ip.split("."))


def split_fleet(devices: Iterable[Device], forced: set[int], run_mw: np.ndarray,
                sleep_mw: np.ndarray) -> tuple[np.ndarray, float, list[str]]:
    """(controllable devices per group, inflexible miner power [MW], devices to put to sleep).

    A device in a ``forced`` group (manual curtail, tripped relay, safe state) must sleep: it
    counts at sleep power once verified asleep, else at full power, and is (re)commanded while
    reachable. An unreachable or non-compliant device elsewhere counts at what it last showed
    (full power when unknown). Only compliant devices outside forced groups are controllable.
    """
    controllable = np.zeros(len(run_mw), dtype=np.int64)
    fixed = np.zeros(len(run_mw), dtype=np.int64)  # devices counted as inflexible load
    fixed_running = np.zeros(len(run_mw), dtype=np.int64)  # of them, counted at full power
    to_sleep: list[str] = []
    for d in devices:
        if d.group in forced:
            asleep = d.ok and d.want_run is False and d.asleep is not False
            if not asleep and d.status not in UNREACHABLE:
                to_sleep.append(d.ip)  # unreachable ones are retried by the fleet read-back
            fixed[d.group] += 1
            fixed_running[d.group] += not asleep
        elif d.ok:
            controllable[d.group] += 1
        else:
            fixed[d.group] += 1
            fixed_running[d.group] += not d.asleep
    fixed_mw = group_power_mw(fixed_running, fixed, np.asarray(run_mw), np.asarray(sleep_mw))
    return controllable, float(fixed_mw.sum()), to_sleep


def plan_commands(devices: Iterable[Device], running: np.ndarray,
                  forced: set[int]) -> tuple[list[str], list[str]]:
    """(to_sleep, to_wake) so that each non-forced group runs ``running[g]`` of its compliant
    devices. Keeps running devices running; wakes the lowest addresses first and sleeps the
    highest first, so the choice is stable from tick to tick."""
    by_group: dict[int, list[Device]] = {}
    for d in devices:
        if d.ok and d.group not in forced:
            by_group.setdefault(d.group, []).append(d)
    to_sleep: list[str] = []
    to_wake: list[str] = []
    for gi, devs in sorted(by_group.items()):
        devs.sort(key=lambda d: ip_key(d.ip))
        on = [d.ip for d in devs if d.want_run]
        off = [d.ip for d in devs if not d.want_run]
        k = int(running[gi])
        if len(on) > k:
            to_sleep += on[k:][::-1]
        elif len(on) < k:
            to_wake += off[: k - len(on)]
    return to_sleep, to_wake


def apply_outcomes(devices: Mapping[str, Device], outcomes: Iterable[Any],
                   want_run: bool) -> None:
    """Record what each miner did with a command (outcomes of ``live.drivers.fleet``)."""
    for o in outcomes:
        d = devices.get(o.ip)
        if d is None:
            continue
        d.want_run = want_run
        d.status = "ok" if o.compliant else o.status
        if o.reading is not None:
            d.asleep = bool(o.reading.asleep)
        elif o.compliant:
            d.asleep = not want_run


def planned_miner_mw(devices: Iterable[Device], run_mw: np.ndarray,
                     sleep_mw: np.ndarray) -> float:
    """Miner power if every device is in its wanted state (never commanded: running) [MW]."""
    count = np.zeros(len(run_mw), dtype=np.int64)
    running = np.zeros(len(run_mw), dtype=np.int64)
    for d in devices:
        count[d.group] += 1
        running[d.group] += d.want_run is not False
    return float(group_power_mw(running, count, np.asarray(run_mw), np.asarray(sleep_mw)).sum())


def group_counts(devices: Iterable[Device], n_groups: int) -> list[dict[str, int]]:
    """Per group: devices running / asleep (compliant), non-compliant, unreachable."""
    out = [{"miners": 0, "running": 0, "asleep": 0, "non_compliant": 0, "unreachable": 0}
           for _ in range(n_groups)]
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


def group_power_estimate_mw(counts: list[dict[str, int]], run_mw: np.ndarray,
                            sleep_mw: np.ndarray) -> list[float]:
    """Per group (``group_counts`` rows): power [MW] from the verified device states. A device
    not complying or not reached counts at full power, as the controller counts it (the worst
    case for the interconnect)."""
    return [float(group_power_mw(c["running"] + c["non_compliant"] + c["unreachable"],
                                 c["miners"], run_mw[gi], sleep_mw[gi]))
            for gi, c in enumerate(counts)]
