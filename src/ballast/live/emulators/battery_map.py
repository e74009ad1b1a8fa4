"""The emulated battery inverter's SunSpec register map, without pymodbus (the command line
imports this for its help; the emulator is :mod:`ballast.live.emulators.battery`, the client
:mod:`ballast.live.drivers.battery`).

SunSpec Modbus (SunSpec Alliance, "SunSpec Modbus Specification"; model definitions from the
SunSpec models repository, https://github.com/sunspec/models, ``json/model_1.json``,
``model_124.json``, ``model_802.json``): holding registers from base address 40000 hold the
marker ``SunS`` (0x5375 0x6E53), then models one after another, each ``ID``, ``L`` (length of
what follows, in registers) and its points, ended by ID 0xFFFF with L 0. A client walks the
chain to find a model; it never assumes an address. Values are integers scaled by a sunssf
point (value x 10**sf). The chain served here:

=======  =====  ====  ======================================================================
address  model  L     role
=======  =====  ====  ======================================================================
40000    -      -     ``SunS`` marker
40002    1      66    Common: manufacturer, model, serial
40070    124    24    Storage (Basic Storage Controls): the charge/discharge command
40096    802    62    Battery Base: nameplate, state of charge, state, power, heartbeat
40160    0xFFFF 0     end
=======  =====  ====  ======================================================================

Offsets below count from the model's first register (its ``ID``), as in the SunSpec JSON.

The command (model 124): ``StorCtl_Mod`` bit 0 (CHARGE) makes ``InWRte`` a charge limit and bit
1 (DISCHARGE) makes ``OutWRte`` a discharge limit, both in percent of ``WChaMax``. The battery
stays within the window [-charge limit, +discharge limit] (discharge positive); a negative
``InWRte`` forces discharge and a negative ``OutWRte`` forces charge. That window reading is
the one storage-inverter Modbus manuals describe for model 124 (e.g. the Fronius Datamanager /
GEN24 "Basic Storage Control" chapter); it has not been checked against a real device here. A
setpoint P [W] is therefore ``StorCtl_Mod`` = 3, ``OutWRte`` = P/WChaMax, ``InWRte`` =
-P/WChaMax. Inside a window wider than one point this emulator holds 0 W (no local logic).
``OutWRte``'s unit names ``WDisChaMax``, a point no model defines; like ``WDisChaGra`` (in
"% WChaMax/sec") both rates are taken in percent of ``WChaMax``. ``InOutWRte_RvrtTms`` [s]:
with no new rate written for that long the limits lapse (``StorCtl_Mod`` back to 0: hold 0 W),
so a controller that dies leaves the battery idle, not charging.

Signs: model 802 says "total power flowing to/from the battery" for ``W`` without a sign;
this map serves discharge positive, charge negative (the controller's sign). A real
inverter's sign convention must be checked in its manual before use.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_ADDRESS = 40000  # SunSpec Modbus: first of the well-known base addresses (40000, 0, 50000)
SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_ID = 0xFFFF
DEVICE_ID = 1
NOT_IMPLEMENTED_INT16 = -0x8000  # SunSpec: 0x8000 in an int16 / sunssf point = not implemented
NOT_IMPLEMENTED_UINT16 = 0xFFFF


@dataclass(frozen=True)
class Point:
    """One point of a SunSpec model: offset from the model's ``ID`` register, type, scale
    factor point (None: unscaled), writable."""

    offset: int
    name: str
    kind: str  # uint16 | int16 | enum16 | bitfield16 | sunssf | uint32 | bitfield32 | string
    sf: str | None = None
    writable: bool = False
    size: int = 1


def _chain(points: tuple[Point, ...]) -> dict[str, Point]:
    return {p.name: p for p in points}


MODEL_1_LENGTH = 66
COMMON = _chain(
    (
        Point(2, "Mn", "string", size=16),
        Point(18, "Md", "string", size=16),
        Point(34, "Opt", "string", size=8),
        Point(42, "Vr", "string", size=8),
        Point(50, "SN", "string", size=16),
        Point(66, "DA", "uint16", writable=True),
    )
)

# model_124.json (Basic Storage Controls, "Ref 3: 8.7.4.2"): L = 24
MODEL_124_LENGTH = 24
STORAGE = _chain(
    (
        Point(2, "WChaMax", "uint16", "WChaMax_SF", writable=True),
        Point(3, "WChaGra", "uint16", "WChaDisChaGra_SF", writable=True),
        Point(4, "WDisChaGra", "uint16", "WChaDisChaGra_SF", writable=True),
        Point(5, "StorCtl_Mod", "bitfield16", writable=True),
        Point(6, "VAChaMax", "uint16", "VAChaMax_SF", writable=True),
        Point(7, "MinRsvPct", "uint16", "MinRsvPct_SF", writable=True),
        Point(8, "ChaState", "uint16", "ChaState_SF"),
        Point(9, "StorAval", "uint16", "StorAval_SF"),
        Point(10, "InBatV", "uint16", "InBatV_SF"),
        Point(11, "ChaSt", "enum16"),
        Point(12, "OutWRte", "int16", "InOutWRte_SF", writable=True),
        Point(13, "InWRte", "int16", "InOutWRte_SF", writable=True),
        Point(14, "InOutWRte_WinTms", "uint16", writable=True),
        Point(15, "InOutWRte_RvrtTms", "uint16", writable=True),
        Point(16, "InOutWRte_RmpTms", "uint16", writable=True),
        Point(17, "ChaGriSet", "enum16", writable=True),
        Point(18, "WChaMax_SF", "sunssf"),
        Point(19, "WChaDisChaGra_SF", "sunssf"),
        Point(20, "VAChaMax_SF", "sunssf"),
        Point(21, "MinRsvPct_SF", "sunssf"),
        Point(22, "ChaState_SF", "sunssf"),
        Point(23, "StorAval_SF", "sunssf"),
        Point(24, "InBatV_SF", "sunssf"),
        Point(25, "InOutWRte_SF", "sunssf"),
    )
)
STORCTL_CHARGE = 1 << 0  # model 124 StorCtl_Mod symbol CHARGE = bit 0
STORCTL_DISCHARGE = 1 << 1  # symbol DiSCHARGE = bit 1

# model_802.json (Battery Base): L = 62
MODEL_802_LENGTH = 62
BATTERY = _chain(
    (
        Point(2, "AHRtg", "uint16", "AHRtg_SF"),
        Point(3, "WHRtg", "uint16", "WHRtg_SF"),
        Point(4, "WChaRteMax", "uint16", "WChaDisChaMax_SF"),
        Point(5, "WDisChaRteMax", "uint16", "WChaDisChaMax_SF"),
        Point(6, "DisChaRte", "uint16", "DisChaRte_SF"),
        Point(7, "SoCMax", "uint16", "SoC_SF"),
        Point(8, "SoCMin", "uint16", "SoC_SF"),
        Point(9, "SocRsvMax", "uint16", "SoC_SF", writable=True),
        Point(10, "SoCRsvMin", "uint16", "SoC_SF", writable=True),
        Point(11, "SoC", "uint16", "SoC_SF"),
        Point(12, "DoD", "uint16", "DoD_SF"),
        Point(13, "SoH", "uint16", "SoH_SF"),
        Point(14, "NCyc", "uint32", size=2),
        Point(16, "ChaSt", "enum16"),
        Point(17, "LocRemCtl", "enum16"),
        Point(18, "Hb", "uint16"),
        Point(19, "CtrlHb", "uint16", writable=True),
        Point(20, "AlmRst", "uint16", writable=True),
        Point(21, "Typ", "enum16"),
        Point(22, "State", "enum16"),
        Point(23, "StateVnd", "enum16"),
        Point(24, "WarrDt", "uint32", size=2),
        Point(26, "Evt1", "bitfield32", size=2),
        Point(28, "Evt2", "bitfield32", size=2),
        Point(30, "EvtVnd1", "bitfield32", size=2),
        Point(32, "EvtVnd2", "bitfield32", size=2),
        Point(34, "V", "uint16", "V_SF"),
        Point(35, "VMax", "uint16", "V_SF"),
        Point(36, "VMin", "uint16", "V_SF"),
        Point(44, "A", "int16", "A_SF"),
        Point(47, "W", "int16", "W_SF"),
        Point(50, "SetOp", "enum16", writable=True),
        Point(51, "SetInvState", "enum16", writable=True),
        Point(52, "AHRtg_SF", "sunssf"),
        Point(53, "WHRtg_SF", "sunssf"),
        Point(54, "WChaDisChaMax_SF", "sunssf"),
        Point(55, "DisChaRte_SF", "sunssf"),
        Point(56, "SoC_SF", "sunssf"),
        Point(57, "DoD_SF", "sunssf"),
        Point(58, "SoH_SF", "sunssf"),
        Point(59, "V_SF", "sunssf"),
        Point(60, "CellV_SF", "sunssf"),
        Point(61, "A_SF", "sunssf"),
        Point(62, "AMax_SF", "sunssf"),
        Point(63, "W_SF", "sunssf"),
    )
)
# model 802 enumerations used here
CHAST_EMPTY, CHAST_DISCHARGING, CHAST_CHARGING, CHAST_FULL, CHAST_HOLDING = 2, 3, 4, 5, 6
STATE_CONNECTED, STATE_FAULT = 3, 99
LOC_REM_REMOTE = 0
TYP_LITHIUM_ION = 4

# model id -> (length, points); the order of the chain after the Common model
MODELS: dict[int, tuple[int, dict[str, Point]]] = {
    1: (MODEL_1_LENGTH, COMMON),
    124: (MODEL_124_LENGTH, STORAGE),
    802: (MODEL_802_LENGTH, BATTERY),
}
CHAIN: tuple[int, ...] = (1, 124, 802)


def model_addresses(chain: tuple[int, ...] = CHAIN, base: int = BASE_ADDRESS) -> dict[int, int]:
    """Address of each model's ``ID`` register in a chain served from ``base``."""
    out, addr = {}, base + 2
    for mid in chain:
        out[mid] = addr
        addr += 2 + MODELS[mid][0]
    return out


REGISTER_COUNT = 2 + sum(2 + MODELS[m][0] for m in CHAIN) + 2  # marker, models, end


def scale_factor_for(max_value: float, limit: int = 30_000) -> int:
    """The smallest power-of-ten scale factor that fits ``max_value`` within ``limit`` raw
    counts (an int16 holds up to 32,767)."""
    sf = 0
    while abs(max_value) / 10.0**sf > limit:
        sf += 1
    return sf
