"""Verified fan-out from the runtime to the miner fleet, with deadlines, and the device book.

``FleetControl`` owns the devices (``live.devices.Device`` per address) and one command lock:
every command records its intent first (``want_run``), then fans out through the fleet driver
with an overall deadline (a stalled driver cannot stall control: the miners it covered count as
unreachable), then updates the book from the verified outcomes. It also runs the periodic
read-back, the relay-miner session keep-alive (failures counted per miner) and the fail-safe's
"sleep every miner not verified asleep".
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ballast.live.devices import Device, apply_outcomes
from ballast.live.drivers.capabilities import WAKE_RAMP_S
from ballast.live.interfaces import FleetResultLike, KeepsSessions, MinerFleet
from ballast.live.store import CommandRecord

log = logging.getLogger("ballast.live")

FleetCommand = Literal["sleep", "wake", "read_all"]  # the MinerFleet methods


class FleetControl:
    """The runtime's miners: book, lock, deadline-bounded verified commands."""

    def __init__(self, fleet: MinerFleet, devices: dict[str, Device], timeout_s: float,
                 retries: int) -> None:
        self.fleet = fleet
        self.devices = devices
        # overall deadline per command; plus two ramps, which a miner reporting no curtail
        # state gets before it is judged by power (a ramp, a resend, a ramp: docs/firmware.md)
        self.budget_s = 2.0 + 4.0 * timeout_s * (retries + 1) + 2 * WAKE_RAMP_S
        self.lock = asyncio.Lock()
        self.keepalive_failures: Counter[str] = Counter()  # miner ip (or "all") -> failures

    @staticmethod
    def record(now_s: float, group: str | None, cmd: str, res: Any) -> CommandRecord:
        ok = sum(1 for o in res.outcomes if o.compliant)
        fails = [(o.ip, o.status) for o in res.outcomes if not o.compliant]
        return CommandRecord(now_s, group, cmd, len(res.outcomes), ok, float(res.elapsed_s),
                             dict(res.counts), fails)

    def apply(self, outcomes: list, want_run: bool) -> None:
        apply_outcomes(self.devices, outcomes, want_run)

    def _op(self, command: FleetCommand, ips: Iterable[str]) -> Awaitable[FleetResultLike]:
        """The ``MinerFleet`` method for ``command`` (typed dispatch, no attribute strings)."""
        if command == "sleep":
            return self.fleet.sleep(ips)
        if command == "wake":
            return self.fleet.wake(ips)
        return self.fleet.read_all(ips)

    async def call(self, command: FleetCommand, ips: list[str]) -> Any:
        """A fleet command with an overall deadline: a driver that never answers must not
        stall the runtime (every miner it covered then counts as unreachable this time)."""
        try:
            return await asyncio.wait_for(self._op(command, ips), self.budget_s)
        except TimeoutError:
            log.warning("fleet %s to %d miners: no result within %.1f s", command, len(ips),
                        self.budget_s)
            return _TimedOut(command, ips, self.budget_s)

    async def send(self, to_sleep: list[str], to_wake: list[str], group: str | None,
                   now_s: float) -> list[CommandRecord]:
        async with self.lock:
            return await self.send_locked(to_sleep, to_wake, group, now_s)

    async def send_locked(self, to_sleep: list[str], to_wake: list[str], group: str | None,
                          now_s: float) -> list[CommandRecord]:
        """Record the intent first (so a concurrent reader never undoes it), then fan out."""
        for ips, run in ((to_sleep, False), (to_wake, True)):
            for ip in ips:
                self.devices[ip].want_run = run
        jobs = []
        if to_sleep:
            jobs.append(("sleep", self.call("sleep", to_sleep)))
        if to_wake:
            jobs.append(("wake", self.call("wake", to_wake)))
        results = await asyncio.gather(*(j for _, j in jobs))
        records: list[CommandRecord] = []
        for (cmd, _), res in zip(jobs, results, strict=True):
            self.apply(res.outcomes, want_run=cmd == "wake")
            records.append(self.record(now_s, group, cmd, res))
        return records

    async def read(self, resend: bool, forced: Callable[[], set[int]], now_s: float) -> None:
        """Read every miner; recover or mark; optionally re-send the wanted state to those
        that disagree. Holds the lock so a read never races a tick's commands."""
        if not self.devices:
            return
        async with self.lock:
            res = await self.call("read_all", list(self.devices))
            must_sleep = forced()
            disagree_sleep, disagree_wake = [], []
            for o in res.outcomes:
                d = self.devices[o.ip]
                if not o.compliant or o.reading is None:
                    d.status = o.status
                    continue
                d.asleep = bool(o.reading.asleep)
                if d.want_run is None:  # first contact: adopt what it does
                    d.want_run = not d.asleep
                if d.group in must_sleep:
                    d.want_run = False  # never wake a miner that must sleep
                if d.want_run == (not d.asleep):
                    d.status = "ok"
                else:
                    d.status = "ignored"
                    (disagree_wake if d.want_run else disagree_sleep).append(o.ip)
            if resend and (disagree_sleep or disagree_wake):
                await self.send_locked(disagree_sleep, disagree_wake, None, now_s)

    async def sleep_unverified(self) -> tuple[int, int]:
        """Sleep every miner not yet verified asleep (the fail-safe), without the lock (a
        failing tick may hold it); returns (verified asleep, commanded)."""
        ips = [d.ip for d in self.devices.values()
               if not (d.ok and d.want_run is False and d.asleep)]
        if not ips:
            return 0, 0
        for ip in ips:  # intent first: no concurrent read-back may wake them
            self.devices[ip].want_run = False
        res = await self.call("sleep", ips)
        self.apply(res.outcomes, want_run=False)
        return sum(1 for o in res.outcomes if o.compliant), len(ips)

    async def keep_sessions(self, ips: list[str]) -> None:
        """Hold sessions on ``ips`` (if the fleet can) so a relay trip is one round trip.
        Failures are logged and counted per miner ("all" when the whole call failed)."""
        if not isinstance(self.fleet, KeepsSessions) or not ips:
            return
        try:
            res = await asyncio.wait_for(self.fleet.keep_sessions(ips), 30.0)
        except Exception as e:
            self.keepalive_failures["all"] += 1
            log.warning("session keep-alive to %d relay miners failed: %r", len(ips), e)
            return
        failed = [(o.ip, o.status) for o in getattr(res, "outcomes", []) if not o.compliant]
        for ip, _ in failed:
            self.keepalive_failures[ip] += 1
        if failed:
            log.warning("session keep-alive failed on %d/%d relay miners: %s", len(failed),
                        len(ips), ", ".join(f"{ip} {st}" for ip, st in failed[:10]))


@dataclass(frozen=True)
class _Unanswered:
    ip: str
    status: str = "timeout"
    reading: None = None
    compliant: bool = False


class _TimedOut:
    """Stands in for a fleet result when the whole command overran its deadline."""

    def __init__(self, command: str, ips: list[str], elapsed_s: float) -> None:
        self.command = command
        self.outcomes = [_Unanswered(ip) for ip in ips]
        self.elapsed_s = elapsed_s
        self.counts = {"timeout": len(ips)}
