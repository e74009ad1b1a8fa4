"""Miner driver over pyasic, for firmwares the direct LuxOS client does not speak.

pyasic is imported lazily (it is heavy, and deprecated in favour of asic-rs). Before each
privileged command the cached LuxOS session token is dropped so pyasic re-reads or re-opens
the session (pyasic never retries an expired one; docs/sources.md#luxos-api), and the
result is read back rather than trusted. Commands are checked against the firmware's row of the
capability matrix (``drivers.capabilities``, docs/firmware.md) first: asking stock firmware for
a power target raises ``UnsupportedByFirmware`` instead of a silent False from pyasic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ballast.live.drivers.base import MinerApiError, MinerReading, MinerRefused
from ballast.live.drivers.capabilities import Firmware, UnsupportedByFirmware, require

# pyasic's MinerFirmware values (pyasic/device/firmware.py, 0.79) for the matrix's firmwares
PYASIC_FIRMWARES: dict[str, Firmware] = {
    "LuxOS": "luxos",
    "BOS+": "braiins_os",
    "VNish": "vnish",
    "Stock": "stock",
}


def firmware_of(miner: Any) -> Firmware | None:
    """The matrix firmware of a pyasic miner (None for one the matrix does not cover)."""
    return PYASIC_FIRMWARES.get(str(getattr(miner, "firmware", "")))


class PyasicMinerDriver:
    """ReadsMiner + CanSleep + CanWake + CanSetPowerTarget through pyasic."""

    def __init__(self, ip: str) -> None:
        self.ip = ip
        self._miner: Any = None
        self.firmware: Firmware | None = None

    async def miner(self) -> Any:
        """The pyasic miner object (identified on first use)."""
        if self._miner is None:
            import pyasic

            self._miner = await pyasic.get_miner(self.ip)
            if self._miner is None:
                raise MinerRefused(f"{self.ip}: pyasic could not identify a miner")
            self.firmware = firmware_of(self._miner)
        return self._miner

    async def _require(self, capability: str) -> Any:
        """The pyasic miner, once its firmware is known to have ``capability``."""
        m = await self.miner()
        if self.firmware is None:  # readable, but no command without a row in the matrix
            how = f"pyasic firmware {str(getattr(m, 'firmware', ''))!r} is not in the matrix"
            raise UnsupportedByFirmware(str(getattr(m, "firmware", "")), capability, how)
        require(self.firmware, capability)
        return m

    def _reset_session(self, miner: Any) -> None:
        rpc = getattr(miner, "rpc", None)
        if rpc is not None and hasattr(rpc, "session_token"):
            rpc.session_token = None

    async def read(self) -> MinerReading:
        m = await self.miner()
        data = await m.get_data()
        hashrate = float(data.hashrate) if data.hashrate is not None else 0.0
        profile = ""
        # pyasic's is_mining is the firmware's own state for Vnish (miner_state) and stock
        # (work mode); for LuxOS it is a default and for Braiins OS inferred from hashrate
        reported = self.firmware in ("vnish", "stock")
        asleep = not data.is_mining if reported else hashrate == 0.0
        if hasattr(m.rpc, "config"):  # LuxOS: read the active profile and sleep state
            cfg = (await m.rpc.config()).get("CONFIG", [{}])[0]
            profile = str(cfg.get("Profile", ""))
            if "CurtailMode" in cfg:
                asleep = str(cfg["CurtailMode"]).strip().lower() != "none"
                reported = True
        return MinerReading(
            ip=self.ip,
            power_w=float(data.wattage or 0.0),
            hashrate_th_s=hashrate,
            asleep=asleep,
            profile=profile,
            read_at=datetime.now(UTC),
            curtail_state_reported=reported,
        )

    async def sleep(self) -> None:
        m = await self._require("sleep_wake")
        self._reset_session(m)
        if not await m.stop_mining():
            raise MinerApiError(f"{self.ip}: pyasic stop_mining returned False")

    async def wake(self) -> None:
        m = await self._require("sleep_wake")
        self._reset_session(m)
        if not await m.resume_mining():
            raise MinerApiError(f"{self.ip}: pyasic resume_mining returned False")

    async def set_power_target(self, power_w: float) -> str:
        if power_w < 0:
            raise ValueError(f"power_w must be >= 0, got {power_w}")
        m = await self._require("power_target")
        self._reset_session(m)
        if not await m.set_power_limit(round(power_w)):
            raise MinerApiError(f"{self.ip}: pyasic set_power_limit({power_w:.0f}) failed")
        return f"{power_w:.0f} W"
