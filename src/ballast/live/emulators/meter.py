"""Emulated site revenue meter: a Modbus TCP server (pymodbus) on a loopback port.

Register map (``REGISTER_MAP``, kept in :mod:`ballast.live.emulators.meter_map`): every
quantity is an IEEE-754 float32 in two 16-bit registers, big-endian byte order and big-endian
word order (high word first), no scaling (engineering units as named). The same map answers
function code 3 (holding registers) and 4 (input registers); addresses are 0-based protocol
addresses; unit (device) id 1 by default (``device_id``; a request to another unit id gets
Modbus exception 4; unit id 0 answers every unit id, pymodbus' simulator rule).

====  ==============================  ====  ==================================================
addr  name                            unit  meaning
====  ==============================  ====  ==================================================
0     campus_import_power_mw          MW    net power from the grid at the POI (+import/-export)
2     ai_feeder_power_mw              MW    AI/HPC feeder load (+)
4     miners_feeder_power_mw          MW    miner feeder load (+)
6     renewables_feeder_power_mw      MW    on-site wind/solar generation (+ = generating)
8     voltage_kv                      kV    line-to-line voltage at the POI
10    frequency_hz                    Hz    grid frequency
====  ==============================  ====  ==================================================

The emulated site calls :meth:`MeterEmulator.set_site` with its physics; frequency events are
injected with :meth:`MeterEmulator.step_loss_of_generation` and :meth:`slow_decline`, and
evaluated on an injected clock when a client reads.

Fault hooks (tests, the chaos campaign): :meth:`MeterEmulator.force_register` serves a fixed
value (NaN, an infinity, an absurd number) in one register whatever the physics writes;
:meth:`MeterEmulator.freeze` serves every register as it is now, forever (a frozen meter);
:meth:`MeterEmulator.release_faults` ends both.
"""

from __future__ import annotations

import asyncio
import bisect
import struct
import time

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ballast.live.emulators.dynamics import Clock
from ballast.live.emulators.meter_map import (
    DEVICE_ID,
    DEVICE_ID_MAX,
    NOMINAL_FREQUENCY_HZ,
    REGISTER_COUNT,
    REGISTER_MAP,
    VOLTAGE_KV,
)
from ballast.live.emulators.modbus_server import serve_modbus, stop_modbus
from ballast.physics import import_mw

_ADDR = {r.name: r.address for r in REGISTER_MAP}


def campus_import_mw(ai_mw: float, miners_mw: float, renewables_mw: float) -> float:
    """Net import at the POI of a campus with these feeders and nothing else (+import) [MW]."""
    return import_mw(ai_mw + miners_mw, renewables_mw)


