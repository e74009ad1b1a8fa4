"""Verified fan-out from the runtime to the miner fleet, with deadlines, and the device book.

``FleetControl`` owns the devices (``live.devices.Device`` per address) and one command lock:
every command records its intent first (``want_run``), then fans out through the fleet driver
with an overall deadline (a stalled driver cannot stall control: the miners it covered count as
unreachable), then updates the book from the verified outcomes. It also runs the periodic
read-back, the relay-miner session keep-alive (failures counted per miner) and the fail-safe's
"sleep every miner not verified asleep".

A shed never waits behind a wake's verification. A miner whose firmware reports no curtail
state is only judged by power after the wake ramp (~10 s; ``docs/firmware.md``). The lock is
held while commands are sent and read back, never across that ramp: wakes go out with
``wait_ramp=False``, such a miner comes back ``ramping`` and stays commandable (status ``ok``,
``asleep`` unknown, so it counts as running), and a tracked background verification waits the
ramp outside the lock, then under it reads those miners back: awake is ``ok``; still asleep gets
the wake once more (a read-back disagreed: no blind resend) and one more ramp, then is
``ignored``, as the driver itself would do. Any sleep (tick, relay, fail-safe, shutdown) first
takes its miners out of a pending verification (``intend_sleep``), so the verification can
never resend a wake over a shed; its sends and read-backs happen under the lock, like the
tick's, so the two never interleave on a miner. The periodic read-back leaves ramping miners to
their verification. A verification's record is handed to the store with the next tick.

Every place here that writes a device record (intent, outcomes, read-back, verification) updates
the fleet's ``FleetTable`` with the addresses it wrote before it next awaits
(``live.fleet_table``), so the tick's ``split_fleet`` and ``plan_commands`` see each write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ballast.live.devices import Device, apply_outcomes
from ballast.live.drivers.aio import cancel_and_wait
from ballast.live.drivers.capabilities import SLEEP_RAMP_S, WAKE_RAMP_S
from ballast.live.fleet_table import FleetTable
from ballast.live.interfaces import FleetResultLike, KeepsSessions, MinerFleet
from ballast.live.store import CommandRecord

log = logging.getLogger("ballast.live")

FleetCommand = Literal["sleep", "wake", "read_all"]  # the MinerFleet methods


class FleetControl:
    """The runtime's miners: book, lock, deadline-bounded verified commands."""

    def __init__(self, fleet: MinerFleet, devices: dict[str, Device], timeout_s: float,
                 retries: int, *, clock: Callable[[], float] = time.time,
                 wait: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 forced: Callable[[], set[int]] = set, table: FleetTable | None = None) -> None:
        """``clock`` stamps the records of background verifications; ``wait(seconds)`` waits
        out a wake ramp (tests inject one they control); ``forced()``: the groups whose miners
        must sleep now (a verification never resends them a wake); ``table``: the columns of
        ``devices`` the runtime plans with (built here when not given)."""
        self.fleet = fleet
        self.devices = devices
        if table is None:
            table = FleetTable(devices.values())
        elif len(table) != len(devices) or any(
                a is not b for a, b in zip(table.devs, devices.values(), strict=True)):
            raise ValueError("FleetControl: the fleet table is not of these device records")
        self.table = table
        # overall deadline per command; plus two sleep ramps, which a miner reporting no
        # curtail state gets in the driver before it is judged by power (a ramp, a resend, a
        # ramp: docs/firmware.md); wake ramps are waited outside the command (module docstring)
        self.budget_s = 2.0 + 4.0 * timeout_s * (retries + 1) + 2 * SLEEP_RAMP_S
        self.lock = asyncio.Lock()
        self.clock = clock
        self.wait = wait
        self.forced = forced
        self.keepalive_failures: Counter[str] = Counter()  # miner ip (or "all") -> failures
        self.ramping: dict[str, object] = {}  # ip -> token of the verification that owns it
        self.late_records: list[CommandRecord] = []  # from verifications, for the next tick
        self._verifiers: set[asyncio.Task] = set()

    @staticmethod
    def record(now_s: float, group: str | None, cmd: str, res: Any) -> CommandRecord:
        ok = sum(1 for o in res.outcomes if o.compliant)
        fails = [(o.ip, o.status) for o in res.outcomes if not o.compliant]
        return CommandRecord(now_s, group, cmd, len(res.outcomes), ok, float(res.elapsed_s),
                             dict(res.counts), fails)

    def apply(self, outcomes: list, want_run: bool) -> None:
        self.table.refresh(apply_outcomes(self.devices, outcomes, want_run))

    def _op(self, command: FleetCommand, ips: Iterable[str]) -> Awaitable[FleetResultLike]:
        """The ``MinerFleet`` method for ``command`` (typed dispatch, no attribute strings)."""
        if command == "sleep":
            return self.fleet.sleep(ips)
        if command == "wake":  # the ramp is waited outside the lock (module docstring)
            return self.fleet.wake(ips, wait_ramp=False)
        return self.fleet.read_all(ips)

    async def call(self, command: FleetCommand, ips: list[str]) -> Any:
        """A fleet command with an overall deadline: a driver that never answers must not
        stall the runtime (every miner it covered then counts as unreachable this time)."""
        try:
            return await asyncio.wait_for(self._op(command, ips), self.budget_s)
        except TimeoutError:
            log.warning("fleet %s to %d miners: no result within %.1f s", command, len(ips),
                        self.budget_s)
            return _Result([_Outcome(ip) for ip in ips], self.budget_s)  # all timed out

    def intend_sleep(self, ips: Iterable[str]) -> None:
        """Record the intent to sleep ``ips`` before sending it: no read-back may wake them,
        and no pending wake verification may resend them a wake."""
        ips = list(ips)
        with self.table.updating(ips):
            for ip in ips:
                self.devices[ip].want_run = False
                self.ramping.pop(ip, None)

    async def send(self, to_sleep: list[str], to_wake: list[str], group: str | None,
                   now_s: float) -> list[CommandRecord]:
        """Fan out (returns without waiting any wake ramp), with the records of verifications
        that ended since the last call first."""
        async with self.lock:
            records, self.late_records = self.late_records, []
            return records + await self.send_locked(to_sleep, to_wake, group, now_s)

    async def send_locked(self, to_sleep: list[str], to_wake: list[str], group: str | None,
                          now_s: float, attempt: int = 1) -> list[CommandRecord]:
        """Record the intent first (so a concurrent reader never undoes it), then fan out.
        ``attempt``: the how-many-th wake this is for ``to_wake`` (a verification resends)."""
        self.intend_sleep(to_sleep)
        with self.table.updating(to_wake):
            for ip in to_wake:
                self.devices[ip].want_run = True
                self.ramping.pop(ip, None)
        jobs = []
        if to_sleep:
            jobs.append(("sleep", self.call("sleep", to_sleep)))
        if to_wake:
            jobs.append(("wake", self.call("wake", to_wake)))
        results = await asyncio.gather(*(j for _, j in jobs))
        records: list[CommandRecord] = []
        for (cmd, _), res in zip(jobs, results, strict=True):
            if cmd == "wake":
                self._apply_wake(res.outcomes, attempt)
            else:
                self.apply(res.outcomes, want_run=False)
            records.append(self.record(now_s, group, cmd, res))
        return records

    def _apply_wake(self, outcomes: list, attempt: int) -> None:
        """Book a wake's outcomes; ``ramping`` miners stay commandable (a shed may sleep them)
        and get a verification after the ramp."""
        ramping = [o.ip for o in outcomes if o.status == "ramping"]
        self.apply([o for o in outcomes if o.status != "ramping"], want_run=True)
        with self.table.updating(ramping):
            for ip in ramping:
                d = self.devices[ip]
                d.want_run, d.status, d.asleep = True, "ok", None  # awake or not: not known yet
        if ramping:
            token = object()
            for ip in ramping:
                self.ramping[ip] = token
            task = asyncio.get_running_loop().create_task(
                self._verify_after_ramp(ramping, token, attempt), name="wake-verification")
            self._verifiers.add(task)
            task.add_done_callback(self._verifiers.discard)

    async def _verify_after_ramp(self, ips: list[str], token: object, attempt: int) -> None:
        """Wait the wake ramp (no lock held), then judge the miners still ours by power."""
        try:
            await self.wait(WAKE_RAMP_S)
            async with self.lock:
                mine = [ip for ip in ips if self.ramping.get(ip) is token]
                if not mine:
                    return  # all superseded by a later command
                t0 = time.perf_counter()
                res = await self.call("read_all", mine)
                must_sleep = self.forced()
                verdicts, again = [], []
                with self.table.updating(mine):
                    for o in res.outcomes:
                        if self.ramping.get(o.ip) is not token:
                            continue  # slept meanwhile (relay, fail-safe): never wake it again
                        del self.ramping[o.ip]
                        d = self.devices[o.ip]
                        if not o.compliant or o.reading is None:
                            d.status = o.status
                            verdicts.append(_Outcome(o.ip, o.status))
                            continue
                        d.asleep = bool(o.reading.asleep)
                        if not d.asleep:
                            d.status = "ok"
                        elif d.group in must_sleep:  # asleep as it must be now: keep it so
                            d.want_run, d.status = False, "ok"
                        elif attempt < 2:
                            again.append(o.ip)
                        else:
                            d.status = "ignored"
                        verdict = "superseded" if d.want_run is False else d.status
                        verdicts.append(_Outcome(o.ip, "ignored" if o.ip in again else verdict,
                                                 o.reading))
                now_s = self.clock()
                self.late_records.append(self.record(
                    now_s, None, "wake", _Result(verdicts, time.perf_counter() - t0)))
                if again:
                    self.late_records += await self.send_locked([], again, None, now_s,
                                                                attempt + 1)
        except Exception as e:  # the miners count as running until a read-back sorts them
            log.warning("wake verification of %d miners failed: %r", len(ips), e)
        finally:
            with self.table.updating(ips):
                for ip in ips:
                    if self.ramping.get(ip) is token:
                        del self.ramping[ip]
                        self.devices[ip].status = "unknown"

    async def settle(self) -> None:
        """Wait until no wake verification is pending (tests; verifications may chain)."""
        while self._verifiers:
            await asyncio.wait(set(self._verifiers))

    async def close(self) -> None:
        """Cancel pending wake verifications (shutdown); their miners stay unverified."""
        await cancel_and_wait(list(self._verifiers))
        self.ramping.clear()

    async def read(self, resend: bool, forced: Callable[[], set[int]], now_s: float) -> None:
        """Read every miner; recover or mark; optionally re-send the wanted state to those
        that disagree. Holds the lock so a read never races a tick's commands."""
        if not self.devices:
            return
        async with self.lock:
            ips = [ip for ip in self.devices if ip not in self.ramping]  # theirs to verify
            if not ips:
                return
            res = await self.call("read_all", ips)
            must_sleep = forced()
            disagree_sleep, disagree_wake = [], []
            with self.table.updating(ips):
                for o in res.outcomes:
                    d = self.devices[o.ip]
                    if o.ip in self.ramping:  # woken while we read: its verification judges it
                        continue
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
        self.intend_sleep(ips)  # intent first: no read-back or verification may wake them
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
class _Outcome:
    """One miner's verdict where no driver outcome stands for it."""

    ip: str
    status: str = "timeout"
    reading: Any = None

    @property
    def compliant(self) -> bool:
        return self.status == "ok"


class _Result:
    """A fleet result put together here (a verification's verdicts, a missed deadline)."""

    def __init__(self, outcomes: list[_Outcome], elapsed_s: float) -> None:
        self.outcomes = outcomes
        self.elapsed_s = elapsed_s
        self.counts = dict(Counter(o.status for o in outcomes))

