"""Fan a command out to thousands of LuxOS miners and verify each one by reading it back.

Per miner: send the command (up to ``retries`` extra attempts on timeout/refusal/error, the
session renewed when a privileged command is refused), then read back ``config+power+summary``.
If the read-back disagrees (the miner acknowledged but did nothing), the command is sent once
more and read back again; a miner still disagreeing is ``ignored``. Every miner gets one
:class:`MinerOutcome`; anything but ``ok`` is non-compliant and the controller makes up the
difference with other miners.

Sessions idle out after ~60 s on LuxOS: a live runtime calls :meth:`FleetCommander.
refresh_sessions` every ~30 s so that curtails take the one-round-trip fast path; a miner
whose session died anyway is renewed on the slow path.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from ballast.live.drivers.base import (
    MinerApiError,
    MinerIgnored,
    MinerReading,
    MinerRefused,
    MinerTimeout,
)
from ballast.live.drivers.fastpath import RequestPump, run_chains
from ballast.live.drivers.luxos import READBACK_COMMAND, LuxosMiner, parse_readback
from ballast.live.drivers.luxos_client import (
    DEFAULT_TIMEOUT_S,
    LUXOS_PORT,
    decode_reply,
    encode_request,
)

OutcomeStatus = Literal["ok", "timeout", "refused", "ignored", "error"]


@dataclass(frozen=True)
class MinerOutcome:
    """What one miner did with one fleet command."""

    ip: str
    status: OutcomeStatus
    latency_s: float  # from this miner's first send (either path) to its outcome [s]
    done_after_s: float  # from the fleet signal to this outcome [s]
    attempts: int
    reading: MinerReading | None = None
    detail: str = ""
    acked_after_s: float | None = None  # from the signal to the command's acknowledgement [s]

    @property
    def compliant(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class FleetResult:
    """Outcomes of one fan-out, in input order."""

    command: str
    outcomes: list[MinerOutcome]
    elapsed_s: float  # signal to last outcome [s]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def non_compliant(self) -> list[MinerOutcome]:
        return [o for o in self.outcomes if not o.compliant]

    @property
    def all_ok(self) -> bool:
        return not self.non_compliant


Action = Callable[[LuxosMiner], Awaitable[object]]
Check = Callable[[MinerReading], bool]


class FleetCommander:
    """Concurrent, bounded, verified commands to many LuxOS miners."""

    def __init__(
        self,
        ips: Iterable[str],
        *,
        concurrency: int = 1000,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = 1,
        port: int = LUXOS_PORT,
        fast_path: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.concurrency = concurrency
        self.retries = retries
        self.timeout_s = timeout_s
        self.port = port
        self.fast_path = fast_path
        self.miners: dict[str, LuxosMiner] = {
            ip: LuxosMiner(ip, port=port, timeout_s=timeout_s) for ip in ips
        }
        if not self.miners:
            raise ValueError("a fleet needs at least one miner address")

    def _select(self, ips: Iterable[str] | None) -> list[LuxosMiner]:
        if ips is None:
            return list(self.miners.values())
        out = []
        for ip in ips:
            if ip not in self.miners:
                raise KeyError(f"{ip!r} is not in this fleet")
            out.append(self.miners[ip])
        return out

    # ------------------------------------------------------------- commands
    async def sleep(self, ips: Iterable[str] | None = None) -> FleetResult:
        """Curtail (LuxOS sleep) and verify ``CurtailMode`` reads back as asleep."""
        return await self.run(
            "sleep", lambda m: m.sleep(), lambda r: r.asleep, ips, fast=("curtail", "sleep")
        )

    async def wake(self, ips: Iterable[str] | None = None) -> FleetResult:
        """Wake and verify the miner no longer reads as asleep."""
        return await self.run(
            "wake", lambda m: m.wake(), lambda r: not r.asleep, ips, fast=("curtail", "wakeup")
        )

    async def set_profile(self, name: str, ips: Iterable[str] | None = None) -> FleetResult:
        """Set a profile by name and verify ``CONFIG.Profile``."""
        return await self.run(
            f"profile {name}", lambda m: m.set_profile(name), lambda r: r.profile == name, ips
        )

    async def set_power_target(self, power_w: float, ips: Iterable[str] | None = None) -> FleetResult:
        """Per miner: the highest profile at or below ``power_w`` [W]; verified by profile."""
        chosen: dict[str, str] = {}

        async def act(m: LuxosMiner) -> None:
            chosen[m.ip] = await m.set_power_target(power_w)

        return await self.run(
            f"power_target {power_w:.0f} W", act, lambda r: r.profile == chosen.get(r.ip), ips
        )

    async def refresh_sessions(self, ips: Iterable[str] | None = None) -> FleetResult:
        """Adopt or open a session on each miner ahead of a command (saves a round trip)."""
        return await self.run("session", lambda m: m.renew_session(), None, ips)

    async def read_all(self, ips: Iterable[str] | None = None) -> FleetResult:
        """Read every miner; outcomes carry the readings."""
        return await self.run("read", None, lambda r: True, ips)

    # ----------------------------------------------------------------- engine
    async def run(
        self,
        name: str,
        action: Action | None,
        check: Check | None,
        ips: Iterable[str] | None = None,
        *,
        fast: tuple[str, str] | None = None,
    ) -> FleetResult:
        """Apply ``action`` then verify with ``check`` on each selected miner, concurrently.

        ``fast`` = (privileged command, argument) sends every miner through the callback fast
        path first (held session, else ``session``/``logon`` in the chain, then the command
        and the read-back); any miner it cannot verify falls back to ``action``.
        """
        miners = self._select(ips)
        sem = asyncio.Semaphore(self.concurrency)
        t0 = time.perf_counter()
        done: dict[str, MinerOutcome] = {}
        first_send_s: dict[str, float] = {}
        if fast is not None and check is not None and self.fast_path:
            done, first_send_s = await self._fast(miners, fast, check, t0)
            miners_left = [m for m in miners if m.ip not in done]
        else:
            miners_left = miners

        async def one(m: LuxosMiner) -> MinerOutcome:
            async with sem:
                return await self._one(m, action, check, t0, first_send_s.get(m.ip))

        if len(miners_left) <= self.concurrency:  # no queueing: skip the semaphore
            slow = await asyncio.gather(
                *(self._one(m, action, check, t0, first_send_s.get(m.ip)) for m in miners_left)
            )
        else:
            slow = await asyncio.gather(*(one(m) for m in miners_left))
        done.update((o.ip, o) for o in slow)
        outcomes = [done[m.ip] for m in miners]
        elapsed = time.perf_counter() - t0
        counts = dict(Counter(o.status for o in outcomes))
        return FleetResult(name, list(outcomes), elapsed, counts)

    async def _fast(
        self, miners: list[LuxosMiner], fast: tuple[str, str], check: Check, t0: float
    ) -> tuple[dict[str, MinerOutcome], dict[str, float]]:
        """Callback path: command + read-back per miner. Returns the verified outcomes and
        each miner's first send time (perf_counter), so fallbacks keep their true latency."""
        pump = RequestPump(self.concurrency, self.timeout_s, self.port)
        readback = encode_request(READBACK_COMMAND)
        session = encode_request("session")
        logon = encode_request("logon")
        command, arg = fast
        verified: dict[str, MinerOutcome] = {}
        acked: dict[str, float] = {}

        def chain(m: LuxosMiner) -> None:
            def after_read(reply: bytes | None, _failure: str) -> None:
                if reply is None:
                    return
                try:
                    reading = parse_readback(m.ip, decode_reply(m.ip, reply))
                except MinerApiError:
                    return
                if check(reading):
                    now = time.perf_counter()
                    latency = now - pump.first_start_s.get(m.ip, t0)
                    verified[m.ip] = MinerOutcome(
                        m.ip, "ok", latency, now - t0, 1, reading, acked_after_s=acked[m.ip]
                    )

            def after_command(reply: bytes | None, _failure: str) -> None:
                if reply is None:
                    return
                try:
                    decode_reply(m.ip, reply)
                except MinerApiError:
                    return  # e.g. expired session: the slow path renews it
                acked[m.ip] = time.perf_counter() - t0
                pump.submit(m.ip, readback, after_read)

            def send_command() -> None:
                pump.submit(m.ip, encode_request(command, f"{m.session_id},{arg}"), after_command)

            def session_id_of(reply: bytes | None) -> str | None:
                if reply is None:
                    return None
                try:
                    return str(decode_reply(m.ip, reply)["SESSION"][0]["SessionID"])
                except (MinerApiError, KeyError, IndexError, TypeError):
                    return None  # e.g. 402 from a logon race: the slow path sorts it out

            def adopt(sid: str) -> None:
                m.session_id = sid
                m.session_renewals += 1
                send_command()

            def after_logon(reply: bytes | None, _failure: str) -> None:
                sid = session_id_of(reply)
                if sid:
                    adopt(sid)

            def after_session(reply: bytes | None, _failure: str) -> None:
                sid = session_id_of(reply)
                if sid:
                    adopt(sid)
                elif sid == "":
                    pump.submit(m.ip, logon, after_logon)

            if m.session_id:
                send_command()
            else:  # adopt the active session, or log on, within the chain
                pump.submit(m.ip, session, after_session)

        await run_chains(pump, (lambda m=m: chain(m) for m in miners))
        return verified, pump.first_start_s

    async def _one(
        self,
        m: LuxosMiner,
        action: Action | None,
        check: Check | None,
        t0: float,
        started_s: float | None = None,
    ) -> MinerOutcome:
        start = time.perf_counter() if started_s is None else started_s
        attempts = 0
        acked_after_s: float | None = None

        def outcome(
            status: OutcomeStatus, reading: MinerReading | None = None, detail: str = ""
        ) -> MinerOutcome:
            now = time.perf_counter()
            return MinerOutcome(m.ip, status, now - start, now - t0, attempts, reading, detail, acked_after_s)

        for round_ in range(2):  # second round only when the read-back disagreed
            last_exc: Exception | None = None
            if action is not None:
                for _ in range(self.retries + 1):
                    attempts += 1
                    try:
                        await action(m)
                        acked_after_s = time.perf_counter() - t0
                        last_exc = None
                        break
                    except MinerIgnored as e:
                        return outcome("ignored", detail=str(e))
                    except (MinerTimeout, MinerRefused, MinerApiError) as e:
                        last_exc = e
                if last_exc is not None:
                    return outcome(_status_of(last_exc), detail=str(last_exc))
            if check is None:
                return outcome("ok")
            try:
                reading = await m.read()
            except (MinerTimeout, MinerRefused, MinerApiError) as e:
                return outcome(_status_of(e), detail=f"read-back: {e}")
            if check(reading):
                return outcome("ok", reading)
            if action is None or round_ == 1:
                return outcome("ignored", reading, "acknowledged but read-back unchanged")
        raise AssertionError("unreachable")  # pragma: no cover


def _status_of(exc: Exception) -> OutcomeStatus:
    if isinstance(exc, MinerTimeout):
        return "timeout"
    if isinstance(exc, MinerRefused):
        return "refused"
    return "error"
