"""LuxOS miner driver over the direct client: read, sleep, wake, profile, power target.

Session handling follows the LuxOS client pitfalls
(docs/sources.md#luxos-api): the session id is cached and used;
when a privileged command fails (expired/foreign session, STATUS E), the driver re-reads
``session``, adopts the active one or logs on (LuxOS allows one at a time; a ``logon`` that
races another client gets 402 and falls back to adopting), then retries the command once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ballast.live.drivers.base import MinerApiError, MinerIgnored, MinerReading
from ballast.live.drivers.luxos_client import DEFAULT_TIMEOUT_S, LUXOS_PORT, request

READBACK_COMMAND = "config+power+summary"
ATM_ENABLED_CODE = 338  # profileset refused because ATM is on (emulator's code)


def parse_readback(ip: str, reply: dict[str, Any]) -> MinerReading:
    """Turn a ``config+power+summary`` reply into a MinerReading."""
    try:
        config = reply["config"][0]["CONFIG"][0]
        power_w = float(reply["power"][0]["POWER"][0]["Watts"])
        ghs = float(reply["summary"][0]["SUMMARY"][0]["GHS 5s"])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise MinerApiError(f"{ip}: read-back lacks a field: {e!r}") from None
    # LuxOS reports CurtailMode "None" while mining; any other mode counts as curtailed.
    mode = str(config.get("CurtailMode", "")).strip().lower()
    if mode:
        asleep = mode != "none"
    elif "IsPowerSupplyOn" in config:
        asleep = not config["IsPowerSupplyOn"]
    else:
        asleep = ghs == 0.0
    return MinerReading(
        ip=ip,
        power_w=power_w,
        hashrate_th_s=ghs / 1000.0,
        asleep=asleep,
        profile=str(config.get("Profile", "")),
        read_at=datetime.now(UTC),
    )


class LuxosMiner:
    """One LuxOS miner. Implements ReadsMiner, CanSleep, CanWake, CanSetProfile,
    CanSetPowerTarget."""

    def __init__(self, ip: str, *, port: int = LUXOS_PORT, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.ip = ip
        self.port = port
        self.timeout_s = timeout_s
        self.session_id: str | None = None
        self.session_renewals = 0
        self._profiles_w: dict[str, float] | None = None
        self._atm_disabled = False

    def __repr__(self) -> str:
        return f"LuxosMiner({self.ip!r})"

    async def _req(self, command: str, parameter: str | None = None) -> dict[str, Any]:
        return await request(self.ip, command, parameter, port=self.port, timeout_s=self.timeout_s)

    # ---------------------------------------------------------------- session
    async def renew_session(self) -> str:
        """Adopt the active session or log on; return its id."""
        self.session_renewals += 1
        reply = await self._req("session")
        sid = str(reply.get("SESSION", [{}])[0].get("SessionID", ""))
        if not sid:
            try:
                reply = await self._req("logon")
                sid = str(reply["SESSION"][0]["SessionID"])
            except MinerApiError as e:
                if e.code != 402:
                    raise
                reply = await self._req("session")  # someone else logged on meanwhile
                sid = str(reply.get("SESSION", [{}])[0].get("SessionID", ""))
        if not sid:
            raise MinerApiError(f"{self.ip}: could not obtain a session")
        self.session_id = sid
        return sid

    async def privileged(self, command: str, args: str) -> dict[str, Any]:
        """Run a privileged command, renewing the session once if it is refused."""
        if self.session_id is None:
            await self.renew_session()
        try:
            return await self._req(command, f"{self.session_id},{args}")
        except MinerApiError:
            await self.renew_session()
            return await self._req(command, f"{self.session_id},{args}")

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
        if not self._atm_disabled:
            # ATM must be off to change profile (LuxOS); Ballast owns the power setpoint.
            await self.privileged("atmset", "enabled=false")
            self._atm_disabled = True
        try:
            reply = await self.privileged("profileset", name)
        except MinerApiError as e:
            if e.code != ATM_ENABLED_CODE:
                raise
            self._atm_disabled = False  # our atmset was acknowledged but not applied
            raise MinerIgnored(f"{self.ip}: ATM still enabled after atmset enabled=false") from e
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
