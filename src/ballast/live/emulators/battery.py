"""Emulated battery inverter: a SunSpec Modbus TCP server (pymodbus) with a state of charge.

The register map (SunSpec models 1, 124 and 802 from base address 40000) and how model 124
commands a setpoint are in :mod:`ballast.live.emulators.battery_map`. The emulator:

- integrates its stored energy from the power it actually delivers, with a one-way efficiency
  of sqrt(round trip) each way (``ballast.physics.battery_stored_change_mwh``, as the fine
  backtest's battery), between its SoCMin and SoCMax;
- holds the commanded power within its nameplate power and what its state of charge allows
  (no discharge at SoCMin, no charge at SoCMax, at most what is stored per interval);
- lets the command lapse to 0 W after ``InOutWRte_RvrtTms`` seconds without a new rate;
- refuses writes to read-only points (exception 2) and out-of-range values (exception 3);
- counts its heartbeat ``Hb`` (model 802) up once a second of its clock, so a client can tell
  a frozen device from a quiet one.

The emulated site calls :meth:`BatteryEmulator.advance` every physics step and adds
:attr:`power_mw` to the campus import (discharge lowers it).

Fault hooks (tests): :meth:`freeze` serves every register as it is now (heartbeat included);
:meth:`force_point` serves a fixed raw value in one point; :meth:`trip` puts the bank in state
FAULT delivering 0 W; :meth:`ignore_writes` acknowledges commands without acting; :meth:`stall`
accepts requests and never answers; :meth:`release_faults` ends them all.
"""

from __future__ import annotations

import asyncio
import math
import time

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ballast.live.emulators.battery_map import (
    BASE_ADDRESS,
    BATTERY,
    CHAIN,
    CHAST_CHARGING,
    CHAST_DISCHARGING,
    CHAST_EMPTY,
    CHAST_FULL,
    CHAST_HOLDING,
    COMMON,
    DEVICE_ID,
    END_ID,
    LOC_REM_REMOTE,
    MODELS,
    NOT_IMPLEMENTED_INT16,
    NOT_IMPLEMENTED_UINT16,
    REGISTER_COUNT,
    STATE_CONNECTED,
    STATE_FAULT,
    STORAGE,
    STORCTL_CHARGE,
    STORCTL_DISCHARGE,
    SUNS_MARKER,
    TYP_LITHIUM_ION,
    Point,
    model_addresses,
    scale_factor_for,
)
from ballast.live.emulators.dynamics import Clock
from ballast.live.emulators.modbus_server import serve_modbus, stop_modbus
from ballast.physics import W_PER_MW, battery_max_discharge_mw, battery_stored_change_mwh

ADDR = model_addresses()
NOMINAL_DC_V = 1000.0  # assumption: a utility-scale DC bus (1,000-1,500 V), only for A and Ah
SOC_SF = -2  # 0.01 % resolution
RATE_SF = -2  # InWRte/OutWRte in 0.01 %
RATE_MAX_PCT = 100.0  # a rate beyond 100 % of WChaMax is refused (exception 3)


def _u16(v: int) -> int:
    return v & 0xFFFF


def _s16(v: int) -> int:
    return v - 0x10000 if v >= 0x8000 else v


def _where(model: int, point: Point) -> int:
    return ADDR[model] + point.offset


