"""Battery inverter driver: SunSpec models 124 (command) and 802 (state) over Modbus TCP with
pymodbus' async client.

On connect the driver checks the ``SunS`` marker at the base address, walks the model chain to
find models 124 and 802 (it never assumes their addresses), reads the scale factors and the
nameplate, and writes the command's revert time (``InOutWRte_RvrtTms``): if Ballast stops
writing, the inverter drops the command and idles. The map and the setpoint encoding are in
:mod:`ballast.live.emulators.battery_map`.

``read()`` returns the state of charge and the power (discharge positive); it refuses, with a
``BatteryError`` naming the reason, a bank in state FAULT, a point marked not implemented, a
state of charge outside 0-100 %, and a heartbeat (model 802 ``Hb``) that has not moved for
``stale_s`` (a frozen device). ``set_power_mw`` writes the window and reads it back: a
device that acknowledges and does not hold the value raises ``BatterySetpointNotApplied``.
Any failure drops the connection; the next call reconnects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from ballast.live.emulators.battery_map import (
    BASE_ADDRESS,
    BATTERY,
    DEVICE_ID,
    END_ID,
    MODEL_124_LENGTH,
    MODEL_802_LENGTH,
    NOT_IMPLEMENTED_INT16,
    NOT_IMPLEMENTED_UINT16,
    STATE_FAULT,
    STORAGE,
    STORCTL_CHARGE,
    STORCTL_DISCHARGE,
    SUNS_MARKER,
)
from ballast.physics import W_PER_MW

MAX_MODELS = 50  # a chain longer than this is not a SunSpec device (guards a corrupt chain)


@dataclass(frozen=True)
class BatteryReading:
    """One read of the battery; power discharge positive."""

    soc_mwh: float
    soc_share: float
    power_mw: float
    state: int  # model 802 State
    heartbeat: int
    read_at: datetime  # UTC


class BatteryError(Exception):
    """The battery could not be read or commanded, or its reading is not usable."""


class BatteryStale(BatteryError):
    """The battery answers, but its heartbeat has stopped: the values are frozen."""


class BatterySetpointNotApplied(BatteryError):
    """The battery acknowledged a setpoint and read back something else."""


def _s16(v: int) -> int:
    return v - 0x10000 if v >= 0x8000 else v


def _scaled(raw: int, sf: int, name: str, signed: bool = False) -> float:
    if sf == NOT_IMPLEMENTED_INT16:
        raise BatteryError(f"{name}: scale factor not implemented")
    if (signed and raw == 0x8000) or (not signed and raw == NOT_IMPLEMENTED_UINT16):
        raise BatteryError(f"{name}: not implemented by the device")
    return (_s16(raw) if signed else raw) * 10.0**sf


class ModbusBattery:
    """Async SunSpec battery client; ``connect`` first or use as an async context manager."""

    def __init__(
        self,
        host: str,
        port: int = 502,
        *,
        device_id: int = DEVICE_ID,
        timeout_s: float = 0.5,
        revert_s: int = 10,
        stale_s: float = 5.0,
        base_address: int = BASE_ADDRESS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < revert_s <= 0xFFFF:
            raise ValueError(f"revert_s must be 1..65535, got {revert_s}")
        self.host, self.port, self.device_id = host, port, device_id
        self.timeout_s, self.revert_s, self.stale_s = timeout_s, int(revert_s), stale_s
        self.base_address, self.monotonic = base_address, monotonic
        self.m124: int | None = None  # address of model 124's ID register
        self.m802: int | None = None
        self.energy_mwh = self.power_max_mw = self.wchamax_mw = float("nan")
        self._rate_sf = 0
        self._hb: tuple[int, float] | None = None  # last heartbeat and when it last moved
        self._client: AsyncModbusTcpClient | None = None

    @property
    def where(self) -> str:
        return f"battery {self.host}:{self.port}"

    async def __aenter__(self) -> ModbusBattery:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _read(self, address: int, count: int) -> list[int]:
        assert self._client is not None
        try:
            rr = await self._client.read_holding_registers(address, count=count, device_id=self.device_id)
        except ModbusException as e:
            raise BatteryError(f"{self.where}: {e}") from e
        if rr.isError():
            raise BatteryError(f"{self.where} answered an error reading {address}: {rr}")
        return list(rr.registers)

    async def _write(self, address: int, values: list[int]) -> None:
        assert self._client is not None
        try:
            rr = await self._client.write_registers(
                address, [v & 0xFFFF for v in values], device_id=self.device_id
            )
        except ModbusException as e:
            raise BatteryError(f"{self.where}: {e}") from e
        if rr.isError():
            raise BatteryError(f"{self.where} refused a write at {address}: {rr}")

    async def connect(self) -> None:
        """Connect, find models 124 and 802, read their scale factors and the nameplate, and
        write the command's revert time."""
        self.close()
        self._client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0)
        if not await self._client.connect():
            self.close()
            raise BatteryError(f"cannot connect to {self.where}")
        try:
            await self._discover()
        except BaseException:
            self.close()
            raise

    async def _discover(self) -> None:
        if tuple(await self._read(self.base_address, 2)) != SUNS_MARKER:
            raise BatteryError(f"{self.where}: no SunSpec marker 'SunS' at {self.base_address}")
        addr, found = self.base_address + 2, {}
        for _ in range(MAX_MODELS):
            mid, length = await self._read(addr, 2)
            if mid == END_ID:
                break
            found[mid] = (addr, length)
            addr += 2 + length
        missing = [m for m in (124, 802) if m not in found]
        if missing:
            raise BatteryError(
                f"{self.where}: SunSpec model(s) {missing} not found (models: {sorted(found)})"
            )
        for mid, need in ((124, MODEL_124_LENGTH), (802, MODEL_802_LENGTH)):
            if found[mid][1] < need:
                raise BatteryError(f"{self.where}: model {mid} has length {found[mid][1]}, need {need}")
        self.m124, self.m802 = found[124][0], found[802][0]
        s = await self._read(self.m124, 2 + MODEL_124_LENGTH)
        b = await self._read(self.m802, 2 + MODEL_802_LENGTH)
        w_sf = _s16(b[BATTERY["WChaDisChaMax_SF"].offset])
        self.energy_mwh = (
            _scaled(b[BATTERY["WHRtg"].offset], _s16(b[BATTERY["WHRtg_SF"].offset]), "WHRtg") / W_PER_MW
        )
        self.power_max_mw = (
            min(
                _scaled(b[BATTERY["WChaRteMax"].offset], w_sf, "WChaRteMax"),
                _scaled(b[BATTERY["WDisChaRteMax"].offset], w_sf, "WDisChaRteMax"),
            )
            / W_PER_MW
        )
        self.wchamax_mw = (
            _scaled(s[STORAGE["WChaMax"].offset], _s16(s[STORAGE["WChaMax_SF"].offset]), "WChaMax") / W_PER_MW
        )
        self._rate_sf = _s16(s[STORAGE["InOutWRte_SF"].offset])
        if self._rate_sf == NOT_IMPLEMENTED_INT16 or not self.wchamax_mw > 0:
            raise BatteryError(f"{self.where}: model 124 rates (InOutWRte_SF, WChaMax) unusable")
        await self._write(self.m124 + STORAGE["InOutWRte_RvrtTms"].offset, [self.revert_s])

    async def _ensure(self) -> None:
        if self._client is None or not self._client.connected or self.m802 is None:
            await self.connect()

    async def read(self) -> BatteryReading:
        """State of charge and power now (see the module docstring for what is refused)."""
        await self._ensure()
        try:
            assert self.m802 is not None
            b = await self._read(self.m802, 2 + MODEL_802_LENGTH)
            return self._reading(b)
        except BatteryStale:
            raise  # the device answers: keep the connection
        except BaseException:
            self.close()
            raise

    def _reading(self, b: list[int]) -> BatteryReading:
        state = b[BATTERY["State"].offset]
        if state == STATE_FAULT:
            raise BatteryError(f"{self.where}: battery bank in state FAULT")
        soc_pct = _scaled(b[BATTERY["SoC"].offset], _s16(b[BATTERY["SoC_SF"].offset]), "SoC")
        if not 0.0 <= soc_pct <= 100.0:
            raise BatteryError(f"{self.where}: SoC {soc_pct:g} % is outside 0-100 %")
        power_w = _scaled(b[BATTERY["W"].offset], _s16(b[BATTERY["W_SF"].offset]), "W", signed=True)
        hb, now = b[BATTERY["Hb"].offset], self.monotonic()
        if self._hb is None or hb != self._hb[0]:
            self._hb = (hb, now)
        elif now - self._hb[1] > self.stale_s:
            raise BatteryStale(
                f"{self.where}: heartbeat Hb stuck at {hb} for "
                f"{now - self._hb[1]:.1f} s (> {self.stale_s:g} s): frozen"
            )
        return BatteryReading(
            soc_mwh=soc_pct / 100.0 * self.energy_mwh,
            soc_share=soc_pct / 100.0,
            power_mw=power_w / W_PER_MW,
            state=state,
            heartbeat=hb,
            read_at=datetime.now(UTC),
        )

    def setpoint_raw(self, power_mw: float) -> int:
        """``OutWRte`` for ``power_mw`` (``InWRte`` is its negative), in the device's units."""
        pct = power_mw / self.wchamax_mw * 100.0
        return round(pct / 10.0**self._rate_sf)

    async def set_power_mw(self, power_mw: float) -> float:
        """Command ``power_mw`` [MW, discharge positive] and verify it by reading model 124
        back; returns the power the written registers stand for [MW]."""
        await self._ensure()
        try:
            assert self.m124 is not None
            if not abs(power_mw) <= self.power_max_mw * (1 + 1e-9):  # NaN too
                raise BatteryError(
                    f"{self.where}: setpoint {power_mw:g} MW is not within the "
                    f"nameplate +-{self.power_max_mw:g} MW"
                )
            raw = self.setpoint_raw(power_mw)
            mode = STORCTL_CHARGE | STORCTL_DISCHARGE
            out_at = self.m124 + STORAGE["OutWRte"].offset  # OutWRte, InWRte: adjacent
            await self._write(out_at, [raw, -raw])
            await self._write(self.m124 + STORAGE["StorCtl_Mod"].offset, [mode])
            s = await self._read(self.m124, 2 + MODEL_124_LENGTH)
            got = (
                s[STORAGE["StorCtl_Mod"].offset],
                _s16(s[STORAGE["OutWRte"].offset]),
                _s16(s[STORAGE["InWRte"].offset]),
            )
            if got != (mode, raw, -raw):
                raise BatterySetpointNotApplied(
                    f"{self.where}: wrote StorCtl_Mod/OutWRte/InWRte {(mode, raw, -raw)}, read back {got}"
                )
            return raw * 10.0**self._rate_sf / 100.0 * self.wchamax_mw
        except BaseException:
            self.close()
            raise
