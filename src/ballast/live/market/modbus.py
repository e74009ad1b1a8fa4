"""A market number in Modbus TCP holding registers (e.g. a QSE gateway publishing the price).
Decoding is pymodbus's (``convert_from_registers``, big-endian words); Modbus carries no
timestamp, so a value is as old as its read."""

from __future__ import annotations

from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from ballast.live.market.config import ModbusValue
from ballast.live.market.sources import FeedError, finite_number

DataType = AsyncModbusTcpClient.DATATYPE
TYPES = {
    "int16": DataType.INT16,
    "uint16": DataType.UINT16,
    "int32": DataType.INT32,
    "uint32": DataType.UINT32,
    "float32": DataType.FLOAT32,
    "float64": DataType.FLOAT64,
}


class ModbusRegister:
    """``latest()`` reads the register(s) once: ``(raw x scale, read time)``."""

    name = "modbus"

    def __init__(self, cfg: ModbusValue, clock: Any) -> None:
        self.cfg, self.clock = cfg, clock
        self.dtype = TYPES[cfg.data_type]
        self.client = AsyncModbusTcpClient(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0)

    async def latest(self) -> tuple[float, float]:
        where = f"modbus {self.cfg.host}:{self.cfg.port} register {self.cfg.address}"
        try:
            if not self.client.connected and not await self.client.connect():
                raise FeedError(f"{where}: cannot connect")
            rr = await self.client.read_holding_registers(
                self.cfg.address, count=self.dtype.value[1], device_id=self.cfg.device_id
            )
        except ModbusException as e:
            raise FeedError(f"{where}: {e}") from None
        if rr.isError():
            raise FeedError(f"{where}: error answer {rr}")
        raw = self.client.convert_from_registers(rr.registers, self.dtype)
        return finite_number(raw, where) * self.cfg.scale, self.clock()

    def close(self) -> None:
        self.client.close()