class BatteryEmulator:
    """A battery inverter on ``host:port`` (port 0: any free port, set by :meth:`start`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5021,
        *,
        power_mw: float,
        energy_mwh: float,
        round_trip_efficiency: float = 0.88,
        initial_soc_share: float = 0.5,
        soc_min_share: float = 0.0,
        soc_max_share: float = 1.0,
        device_id: int = DEVICE_ID,
        clock: Clock = time.monotonic,
    ) -> None:
        for name, v in (("power_mw", power_mw), ("energy_mwh", energy_mwh)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v}")
        if not 0 < round_trip_efficiency <= 1:
            raise ValueError(f"round_trip_efficiency must be in (0, 1], got {round_trip_efficiency}")
        if not 0 <= soc_min_share < soc_max_share <= 1:
            raise ValueError(
                f"need 0 <= soc_min_share < soc_max_share <= 1, got {soc_min_share}, {soc_max_share}"
            )
        if not soc_min_share <= initial_soc_share <= soc_max_share:
            raise ValueError(
                f"initial_soc_share {initial_soc_share} is outside [{soc_min_share}, {soc_max_share}]"
            )
        self.host, self.port, self.device_id, self.clock = host, port, device_id, clock
        self.power_max_mw, self.energy_mwh = float(power_mw), float(energy_mwh)
        self.eta = math.sqrt(round_trip_efficiency)  # one way
        self.soc_min_mwh, self.soc_max_mwh = soc_min_share * energy_mwh, soc_max_share * energy_mwh
        self.stored_mwh = initial_soc_share * energy_mwh
        self.power_mw = 0.0  # delivered now, discharge positive
        self.w_sf = scale_factor_for(power_mw * W_PER_MW)
        self.wh_sf = scale_factor_for(energy_mwh * W_PER_MW)
        self.ah_sf = scale_factor_for(energy_mwh * W_PER_MW / NOMINAL_DC_V)
        self.a_sf = scale_factor_for(power_mw * W_PER_MW / NOMINAL_DC_V)
        # writable points as last written (raw register values); model 124 starts with no limits
        self.held: dict[int, int] = {
            _where(124, STORAGE["WChaMax"]): round(power_mw * W_PER_MW / 10**self.w_sf),
            _where(124, STORAGE["InOutWRte_RvrtTms"]): 0,
            _where(802, BATTERY["SocRsvMax"]): round(soc_max_share * 100 / 10**SOC_SF),
            _where(802, BATTERY["SoCRsvMin"]): round(soc_min_share * 100 / 10**SOC_SF),
            _where(802, BATTERY["SetOp"]): 1,
            _where(802, BATTERY["SetInvState"]): 3,
        }
        self.last_t = clock()
        self.rate_written_t = self.last_t
        self.commands = 0  # accepted rate writes
        self._forced: dict[str, int] = {}
        self._frozen: list[int] | None = None
        self._tripped = False
        self._ignore = False
        self._stalled: asyncio.Event | None = None
        self._server: ModbusTcpServer | None = None

    # ----------------------------------------------------------------- physics
    def _get(self, model: int, name: str) -> int:
        pts = STORAGE if model == 124 else BATTERY
        return self.held.get(_where(model, pts[name]), 0)

    def window_mw(self) -> tuple[float, float]:
        """The commanded window [lowest, highest] power [MW, discharge positive]."""
        mod = self._get(124, "StorCtl_Mod")
        wchamax_mw = self._get(124, "WChaMax") * 10**self.w_sf / W_PER_MW
        pct = 10**RATE_SF / 100.0
        hi = (
            _s16(self._get(124, "OutWRte")) * pct * wchamax_mw
            if mod & STORCTL_DISCHARGE
            else self.power_max_mw
        )
        lo = (
            -_s16(self._get(124, "InWRte")) * pct * wchamax_mw if mod & STORCTL_CHARGE else -self.power_max_mw
        )
        return lo, hi

    def target_mw(self) -> float:
        """Power the command asks for now, within nameplate and the state of charge."""
        if self._tripped:
            return 0.0
        lo, hi = self.window_mw()
        p = min(max(0.0, lo), hi)
        p = min(max(p, -self.power_max_mw), self.power_max_mw)
        if p > 0 and self.stored_mwh <= self.soc_min_mwh + 1e-12:
            return 0.0
        if p < 0 and self.stored_mwh >= self.soc_max_mwh - 1e-12:
            return 0.0
        return p

    def _integrate(self, until: float) -> None:
        dt_h = max(0.0, until - self.last_t) / 3600.0
        self.last_t = max(self.last_t, until)
        if dt_h <= 0.0:
            return
        p = self.target_mw()
        if p > 0:  # the cells give at most what they hold above the floor
            p = min(p, battery_max_discharge_mw(self.stored_mwh - self.soc_min_mwh, dt_h, self.eta))
        elif p < 0:  # and take at most what fits below the ceiling
            p = max(p, -(self.soc_max_mwh - self.stored_mwh) / (self.eta * dt_h))
        self.stored_mwh += battery_stored_change_mwh(p, dt_h, self.eta)
        self.stored_mwh = min(max(self.stored_mwh, self.soc_min_mwh), self.soc_max_mwh)

    def advance(self) -> float:
        """Integrate the stored energy up to the clock's now, let a lapsed command revert, and
        return the power delivered from now [MW, discharge positive]."""
        now = self.clock()
        revert_s = self._get(124, "InOutWRte_RvrtTms")
        deadline = self.rate_written_t + revert_s
        if revert_s > 0 and self._get(124, "StorCtl_Mod") and deadline <= now:
            self._integrate(deadline)
            self.held[_where(124, STORAGE["StorCtl_Mod"])] = 0
        self._integrate(now)
        self.power_mw = self.target_mw()
        return self.power_mw

    @property
    def soc_share(self) -> float:
        return self.stored_mwh / self.energy_mwh

    # ------------------------------------------------------------- registers
    def _values(self) -> dict[tuple[int, str], int]:
        """Raw values of the points this device implements (register ints; uint32 as one)."""
        p_w, soc_pct = self.power_mw * W_PER_MW, 100.0 * self.soc_share
        cha = (
            CHAST_DISCHARGING
            if self.power_mw > 0
            else CHAST_CHARGING
            if self.power_mw < 0
            else CHAST_EMPTY
            if self.stored_mwh <= self.soc_min_mwh
            else CHAST_FULL
            if self.stored_mwh >= self.soc_max_mwh
            else CHAST_HOLDING
        )
        soc_raw = round(soc_pct / 10**SOC_SF)
        v = {
            (124, "ChaState"): soc_raw,
            (124, "ChaSt"): cha,
            (124, "StorAval"): NOT_IMPLEMENTED_UINT16,
            (124, "InBatV"): NOT_IMPLEMENTED_UINT16,
            (124, "VAChaMax"): NOT_IMPLEMENTED_UINT16,
            (124, "WChaMax_SF"): self.w_sf,
            (124, "WChaDisChaGra_SF"): 0,
            (124, "VAChaMax_SF"): NOT_IMPLEMENTED_INT16,
            (124, "MinRsvPct_SF"): SOC_SF,
            (124, "ChaState_SF"): SOC_SF,
            (124, "StorAval_SF"): NOT_IMPLEMENTED_INT16,
            (124, "InBatV_SF"): NOT_IMPLEMENTED_INT16,
            (124, "InOutWRte_SF"): RATE_SF,
            (802, "AHRtg"): round(self.energy_mwh * W_PER_MW / NOMINAL_DC_V / 10**self.ah_sf),
            (802, "WHRtg"): round(self.energy_mwh * W_PER_MW / 10**self.wh_sf),
            (802, "WChaRteMax"): round(self.power_max_mw * W_PER_MW / 10**self.w_sf),
            (802, "WDisChaRteMax"): round(self.power_max_mw * W_PER_MW / 10**self.w_sf),
            (802, "SoCMax"): round(100 * self.soc_max_mwh / self.energy_mwh / 10**SOC_SF),
            (802, "SoCMin"): round(100 * self.soc_min_mwh / self.energy_mwh / 10**SOC_SF),
            (802, "SoC"): soc_raw,
            (802, "ChaSt"): cha,
            (802, "LocRemCtl"): LOC_REM_REMOTE,
            (802, "Hb"): int(self.clock()) & 0xFFFF,
            (802, "Typ"): TYP_LITHIUM_ION,
            (802, "State"): STATE_FAULT if self._tripped else STATE_CONNECTED,
            (802, "V"): round(NOMINAL_DC_V),
            (802, "A"): round(p_w / NOMINAL_DC_V / 10**self.a_sf),
            (802, "W"): round(p_w / 10**self.w_sf),
            (802, "AHRtg_SF"): self.ah_sf,
            (802, "WHRtg_SF"): self.wh_sf,
            (802, "WChaDisChaMax_SF"): self.w_sf,
            (802, "SoC_SF"): SOC_SF,
            (802, "V_SF"): 0,
            (802, "A_SF"): self.a_sf,
            (802, "W_SF"): self.w_sf,
            (802, "DisChaRte_SF"): NOT_IMPLEMENTED_INT16,
            (802, "DoD_SF"): NOT_IMPLEMENTED_INT16,
            (802, "SoH_SF"): NOT_IMPLEMENTED_INT16,
            (802, "CellV_SF"): NOT_IMPLEMENTED_INT16,
            (802, "AMax_SF"): NOT_IMPLEMENTED_INT16,
        }
        for name, raw in self._forced.items():
            model = 802 if name in BATTERY else 124
            v[(model, name)] = raw
        return v

    def registers(self) -> list[int]:
        """All registers from ``BASE_ADDRESS``, as served now (faults included)."""
        if self._frozen is not None:
            return list(self._frozen)
        regs = [0] * REGISTER_COUNT
        regs[0], regs[1] = SUNS_MARKER
        for mid in CHAIN:
            i = ADDR[mid] - BASE_ADDRESS
            regs[i], regs[i + 1] = mid, MODELS[mid][0]
        common = {"Mn": "Ballast", "Md": "Emulated battery inverter", "Vr": "1", "SN": "EMU-1"}
        for name, text in common.items():
            i = ADDR[1] + COMMON[name].offset - BASE_ADDRESS
            raw = text.encode("ascii").ljust(2 * COMMON[name].size, b"\0")
            for k in range(COMMON[name].size):
                regs[i + k] = raw[2 * k] << 8 | raw[2 * k + 1]
        for addr, raw in self.held.items():
            regs[addr - BASE_ADDRESS] = _u16(raw)
        for (mid, name), raw in self._values().items():
            regs[ADDR[mid] + MODELS[mid][1][name].offset - BASE_ADDRESS] = _u16(raw)
        end = REGISTER_COUNT - 2
        regs[end], regs[end + 1] = END_ID, 0
        return regs

    def _check_write(self, address: int, values: list[int]) -> ExcCodes | None:
        writable = {_where(m, p): p for m in (1, 124, 802) for p in MODELS[m][1].values() if p.writable}
        for k, raw in enumerate(values):
            p = writable.get(address + k)
            if p is None:
                return ExcCodes.ILLEGAL_ADDRESS
            if p.name in ("InWRte", "OutWRte") and abs(_s16(raw)) * 10**RATE_SF > RATE_MAX_PCT:
                return ExcCodes.ILLEGAL_VALUE
            if p.name == "StorCtl_Mod" and raw > (STORCTL_CHARGE | STORCTL_DISCHARGE):
                return ExcCodes.ILLEGAL_VALUE
            if p.name == "WChaMax" and raw * 10**self.w_sf > self.power_max_mw * W_PER_MW * 1.0001:
                return ExcCodes.ILLEGAL_VALUE
        return None

    async def _on_access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self._stalled is not None:
            await self._stalled.wait()
        self.advance()
        if set_values is not None:
            values = [int(v) for v in set_values]
            bad = self._check_write(address, values)
            if bad is not None:
                return bad
            if not self._ignore:
                for k, raw in enumerate(values):
                    self.held[address + k] = raw
                rates = {_where(124, STORAGE[n]) for n in ("StorCtl_Mod", "InWRte", "OutWRte")}
                if rates & set(range(address, address + len(values))):
                    self.rate_written_t = self.clock()
                    self.commands += 1
                self.advance()
        regs = self.registers()
        for i, value in enumerate(regs):
            idx = i + BASE_ADDRESS - start_address
            if 0 <= idx < len(current_registers):
                current_registers[idx] = value
        if set_values is not None:  # what pymodbus stores must not undo an ignored write
            for k in range(len(set_values)):
                set_values[k] = regs[address + k - BASE_ADDRESS]  # type: ignore[index]
        return None

    # ------------------------------------------------------------ fault hooks
    def freeze(self) -> None:
        """Serve every register as it is now, heartbeat included, until released."""
        self._frozen = self.registers()

    def force_point(self, name: str, raw: int) -> None:
        """Serve raw register value ``raw`` in point ``name`` (model 124 or 802)."""
        if name not in STORAGE and name not in BATTERY:
            raise KeyError(f"no point {name!r} in models 124/802")
        self._forced[name] = int(raw)

    def trip(self) -> None:
        """The bank faults: state FAULT, 0 W."""
        self.advance()
        self._tripped = True
        self.power_mw = 0.0

    def ignore_writes(self) -> None:
        """Acknowledge writes without acting on them."""
        self._ignore = True

    def stall(self) -> None:
        """Accept requests and never answer them (until released)."""
        self._stalled = asyncio.Event()

    def release_faults(self) -> None:
        self._forced.clear()
        self._frozen = None
        self._tripped = self._ignore = False
        if self._stalled is not None:
            self._stalled.set()
            self._stalled = None

    # --------------------------------------------------------------- server
    async def start(self) -> BatteryEmulator:
        device = SimDevice(
            id=self.device_id,
            simdata=[SimData(BASE_ADDRESS, count=REGISTER_COUNT, values=0, datatype=DataType.UINT16)],
            action=self._on_access,
        )
        self._server, self.port = await serve_modbus(device, self.host, self.port, "battery")
        return self

    async def stop(self) -> None:
        if self._stalled is not None:
            self._stalled.set()
        await stop_modbus(self._server)
        self._server = None

    async def __aenter__(self) -> BatteryEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
