"""Site meter driver: reads the Modbus TCP register map with pymodbus' async client.

The map (float32, big-endian words, fc 3 or 4, unit 1) is the one documented in
:mod:`ballast.live.emulators.meter`; a real revenue meter gets its own map table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from ballast.live.emulators.meter import DEVICE_ID, REGISTER_COUNT, REGISTER_MAP, decode_float32
from ballast.live.sensing import METER_CHANNELS, NonFiniteReading, is_finite


@dataclass(frozen=True)
class MeterReading:
    """One meter read. Signs: import and loads positive, export negative."""

    campus_import_power_mw: float
    ai_feeder_power_mw: float
    miners_feeder_power_mw: float
    renewables_feeder_power_mw: float
    voltage_kv: float
    frequency_hz: float
    read_at: datetime  # UTC


class MeterError(Exception):
    """The meter could not be read."""


class NonFiniteMeterValue(MeterError, NonFiniteReading):
    """The meter answered, but a register holds NaN or an infinity (not a measurement)."""


class ModbusMeter:
    """Async reader of the site meter; use as an async context manager."""

    def __init__(
        self,
        host: str,
        port: int = 502,
        *,
        device_id: int = DEVICE_ID,
        timeout_s: float = 1.0,
        input_registers: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.device_id = device_id
        self.input_registers = input_registers
        self._client = AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=1)

    async def __aenter__(self) -> ModbusMeter:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def connect(self) -> None:
        if not await self._client.connect():
            raise MeterError(f"cannot connect to meter at {self.host}:{self.port}")

    def close(self) -> None:
        self._client.close()

    async def read(self) -> MeterReading:
        """Read every register of the map in one request; a NaN or infinite register raises
        ``NonFiniteMeterValue`` naming it (the reading is refused, never passed on)."""
        read = (
            self._client.read_input_registers if self.input_registers else self._client.read_holding_registers
        )
        try:
            rr = await read(0, count=REGISTER_COUNT, device_id=self.device_id)
        except ModbusException as e:
            raise MeterError(f"meter {self.host}:{self.port}: {e}") from e
        if rr.isError():
            raise MeterError(f"meter {self.host}:{self.port} answered an error: {rr}")
        regs = rr.registers
        values = {r.name: decode_float32(regs[r.address], regs[r.address + 1]) for r in REGISTER_MAP}
        bad = {name: v for name, v in values.items() if not is_finite(v)}
        if bad:
            channel = next(ch for ch, attr in METER_CHANNELS.items() if attr in bad) if any(
                attr in bad for attr in METER_CHANNELS.values()) else None
            raise NonFiniteMeterValue(f"meter {self.host}:{self.port}: non-finite register(s) {bad}",
                                      channel)
        return MeterReading(**values, read_at=datetime.now(UTC))
