"""The controller's Python face: parameters, state, snapshot, and one ``step``.

``step`` calls the same compiled ``control_tick_full`` (``control/stack.py``, through
``step_arrays``) that the backtest loops call, so a behaviour that is right in the backtest is right live.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ballast.control.records import (
    INFO_DTYPE,
    PARAMS_DTYPE,
    RESTORE_DTYPE,
    RS_CEILING,
    RS_LAST_T,
    RS_MAX_DT,
    RS_MINERS,
    RS_ON,
    RS_RAMP,
    RS_SIZE,
    SMOOTH_DTYPE,
    Groups,
    State,
    record,
)
from ballast.control.rules import RULE_NAMES, group_columns
from ballast.control.smoothing import SmoothingConfig
from ballast.control.stack import step_arrays
from ballast.models.bitcoin import breakeven_price_usd_per_mwh
from ballast.models.miners import get_model
from ballast.physics import group_power_mw, miner_facility_mw
from ballast.scenario import Scenario


@dataclass(frozen=True)
class GroupParams:
    """Per-group arrays (index g = scenario order)."""

    names: tuple[str, ...]
    count: np.ndarray  # miners [-], int64
    run_mw: np.ndarray  # facility MW per running miner (wall W x PUE / 1e6)
    sleep_mw: np.ndarray  # MW per sleeping miner
    hashrate_th_s: np.ndarray  # per miner [TH/s]
    efficiency_j_per_th: np.ndarray
    breakeven_per_hashprice: np.ndarray  # [USD/MWh per USD/PH/day], pool fee and PUE included
    deadband_usd_per_mwh: np.ndarray
    min_on_s: np.ndarray
    min_off_s: np.ndarray
    pool_fee_share: np.ndarray
    merit: np.ndarray  # group indices, most efficient first

    @property
    def full_power_mw(self) -> np.ndarray:
        return group_power_mw(self.count, self.count, self.run_mw, self.sleep_mw)

    def power_mw(self, running: np.ndarray) -> np.ndarray:
        """Facility power per group [MW] with ``running`` miners hashing and the rest asleep
        (``running`` per group, or shape (ticks, groups))."""
        return group_power_mw(running, self.count, self.run_mw, self.sleep_mw)


@dataclass(frozen=True)
class ControllerConfig:
    """Everything the rule stack needs besides the snapshot and its own state."""

    groups: GroupParams
    import_limit_mw: float
    export_limit_mw: float
    import_margin_mw: float = 0.0
    economic_dispatch: bool = True
    absorb_renewables: bool = True
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    restore_ramp_mw_per_min: float | None = None  # None: miners wake as fast as they can
    restore_max_step_s: float = math.inf  # longest tick the ramp credits (live: a clock jump)

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, economic_dispatch: bool | None = None,
                      absorb_renewables: bool | None = None,
                      restore_ramp: bool = True) -> ControllerConfig:
        """``restore_ramp=False``: no restore ramp whatever the scenario says (the all-on
        baseline keeps its own behaviour)."""
        groups = build_group_params(scenario)
        ctl = scenario.control
        return cls(
            groups=groups,
            import_limit_mw=scenario.site.import_limit_mw,
            export_limit_mw=scenario.site.export_limit_mw,
            import_margin_mw=ctl.import_margin_mw,
            economic_dispatch=ctl.economic_dispatch if economic_dispatch is None
            else economic_dispatch,
            absorb_renewables=ctl.absorb_renewable_surplus if absorb_renewables is None
            else absorb_renewables,
            restore_ramp_mw_per_min=ctl.restore_ramp_mw_per_min if restore_ramp else None,
        )

    @cached_property
    def params(self) -> np.ndarray:
        """The rule stack's parameter record (``records.PARAMS_DTYPE``), as a 1-element array
        (built once per configuration; read only)."""
        p = np.zeros(1, PARAMS_DTYPE)
        r = p[0]
        r["import_limit_mw"], r["export_limit_mw"] = self.import_limit_mw, self.export_limit_mw
        r["import_margin_mw"] = self.import_margin_mw
        r["economic_dispatch"] = self.economic_dispatch
        r["absorb_renewables"] = self.absorb_renewables
        self.smoothing.write(r)
        return p

    @cached_property
    def group_arrays(self) -> Groups:
        """The per-group columns the rule stack reads (``records.Groups``)."""
        g = self.groups
        return group_columns(g.count, g.run_mw, g.sleep_mw, g.breakeven_per_hashprice,
                             g.deadband_usd_per_mwh, g.min_on_s, g.min_off_s, g.merit)

    @cached_property
    def group_tuple(self) -> tuple:
        """``group_arrays`` as a plain tuple (numba dispatches it faster: ``step``)."""
        return tuple(self.group_arrays)

    def restore_params(self, restore: np.ndarray) -> np.ndarray:
        """Write this config's restore-ramp parameters into a restore state array (in place,
        returned); the memory (ceiling, last time, miner power) is kept."""
        ramp = self.restore_ramp_mw_per_min
        restore[RS_ON] = 1.0 if ramp is not None else 0.0
        restore[RS_RAMP] = ramp / 60.0 if ramp is not None else 0.0
        restore[RS_MAX_DT] = self.restore_max_step_s
        return restore


def build_group_params(scenario: Scenario) -> GroupParams:
    """Arrays per miner group from the scenario and the catalog."""
    rows = []
    for grp in scenario.miners:
        model = get_model(grp.model)
        rows.append((grp, model))
    eff = np.array([m.efficiency_j_per_th for _, m in rows], dtype="float64")
    pue = np.array([g.pue for g, _ in rows], dtype="float64")
    fee = np.array([g.pool_fee_share for g, _ in rows], dtype="float64")
    # breakeven at the meter: revenue net of pool fee per MWh of facility energy (cooling incl.)
    per_hp = breakeven_price_usd_per_mwh(1.0, eff) * (1.0 - fee) / pue if rows else eff
    return GroupParams(
        names=tuple(g.name for g, _ in rows),
        count=np.array([g.count for g, _ in rows], dtype=np.int64),
        run_mw=miner_facility_mw(np.array([m.power_w for _, m in rows], dtype="float64"), pue),
        sleep_mw=np.array([m.sleep_power_w for _, m in rows], dtype="float64") / 1e6,
        hashrate_th_s=np.array([m.hashrate_th_s for _, m in rows], dtype="float64"),
        efficiency_j_per_th=eff,
        breakeven_per_hashprice=np.asarray(per_hp, dtype="float64"),
        deadband_usd_per_mwh=np.array([g.deadband_usd_per_mwh for g, _ in rows], dtype="float64"),
        min_on_s=np.array([g.min_on_minutes * 60 for g, _ in rows], dtype="float64"),
        min_off_s=np.array([g.min_off_minutes * 60 for g, _ in rows], dtype="float64"),
        pool_fee_share=fee,
        merit=np.argsort(eff, kind="stable").astype(np.int64),
    )


@dataclass
class ControllerState:
    """The controller's own memory between ticks (mutable, owned by one host)."""

    econ_on: np.ndarray  # bool per group: economics wants it running (hysteresis state)
    last_change_s: np.ndarray  # UNIX time [s] of the last economic switch per group
    running: np.ndarray  # miners running per group, int64
    # smoothing memory (``records.SMOOTH_DTYPE`` as float64, positions ``SS_*``)
    smooth: np.ndarray = field(default_factory=lambda: np.zeros(len(SMOOTH_DTYPE.names)))
    ai_buf: np.ndarray = field(default_factory=lambda: np.zeros(1))  # recent AI readings [MW]
    # restore ramp (``records.RESTORE_DTYPE`` as float64, positions ``RS_*``)
    restore: np.ndarray = field(default_factory=lambda: new_restore(0.0))

    @classmethod
    def initial(cls, config: ControllerConfig, time_s: float, running: bool = True,
                settled: bool = True) -> ControllerState:
        """All groups on (or off). ``settled``: minimum on/off times count as already served.
        The restore ramp starts unseeded from the miners' power in that state (its first tick
        holds them and takes the import it plans as the ceiling)."""
        n = len(config.groups.names)
        start = time_s - 1e12 if settled else time_s
        smooth, ai_buf = config.smoothing.new_state()
        run = config.groups.count.copy() if running else np.zeros(n, np.int64)
        restore = config.restore_params(new_restore(float(config.groups.power_mw(run).sum())))
        return cls(econ_on=np.full(n, running), last_change_s=np.full(n, start, dtype="float64"),
                   running=run, smooth=smooth, ai_buf=ai_buf, restore=restore)

    def copy(self) -> ControllerState:
        return ControllerState(self.econ_on.copy(), self.last_change_s.copy(), self.running.copy(),
                               self.smooth.copy(), self.ai_buf.copy(), self.restore.copy())

    def records(self) -> State:
        """The memory as the rule stack takes it: the same arrays, the smoothing and restore
        memory viewed as records (writes go through)."""
        return State(self.econ_on, self.last_change_s, self.running,
                     record(self.smooth, SMOOTH_DTYPE), self.ai_buf,
                     record(self.restore, RESTORE_DTYPE))

    @property
    def restore_seeded(self) -> bool:
        """Whether the restore ramp has a ceiling to ramp from."""
        return bool(math.isfinite(self.restore[RS_CEILING]))

    def restore_from_meter(self, time_s: float, import_mw: float, miners_mw: float) -> None:
        """Seed the restore ramp from a meter reading (live start, restart): the ceiling becomes
        the metered campus import, or the ceiling already held plus the ramp since its last
        tick if that is lower (a restart never steps up); the miner power is the metered one.
        A non-finite reading seeds nothing."""
        rs = self.restore
        if not (math.isfinite(import_mw) and math.isfinite(miners_mw)):
            return
        ceiling = rs[RS_CEILING]
        if math.isfinite(ceiling) and math.isfinite(rs[RS_LAST_T]):
            dt_s = min(max(time_s - rs[RS_LAST_T], 0.0), rs[RS_MAX_DT])
            import_mw = min(import_mw, ceiling + rs[RS_RAMP] * dt_s)
        rs[RS_CEILING] = import_mw
        rs[RS_MINERS] = miners_mw
        rs[RS_LAST_T] = time_s


