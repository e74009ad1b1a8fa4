"""What the runtime needs from devices, as small protocols (the drivers in ``live.drivers`` fit).

- ``MinerFleet``: verified fan-out of sleep/wake/read to miner addresses
  (``live.drivers.fleet.FleetCommander`` implements it);
- ``KeepsSessions``: an optional fleet capability, holding sessions open so a curtail is one
  round trip (``live.adapters.LuxosFleet``); the runtime checks it with ``isinstance``;
- ``Meter``: the site revenue meter (``live.drivers.meter.ModbusMeter``): campus import, feeder
  powers and grid frequency;
- ``AiTelemetry``: the AI cluster's facility power [MW] (a DCGM exporter scrape x PUE);
- ``Battery``: a battery inverter (``live.drivers.battery.ModbusBattery``, SunSpec): state of
  charge and power, and a setpoint verified by read-back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable


class MeterSample(Protocol):
    """One meter read; import and loads positive, export negative [MW]; frequency [Hz]."""

    campus_import_power_mw: float
    ai_feeder_power_mw: float
    miners_feeder_power_mw: float
    renewables_feeder_power_mw: float
    frequency_hz: float


@runtime_checkable
class Meter(Protocol):
    async def read(self) -> MeterSample: ...


@runtime_checkable
class AiTelemetry(Protocol):
    async def read_power_mw(self) -> float:
        """Facility power of the AI/HPC tenant now [MW]."""
        ...


class BatterySample(Protocol):
    """One battery read: stored energy [MWh] and power [MW, discharge positive]."""

    soc_mwh: float
    power_mw: float


@runtime_checkable
class Battery(Protocol):
    async def read(self) -> BatterySample: ...

    async def set_power_mw(self, power_mw: float) -> float:
        """Command ``power_mw`` [MW, discharge positive]; raises unless the device reads the
        setpoint back; returns the power the device holds as its setpoint [MW]."""
        ...


class FleetOutcome(Protocol):
    ip: str
    status: str
    reading: object | None

    @property
    def compliant(self) -> bool: ...


class FleetResultLike(Protocol):
    outcomes: list
    elapsed_s: float
    counts: dict[str, int]


@runtime_checkable
class MinerFleet(Protocol):
    async def sleep(self, ips: Iterable[str] | None = None) -> FleetResultLike: ...

    async def wake(self, ips: Iterable[str] | None = None, *,
                   wait_ramp: bool = True) -> FleetResultLike:
        """``wait_ramp=False``: a miner reporting no curtail state that is not awake yet comes
        back with status ``ramping`` (acknowledged; the caller verifies it after the ramp)."""
        ...

    async def read_all(self, ips: Iterable[str] | None = None) -> FleetResultLike: ...


@runtime_checkable
class KeepsSessions(Protocol):
    async def keep_sessions(self, ips: Iterable[str] | None = None) -> FleetResultLike:
        """Refresh the command sessions of ``ips`` (all when None)."""
        ...
