"""LuxOS miner driver over the direct client: read, sleep, wake, profile, power target.

Session handling follows the LuxOS client pitfalls
(docs/sources.md#luxos-api): the session id is cached and used. A refused privileged command
is never sent again blindly: the driver first finds out why and sends it once more only after
fixing that cause (each cause at most once):

- an expired or foreign session: ``session`` is re-read; if our id is no longer the active one
  the driver adopts the active session or logs on (LuxOS allows one at a time; a ``logon`` that
  races another client gets 402 and falls back to adopting);
- ATM (Advanced Thermal Management) in the way: recognised by the refusal's message, or, when
  the session is fine and the message names no cause, by re-reading ``atm``. The driver sends
  ``atmset enabled=false``, re-reads ``atm`` to verify, and only then resends. Nothing is
  cached, so a miner that re-enables ATM later is handled again. No status code is assumed:
  Luxor documents none for this refusal (docs/firmware.md).

Anything else (the session is ours and ATM is off) is raised without a resend.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from ballast.live.drivers.base import MinerApiError, MinerIgnored, MinerReading
from ballast.live.drivers.capabilities import ASLEEP_MAX_W, Firmware, require
from ballast.live.drivers.luxos_client import DEFAULT_TIMEOUT_S, LUXOS_PORT, request

READBACK_COMMAND = "config+power+summary"
# A refusal that names ATM: "ATM", or the long name used by LuxOS's own atmset reply
# ("Advanced Thermal Management configuration updated", docs.luxor.tech atmset).
ATM_REFUSAL = re.compile(r"\bATM\b|thermal management", re.IGNORECASE)

Cause = Literal["session", "atm"]


def names_atm(exc: MinerApiError) -> bool:
    """Whether a refusal's message says ATM is the reason."""
    return bool(ATM_REFUSAL.search(str(exc)))


def parse_readback(ip: str, reply: dict[str, Any]) -> MinerReading:
    """Turn a ``config+power+summary`` reply into a MinerReading."""
    try:
        config = reply["config"][0]["CONFIG"][0]
        power_w = float(reply["power"][0]["POWER"][0]["Watts"])
        ghs = float(reply["summary"][0]["SUMMARY"][0]["GHS 5s"])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise MinerApiError(f"{ip}: read-back lacks a field: {e!r}") from None
    # LuxOS reports CurtailMode "None" while mining; any other mode counts as curtailed.
    mode = str(config.get("CurtailMode", "") or "").strip().lower()
    if mode:
        asleep, reported = mode != "none", True
    elif "IsPowerSupplyOn" in config:
        asleep, reported = not config["IsPowerSupplyOn"], True
    else:  # no curtail state: infer from power (final only once the ramp is over)
        asleep, reported = power_w <= ASLEEP_MAX_W, False
    return MinerReading(
        ip=ip,
        power_w=power_w,
        hashrate_th_s=ghs / 1000.0,
        asleep=asleep,
        profile=str(config.get("Profile", "")),
        read_at=datetime.now(UTC),
        curtail_state_reported=reported,
    )


def _session_id(reply: dict[str, Any]) -> str:
    return str(reply.get("SESSION", [{}])[0].get("SessionID", ""))