def new_restore(miners_mw: float) -> np.ndarray:
    """A restore state array (``rules.RS_*``), unseeded, ramp off, with the miner power the
    controller starts from [MW]; ``ControllerConfig.restore_params`` sets the ramp."""
    rs = np.zeros(RS_SIZE)
    rs[RS_CEILING] = np.nan
    rs[RS_LAST_T] = np.nan
    rs[RS_MAX_DT] = np.inf
    rs[RS_MINERS] = miners_mw
    return rs


@dataclass(frozen=True)
class Snapshot:
    """What the controller sees at one tick (frozen). Powers in facility MW, import positive."""

    time_s: float  # UNIX time [s], UTC
    price_usd_per_mwh: float
    hashprice_usd_per_ph_day: float
    ai_load_mw: float  # facility power of the AI/HPC tenant
    renewable_mw: float = 0.0  # behind-the-meter generation
    cap_mw: float = float("inf")  # grid obligations: most the miners may draw
    floor_mw: float = 0.0  # grid obligations: least the miners must draw
    miner_measured_mw: float = float("nan")  # metered miner power; NaN = trust the commands
    battery_soc_mwh: float = 0.0  # battery state of charge (when the site has one)


@dataclass(frozen=True)
class Decision:
    """The controller's output for one tick."""

    running: np.ndarray  # miners running per group
    group_power_mw: np.ndarray
    miner_power_mw: float
    binding_rule: str
    reserve_up_mw: float = 0.0  # miner headroom held to fill an AI drop
    reserve_down_mw: float = 0.0  # running miner power held to shed on an AI rise
    battery_mw: float = 0.0  # battery setpoint, discharge positive
    plan_import_mw: float = float("nan")  # the import the controller plans for this tick


def step(config: ControllerConfig, state: ControllerState, snap: Snapshot) -> Decision:
    """Run one control cycle; updates ``state`` in place and returns the decision."""
    info = np.zeros(1, INFO_DTYPE)
    config.restore_params(state.restore)
    total, rule = step_arrays(
        config.params, config.group_tuple,
        (state.econ_on, state.last_change_s, state.running, state.smooth, state.ai_buf,
         state.restore),
        (float(snap.time_s), float(snap.price_usd_per_mwh), float(snap.hashprice_usd_per_ph_day),
         float(snap.ai_load_mw), float(snap.renewable_mw), float(snap.cap_mw),
         float(snap.floor_mw), float(snap.miner_measured_mw), float(snap.battery_soc_mwh)), info)
    out = dict(zip(INFO_DTYPE.names, info[0].item(), strict=True))  # one conversion
    group_mw = config.groups.power_mw(state.running)
    return Decision(running=state.running.copy(), group_power_mw=group_mw,
                    miner_power_mw=float(total), binding_rule=RULE_NAMES[rule],
                    reserve_up_mw=out["reserve_up_mw"], reserve_down_mw=out["reserve_down_mw"],
                    battery_mw=out["battery_mw"], plan_import_mw=out["plan_import_mw"])