def encode_float32(value: float) -> tuple[int, int]:
    """float32 -> (high word, low word), big-endian."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return hi, lo


def decode_float32(hi: int, lo: int) -> float:
    """(high word, low word) -> float, big-endian."""
    return struct.unpack(">f", struct.pack(">HH", hi, lo))[0]


class FrequencyProfile:
    """Piecewise-linear frequency over time [s -> Hz]; nominal outside the event."""

    def __init__(self, nominal_hz: float) -> None:
        self.nominal_hz = nominal_hz
        self.times_s: list[float] = []
        self.values_hz: list[float] = []

    def set(self, points: list[tuple[float, float]]) -> None:
        times = [t for t, _ in points]
        if times != sorted(times):
            raise ValueError("frequency event points must be in time order")
        self.times_s = times
        self.values_hz = [f for _, f in points]

    def clear(self) -> None:
        self.times_s, self.values_hz = [], []

    def at(self, t_s: float) -> float:
        ts, fs = self.times_s, self.values_hz
        if not ts or t_s < ts[0]:
            return self.nominal_hz
        if t_s >= ts[-1]:
            return fs[-1]
        i = bisect.bisect_right(ts, t_s)
        t0, t1, f0, f1 = ts[i - 1], ts[i], fs[i - 1], fs[i]
        return f0 + (f1 - f0) * (t_s - t0) / (t1 - t0) if t1 > t0 else f1


class MeterEmulator:
    """Modbus TCP meter on ``host:port`` (port 0: any free port, set in ``port`` by
    :meth:`start`), answering unit id ``device_id``; an async context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5020,
        *,
        device_id: int = DEVICE_ID,
        clock: Clock = time.monotonic,
        nominal_frequency_hz: float = NOMINAL_FREQUENCY_HZ,
        voltage_kv: float = VOLTAGE_KV,
    ) -> None:
        if not 0 <= device_id <= DEVICE_ID_MAX:
            raise ValueError(f"unit id must be 0..{DEVICE_ID_MAX}, got {device_id}")
        self.host = host
        self.port = port
        self.device_id = device_id
        self.clock = clock
        self.values: dict[str, float] = {r.name: 0.0 for r in REGISTER_MAP}
        self.values["voltage_kv"] = voltage_kv
        self.frequency = FrequencyProfile(nominal_frequency_hz)
        self._forced: dict[str, float] = {}
        self._frozen: dict[str, float] | None = None
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ site setter
    def set_site(
        self,
        *,
        campus_import_power_mw: float | None = None,
        ai_feeder_power_mw: float | None = None,
        miners_feeder_power_mw: float | None = None,
        renewables_feeder_power_mw: float | None = None,
        voltage_kv: float | None = None,
    ) -> None:
        """Update measured quantities (None leaves a value as it is)."""
        given = {
            "campus_import_power_mw": campus_import_power_mw,
            "ai_feeder_power_mw": ai_feeder_power_mw,
            "miners_feeder_power_mw": miners_feeder_power_mw,
            "renewables_feeder_power_mw": renewables_feeder_power_mw,
            "voltage_kv": voltage_kv,
        }
        for name, value in given.items():
            if value is None:
                continue
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"{name} must be finite, got {value}")
            self.values[name] = float(value)

    def frequency_hz(self) -> float:
        return self.frequency.at(self.clock())

    def snapshot(self) -> dict[str, float]:
        """Every register's value now (what a client would read), faults included."""
        if self._frozen is not None:
            return dict(self._frozen)
        return {**self.values, "frequency_hz": self.frequency_hz(), **self._forced}

    # ---------------------------------------------------------- fault hooks
    def force_register(self, name: str, value: float) -> None:
        """Serve ``value`` in register ``name`` (any float32: NaN, +-inf, out of range) until
        :meth:`release_faults`, whatever :meth:`set_site` writes."""
        if name not in _ADDR:
            raise KeyError(f"no register {name!r}; registers: {sorted(_ADDR)}")
        try:
            struct.pack(">f", value)
        except (OverflowError, struct.error) as e:
            raise ValueError(f"{name}: {value!r} does not fit a float32 register: {e}") from None
        self._forced[name] = float(value)

    def freeze(self) -> None:
        """Serve every register exactly as it is now until :meth:`release_faults` (a meter
        that keeps answering with values that never change)."""
        self._frozen = self.snapshot()

    def release_faults(self) -> None:
        """End every forced register and a freeze: the physics shows again."""
        self._forced.clear()
        self._frozen = None

    # -------------------------------------------------------- frequency events
    def step_loss_of_generation(
        self,
        nadir_hz: float = 59.6,
        *,
        fall_s: float = 4.0,
        hold_s: float = 10.0,
        recover_s: float = 60.0,
        settle_hz: float | None = None,
        start_in_s: float = 0.0,
    ) -> None:
        """A large unit trips: frequency falls to ``nadir_hz`` within ``fall_s`` [s], holds,
        then recovers linearly to ``settle_hz`` (nominal by default) over ``recover_s``."""
        nominal = self.frequency.nominal_hz
        if not 45.0 < nadir_hz < nominal:
            raise ValueError(f"nadir_hz must be between 45 and {nominal} Hz, got {nadir_hz}")
        if min(fall_s, hold_s, recover_s, start_in_s) < 0:
            raise ValueError("fall_s, hold_s, recover_s and start_in_s must be >= 0")
        t0 = self.clock() + start_in_s
        settle = nominal if settle_hz is None else settle_hz
        self.frequency.set(
            [
                (t0, nominal),
                (t0 + fall_s, nadir_hz),
                (t0 + fall_s + hold_s, nadir_hz),
                (t0 + fall_s + hold_s + recover_s, settle),
            ]
        )

    def slow_decline(
        self, rate_hz_per_s: float = 0.005, floor_hz: float = 59.5, *, start_in_s: float = 0.0
    ) -> None:
        """Frequency declines at ``rate_hz_per_s`` until ``floor_hz`` and stays there."""
        nominal = self.frequency.nominal_hz
        if rate_hz_per_s <= 0:
            raise ValueError(f"rate_hz_per_s must be > 0, got {rate_hz_per_s}")
        if not floor_hz < nominal:
            raise ValueError(f"floor_hz must be below nominal {nominal} Hz, got {floor_hz}")
        t0 = self.clock() + start_in_s
        self.frequency.set([(t0, nominal), (t0 + (nominal - floor_hz) / rate_hz_per_s, floor_hz)])

    def clear_frequency_event(self) -> None:
        self.frequency.clear()

    # --------------------------------------------------------------- server
    def registers(self) -> list[int]:
        """All registers, in map order, as the server would serve them now."""
        snap = self.snapshot()
        regs = [0] * REGISTER_COUNT
        for r in REGISTER_MAP:
            regs[r.address], regs[r.address + 1] = encode_float32(snap[r.name])
        return regs

    async def _on_access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        regs = self.registers()
        for i, value in enumerate(regs):
            idx = i - start_address
            if 0 <= idx < len(current_registers):
                current_registers[idx] = value

    async def start(self) -> MeterEmulator:
        device = SimDevice(
            id=self.device_id,
            simdata=[SimData(0, count=REGISTER_COUNT, values=0, datatype=DataType.UINT16, readonly=True)],
            action=self._on_access,
        )
        self._server, self.port = await serve_modbus(device, self.host, self.port, "meter")
        return self

    async def stop(self) -> None:
        await stop_modbus(self._server)
        self._server = None

    async def __aenter__(self) -> MeterEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