class LuxosMiner:
    """One LuxOS miner: read, sleep, wake, profile and power target (docs/firmware.md)."""

    FIRMWARE: Firmware = "luxos"

    def __init__(self, ip: str, *, port: int = LUXOS_PORT, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.ip = ip
        self.port = port
        self.timeout_s = timeout_s
        self.session_id: str | None = None
        self.session_renewals = 0
        self._profiles_w: dict[str, float] | None = None
        self._refusals: dict[tuple[str, str], MinerApiError] = {}
        self.atm_disables = 0  # how often this driver switched ATM off

    def __repr__(self) -> str:
        return f"LuxosMiner({self.ip!r})"

    async def _req(self, command: str, parameter: str | None = None) -> dict[str, Any]:
        return await request(self.ip, command, parameter, port=self.port, timeout_s=self.timeout_s)

    # ---------------------------------------------------------------- session
    async def renew_session(self, session_reply: dict[str, Any] | None = None) -> str:
        """Adopt the active session or log on; return its id. ``session_reply``: a ``session``
        reply just read (saves the round trip)."""
        self.session_renewals += 1
        sid = _session_id(session_reply if session_reply is not None else await self._req("session"))
        if not sid:
            try:
                reply = await self._req("logon")
                sid = str(reply["SESSION"][0]["SessionID"])
            except MinerApiError as e:
                if e.code != 402:
                    raise
                sid = _session_id(await self._req("session"))  # someone else logged on meanwhile
        if not sid:
            raise MinerApiError(f"{self.ip}: could not obtain a session")
        self.session_id = sid
        return sid

    def note_refusal(self, command: str, args: str, exc: MinerApiError) -> None:
        """Record that ``command args`` was just refused (by the fleet's fast path), so the
        next :meth:`privileged` call fixes the cause before sending it again."""
        self._refusals[(command, args)] = exc

    async def privileged(self, command: str, args: str) -> dict[str, Any]:
        """Run a privileged command; on a refusal fix its cause and resend, once per cause."""
        if self.session_id is None:
            await self.renew_session()
        refusal = self._refusals.pop((command, args), None)
        fixed: set[Cause] = set()
        while True:
            if refusal is None:
                try:
                    return await self._req(command, f"{self.session_id},{args}")
                except MinerApiError as e:
                    refusal = e
            cause = await self._fix(refusal, fixed)
            fixed.add(cause)
            refusal = None

    async def _fix(self, refusal: MinerApiError, fixed: set[Cause]) -> Cause:
        """Find and remove the cause of ``refusal``; re-raise it when there is none to fix."""
        if names_atm(refusal) and "atm" not in fixed:
            await self.disable_atm()
            return "atm"
        if "session" not in fixed:
            reply = await self._req("session")
            if _session_id(reply) != self.session_id:  # expired, or another client's
                await self.renew_session(reply)
                return "session"
        if "atm" not in fixed and await self.atm_enabled():
            await self.disable_atm()
            return "atm"
        raise refusal

    async def atm_enabled(self) -> bool:
        """``ATM[0].Enabled`` from the ``atm`` command (docs.luxor.tech atm)."""
        reply = await self._req("atm")
        try:
            return bool(reply["ATM"][0]["Enabled"])
        except (KeyError, IndexError, TypeError):
            raise MinerApiError(f"{self.ip}: atm reply lacks ATM[0].Enabled") from None

    async def disable_atm(self) -> None:
        """``atmset enabled=false``, then re-read ``atm``; MinerIgnored if still enabled."""
        await self._req("atmset", f"{self.session_id},enabled=false")
        self.atm_disables += 1
        if await self.atm_enabled():
            raise MinerIgnored(f"{self.ip}: ATM still enabled after atmset enabled=false")

    # ------------------------------------------------------------ capabilities
    async def read(self) -> MinerReading:
        return parse_readback(self.ip, await self._req(READBACK_COMMAND))

    async def sleep(self) -> None:
        await self.privileged("curtail", "sleep")

    async def wake(self) -> None:
        await self.privileged("curtail", "wakeup")

    async def profiles_w(self) -> dict[str, float]:
        """Profile name -> nominal power [W] (cached)."""
        if self._profiles_w is None:
            reply = await self._req("profiles")
            self._profiles_w = {str(p["Profile Name"]): float(p["Watts"]) for p in reply.get("PROFILES", [])}
        return self._profiles_w

    async def set_profile(self, name: str) -> None:
        """``profileset``; ATM in the way is switched off on the refusal (:meth:`privileged`)."""
        require(self.FIRMWARE, "profiles")
        reply = await self.privileged("profileset", name)
        got = reply.get("PROFILE", [{}])[0].get("Profile")
        if got != name:
            raise MinerApiError(f"{self.ip}: profileset answered {got!r}, wanted {name!r}")

    async def profile_for_power(self, power_w: float) -> str:
        """Highest-power profile whose nominal power is <= ``power_w`` (else the lowest)."""
        profiles = await self.profiles_w()
        if not profiles:
            raise MinerApiError(f"{self.ip}: miner lists no profiles")
        fitting = {n: w for n, w in profiles.items() if w <= power_w}
        pool = fitting or {min(profiles, key=profiles.__getitem__): 0.0}
        return max(pool, key=pool.__getitem__)

    async def set_power_target(self, power_w: float) -> str:
        if power_w < 0:
            raise ValueError(f"power_w must be >= 0, got {power_w}")
        name = await self.profile_for_power(power_w)
        await self.set_profile(name)
        return name
