"""Fan a command out to thousands of LuxOS miners and verify each one by reading it back.

Per miner: send the command, then read back ``config+power+summary``. Nothing is sent twice
blindly (docs/firmware.md): a refused command is resent only after :meth:`LuxosMiner.
privileged` fixed its cause (stale session, ATM; fast-path refusals are handed to it); after a
timeout or a lost reply the miner is read back first, and the command sent again (up to
``retries`` times) only if the read-back disagrees. A miner that acknowledged but reads back
unchanged gets the command once more, then is ``ignored``; one that reports no curtail state
is first given the ramp (``ramp_s``: sleep ~5 s, wake ~10 s) and judged by power. A caller
that must not be held by a wake's ramp (the live runtime: a shed may not wait behind it) calls
``wake(ips, wait_ramp=False)``: such a miner then comes back ``ramping`` at once (acknowledged,
read back, no curtail state, not yet awake by power), and the caller verifies it after the
ramp (``live.commands``). Every miner gets one :class:`MinerOutcome`; anything but ``ok`` is
non-compliant and the controller makes up the difference with other miners.

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
    MinerDriverError,
    MinerIgnored,
    MinerReading,
    MinerRefused,
    MinerTimeout,
)
from ballast.live.drivers.capabilities import SLEEP_RAMP_S, WAKE_RAMP_S, require
from ballast.live.drivers.fastpath import RequestPump, run_chains
from ballast.live.drivers.luxos import READBACK_COMMAND, LuxosMiner, parse_readback
from ballast.live.drivers.luxos_client import (
    DEFAULT_TIMEOUT_S,
    LUXOS_PORT,
    decode_reply,
    encode_request,
)

OutcomeStatus = Literal["ok", "timeout", "refused", "ignored", "error", "ramping"]


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
Wait = Callable[[float], Awaitable[object]]


@dataclass
class _Prior:
    """What the fast path left for the slow path on one miner."""

    acked_after_s: float | None = None  # the command was acknowledged (signal -> ack) [s]
    reading: MinerReading | None = None  # its read-back, which did not verify
    unanswered: bool = False  # the command was sent but no reply came: read back first


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
        wait: Wait = asyncio.sleep,
    ) -> None:
        """``wait(seconds)`` waits out a ramp before judging a miner by power (tests inject one
        that moves a fake clock)."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.concurrency = concurrency
        self.retries = retries
        self.timeout_s = timeout_s
        self.port = port
        self.fast_path = fast_path
        self.wait = wait
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
        require(LuxosMiner.FIRMWARE, "sleep_wake")
        return await self.run(
            "sleep",
            lambda m: m.sleep(),
            lambda r: r.asleep,
            ips,
            fast=("curtail", "sleep"),
            ramp_s=SLEEP_RAMP_S,
        )

    async def wake(self, ips: Iterable[str] | None = None, *, wait_ramp: bool = True) -> FleetResult:
        """Wake and verify the miner no longer reads as asleep. ``wait_ramp=False``: a miner
        reporting no curtail state that is not awake yet is ``ramping`` (no wait, no resend)."""
        require(LuxosMiner.FIRMWARE, "sleep_wake")
        return await self.run(
            "wake",
            lambda m: m.wake(),
            lambda r: not r.asleep,
            ips,
            fast=("curtail", "wakeup"),
            ramp_s=WAKE_RAMP_S,
            wait_ramp=wait_ramp,
        )

    async def set_profile(self, name: str, ips: Iterable[str] | None = None) -> FleetResult:
        """Set a profile by name and verify ``CONFIG.Profile``."""
        return await self.run(
            f"profile {name}", lambda m: m.set_profile(name), lambda r: r.profile == name, ips
        )

    async def set_power_target(self, power_w: float, ips: Iterable[str] | None = None) -> FleetResult:
        """Per miner: the highest profile at or below ``power_w`` [W]; verified by profile."""
        require(LuxosMiner.FIRMWARE, "power_target")
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
        ramp_s: float = 0.0,
        wait_ramp: bool = True,
    ) -> FleetResult:
        """Apply ``action`` then verify with ``check`` on each selected miner, concurrently.

        ``fast`` = (privileged command, argument) sends every miner through the callback fast
        path first (held session, else ``session``/``logon`` in the chain, then the command
        and the read-back); any miner it cannot verify falls back to ``action``. ``ramp_s``:
        how long a miner that reports no curtail state gets before it is judged by power;
        ``wait_ramp=False`` hands such a miner back as ``ramping`` instead of waiting.
        """
        miners = self._select(ips)
        sem = asyncio.Semaphore(self.concurrency)
        t0 = time.perf_counter()
        done: dict[str, MinerOutcome] = {}
        first_send_s: dict[str, float] = {}
        priors: dict[str, _Prior] = {}
        if fast is not None and check is not None and self.fast_path:
            done, first_send_s, priors = await self._fast(miners, fast, check, t0)
            miners_left = [m for m in miners if m.ip not in done]
        else:
            miners_left = miners

        def slow_one(m: LuxosMiner) -> Awaitable[MinerOutcome]:
            return self._one(
                m, action, check, t0, first_send_s.get(m.ip), priors.get(m.ip, _Prior()), ramp_s, wait_ramp
            )

        async def one(m: LuxosMiner) -> MinerOutcome:
            async with sem:
                return await slow_one(m)

        if len(miners_left) <= self.concurrency:  # no queueing: skip the semaphore
            slow = await asyncio.gather(*(slow_one(m) for m in miners_left))
        else:
            slow = await asyncio.gather(*(one(m) for m in miners_left))
        done.update((o.ip, o) for o in slow)
        outcomes = [done[m.ip] for m in miners]
        elapsed = time.perf_counter() - t0
        counts = dict(Counter(o.status for o in outcomes))
        return FleetResult(name, list(outcomes), elapsed, counts)

    async def _fast(
        self, miners: list[LuxosMiner], fast: tuple[str, str], check: Check, t0: float
    ) -> tuple[dict[str, MinerOutcome], dict[str, float], dict[str, _Prior]]:
        """Callback path: command + read-back per miner. Returns the verified outcomes, each
        miner's first send time (perf_counter), so fallbacks keep their true latency, and what
        the slow path must know of the others (acknowledged? read back? unanswered?)."""
        pump = RequestPump(self.concurrency, self.timeout_s, self.port)
        readback = encode_request(READBACK_COMMAND)
        session = encode_request("session")
        logon = encode_request("logon")
        command, arg = fast
        verified: dict[str, MinerOutcome] = {}
        acked: dict[str, float] = {}
        priors: dict[str, _Prior] = {}

        def chain(m: LuxosMiner) -> None:
            def after_read(reply: bytes | None, _failure: str) -> None:
                try:  # a failed read-back: acknowledged all the same, read again, do not resend
                    if reply is None:
                        raise MinerApiError("no read-back")
                    reading = parse_readback(m.ip, decode_reply(m.ip, reply))
                except MinerApiError:
                    priors[m.ip] = _Prior(acked_after_s=acked[m.ip])
                    return
                if check(reading):
                    now = time.perf_counter()
                    latency = now - pump.first_start_s.get(m.ip, t0)
                    verified[m.ip] = MinerOutcome(
                        m.ip, "ok", latency, now - t0, 1, reading, acked_after_s=acked[m.ip]
                    )
                else:  # ignored, or still ramping: the slow path decides, without a resend
                    priors[m.ip] = _Prior(acked_after_s=acked[m.ip], reading=reading)

            def after_command(reply: bytes | None, _failure: str) -> None:
                if reply is None:
                    priors[m.ip] = _Prior(unanswered=True)
                    return
                try:
                    decode_reply(m.ip, reply)
                except MinerApiError as e:
                    m.note_refusal(command, arg, e)  # the slow path fixes the cause first
                    return
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
        return verified, pump.first_start_s, priors

    async def _one(
        self,
        m: LuxosMiner,
        action: Action | None,
        check: Check | None,
        t0: float,
        started_s: float | None = None,
        prior: _Prior | None = None,
        ramp_s: float = 0.0,
        wait_ramp: bool = True,
    ) -> MinerOutcome:
        start = time.perf_counter() if started_s is None else started_s
        prior = prior or _Prior()
        acked_after_s = prior.acked_after_s
        attempts = 1 if (acked_after_s is not None or prior.unanswered) else 0
        reading = prior.reading

        def outcome(status: OutcomeStatus, got: MinerReading | None = None, detail: str = "") -> MinerOutcome:
            now = time.perf_counter()
            return MinerOutcome(m.ip, status, now - start, now - t0, attempts, got, detail, acked_after_s)

        if prior.unanswered and check is not None:  # it may have acted: look before resending
            if seen := await self._already(m, check):
                return outcome("ok", seen)
        for round_ in range(2):  # second round only when the read-back disagreed
            if action is not None and not (round_ == 0 and acked_after_s is not None):
                for retry in range(self.retries + 1):
                    attempts += 1
                    try:
                        await action(m)
                        acked_after_s = time.perf_counter() - t0
                        break
                    except MinerIgnored as e:
                        return outcome("ignored", detail=str(e))
                    except MinerApiError as e:  # its cause could not be fixed: do not resend
                        return outcome("error", detail=str(e))
                    except (MinerTimeout, MinerRefused) as e:
                        if retry == self.retries:
                            return outcome(_status_of(e), detail=str(e))
                        if check is not None and (seen := await self._already(m, check)):
                            return outcome("ok", seen)  # it acted: read back before resending
                reading = None
            if check is None:
                return outcome("ok")
            try:
                reading = await self._verify(m, check, ramp_s if wait_ramp else 0.0, reading)
            except (MinerTimeout, MinerRefused, MinerApiError) as e:
                return outcome(_status_of(e), detail=f"read-back: {e}")
            if check(reading):
                return outcome("ok", reading)
            if not wait_ramp and ramp_s > 0 and not reading.curtail_state_reported:
                return outcome("ramping", reading, f"no curtail state: judge by power after {ramp_s:g} s")
            if action is None or round_ == 1:
                return outcome("ignored", reading, _unchanged(reading, ramp_s))
            reading = None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _already(self, m: LuxosMiner, check: Check) -> MinerReading | None:
        """A read-back that already passes ``check`` (the command acted, its reply was lost)."""
        try:
            seen = await m.read()
        except MinerDriverError:
            return None
        return seen if check(seen) else None

    async def _verify(
        self, m: LuxosMiner, check: Check, ramp_s: float, reading: MinerReading | None
    ) -> MinerReading:
        """A read-back for ``check``: ``reading`` (already read) or a new one; where the miner
        reports no curtail state and does not verify yet, wait ``ramp_s`` and read again."""
        if reading is None:
            reading = await m.read()
        if check(reading) or reading.curtail_state_reported or ramp_s <= 0:
            return reading
        await self.wait(ramp_s)
        return await m.read()


def _unchanged(reading: MinerReading, ramp_s: float) -> str:
    if reading.curtail_state_reported or ramp_s <= 0:
        return "acknowledged but read-back unchanged"
    return f"acknowledged but power {reading.power_w:.0f} W after the {ramp_s:g} s ramp"


def _status_of(exc: Exception) -> OutcomeStatus:
    if isinstance(exc, MinerTimeout):
        return "timeout"
    if isinstance(exc, MinerRefused):
        return "refused"
    return "error"
