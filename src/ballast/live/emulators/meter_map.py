"""The emulated meter's register map and defaults, without pymodbus (the command line imports
this to build its help; the map is documented in :mod:`ballast.live.emulators.meter`)."""

from __future__ import annotations

from dataclasses import dataclass

NOMINAL_FREQUENCY_HZ = 60.0  # ERCOT / North America
DEVICE_ID = 1
DEVICE_ID_MAX = 247  # highest unicast address (Modbus over Serial Line v1.02, section 2.2)
VOLTAGE_KV = 138.0  # POI line-to-line voltage served unless set (an ERCOT transmission level)


@dataclass(frozen=True)
class Register:
    address: int
    name: str
    unit: str
    description: str


REGISTER_MAP: tuple[Register, ...] = (
    Register(0, "campus_import_power_mw", "MW", "net grid import at the POI (+import/-export)"),
    Register(2, "ai_feeder_power_mw", "MW", "AI/HPC feeder load"),
    Register(4, "miners_feeder_power_mw", "MW", "miner feeder load"),
    Register(6, "renewables_feeder_power_mw", "MW", "on-site renewable generation (+)"),
    Register(8, "voltage_kv", "kV", "line-to-line voltage at the POI"),
    Register(10, "frequency_hz", "Hz", "grid frequency"),
)
REGISTER_COUNT = 2 * len(REGISTER_MAP)
