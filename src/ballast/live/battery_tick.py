"""The battery hooks of a live tick (``live.battery_link`` holds the device loop): what the
controller may assume of the battery this tick, the verified setpoint sent after the decision,
and the battery's part of the tick document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ballast.control import ControllerConfig, Snapshot
from ballast.live.battery_link import safe_setpoint_mw, without_battery
from ballast.live.store import EventRecord
from ballast.live.tickdoc import nulls, num
from ballast.physics import import_mw as net_import_mw

if TYPE_CHECKING:
    from ballast.live.runtime import Runtime


@dataclass(frozen=True)
class BatteryInputs:
    """The controller config this tick (without the battery when its state is unknown), the
    state of charge [MWh] (None: unknown), and the charge an unreachable battery may still draw,
    counted as inflexible load [MW]."""

    cfg: ControllerConfig
    soc_mwh: float | None
    load_mw: float


def battery_inputs(rt: Runtime, now_m: float, events: list[EventRecord]) -> BatteryInputs:
    """A fresh usable state of charge, or no battery (setpoint 0) and its residual charge as
    load. Appends the battery loop's events to ``events``."""
    if rt.battery is None:
        return BatteryInputs(rt.base_cfg, 0.0, 0.0)
    events += rt.battery.drain_events()
    soc = rt.battery.fresh_soc(now_m, 2 * rt.site.tick_s + rt.battery.cfg.timeout_s)
    if soc is None:
        return BatteryInputs(without_battery(rt.base_cfg), None, rt.battery.residual_charge_mw(now_m))
    return BatteryInputs(rt.base_cfg, soc, 0.0)


def battery_command(
    rt: Runtime,
    inputs: BatteryInputs,
    cfg: ControllerConfig,
    snap: Snapshot,
    decision: Any,
    unsafe: bool,
    import_mw: float,
    renew_mw: float,
) -> None:
    """Submit the controller's setpoint, never charging over the import limit; 0 in the safe
    state or when the state of charge is unknown."""
    if rt.battery is None:
        return
    rt.battery.submit(
        0.0
        if unsafe or inputs.soc_mwh is None
        else safe_setpoint_mw(
            decision.battery_mw,
            power_mw=rt.battery.cfg.power_mw,
            import_limit_mw=cfg.import_limit_mw,
            margin_mw=cfg.import_margin_mw,
            export_limit_mw=cfg.export_limit_mw,
            metered_import_mw=import_mw,
            battery_now_mw=rt.battery.power_mw,
            planned_import_mw=net_import_mw(snap.ai_load_mw + decision.miner_power_mw, renew_mw),
            headroom_mw=rt.battery.cfg.charge_headroom_mw,
        )
    )


def battery_document(rt: Runtime, doc: dict[str, Any]) -> None:
    """The battery's state and power in the tick document."""
    if rt.battery is None:
        return
    doc["battery"] = nulls(rt.battery.document())
    doc["power_mw"]["battery"] = num(rt.battery.power_mw) if rt.battery.available else None
