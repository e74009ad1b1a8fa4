"""The runtime's battery: read it before the controller, command it after, and keep it safe.

Each tick the runtime calls :meth:`BatteryLink.read` (state of charge into the snapshot) and,
after ``step``, :meth:`BatteryLink.command` with :func:`safe_setpoint_mw` of the controller's
``battery_mw``. Safety:

- a battery that does not answer in time, refuses (fault state, frozen heartbeat) or reports a
  state of charge or power outside its nameplate is *unavailable*: the controller runs as if
  the site had no battery (``without_battery``: setpoint 0, the miners hold the limit alone);
- while it is unavailable, the charging power it was last commanded counts as inflexible load
  until the inverter's revert time (``battery.revert_s``) has passed, after which it idles by
  itself: a battery that stops answering while charging cannot push the import over the limit;
- the setpoint never charges into the import limit: charging is held to the room left below
  the limit, less ``battery.charge_headroom_mw``, by the larger of the metered import (without
  the battery) and the controller's planned import, so at the limit the battery may only
  discharge; blind (no fresh meter) it may not charge; nor does it discharge into an export
  beyond the export limit;
- the safe state (stale meter), the fail-safe (failed ticks) and a shutdown command 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ballast.control import ControllerConfig
from ballast.live.interfaces import Battery
from ballast.live.site_config import BatteryConfig
from ballast.live.store import EventRecord

PLAUSIBLE_SHARE = 0.02  # a reading 2 % beyond nameplate (rounding, meter error) is still real
# An unavailable battery may first reconnect and walk the SunSpec model chain (five requests
# or so): its calls get this many timeouts. Only the battery's own loop waits for them.
RECONNECT_TIMEOUTS = 4


def without_battery(cfg: ControllerConfig) -> ControllerConfig:
    """``cfg`` with no battery: the controller dispatches none and credits none to its plan."""
    return replace(cfg, smoothing=replace(cfg.smoothing, battery_power_mw=0.0, battery_energy_mwh=0.0))


def check_battery_config(cfg: ControllerConfig, site_battery: BatteryConfig | None, where: str) -> None:
    """Refuse (ValueError naming the field) a controller battery the site config does not name
    or whose size differs from the site config's ``battery``."""
    power, energy = cfg.smoothing.battery_power_mw, cfg.smoothing.battery_energy_mwh
    if power <= 0 or energy <= 0:
        return
    if site_battery is None:
        raise ValueError(
            f"{where}: the scenario has a battery ({power:g} MW, {energy:g} MWh) "
            "but the site config names none (battery: host, port, power_mw, "
            "energy_mwh)"
        )
    for field, ours, theirs in (
        ("power_mw", site_battery.power_mw, power),
        ("energy_mwh", site_battery.energy_mwh, energy),
    ):
        if not math.isclose(ours, theirs, rel_tol=1e-6):
            raise ValueError(
                f"{where}: battery.{field} is {ours:g} but the scenario's battery has {theirs:g}"
            )


def safe_setpoint_mw(
    battery_mw: float,
    *,
    power_mw: float,
    import_limit_mw: float,
    margin_mw: float,
    export_limit_mw: float,
    metered_import_mw: float,
    battery_now_mw: float,
    planned_import_mw: float,
    headroom_mw: float = 0.0,
) -> float:
    """The setpoint to send [MW, discharge positive]: the controller's ``battery_mw`` within
    the inverter's ``power_mw``. The import without the battery is judged both ways, metered
    (``metered_import_mw`` + ``battery_now_mw``) and planned (``planned_import_mw``): charging
    only into the room below ``import_limit_mw`` - ``margin_mw`` - ``headroom_mw`` left by the
    larger, discharging no further than ``export_limit_mw`` of export below the smaller. Blind
    (a NaN metered import) it may not charge; a NaN ``battery_mw`` is 0."""
    p = battery_mw if battery_mw == battery_mw else 0.0
    p = min(max(p, -power_mw), power_mw)
    without_mw = metered_import_mw + (battery_now_mw if math.isfinite(battery_now_mw) else 0.0)
    known = [x for x in (without_mw, planned_import_mw) if math.isfinite(x)]
    if p > 0.0:
        return min(p, max(0.0, min(known) + export_limit_mw)) if known else p
    if p == 0.0:
        return 0.0
    if not math.isfinite(without_mw):
        return 0.0
    headroom = import_limit_mw - margin_mw - headroom_mw - max(known)
    return max(p, -max(0.0, headroom))


class BatteryLink:
    """The runtime's view of one battery inverter. A loop of its own (:meth:`run`) sends the
    latest submitted setpoint and reads the battery, so a slow or dead inverter never delays a
    tick or the miner commands. Times: ``now`` wall (event stamps), ``now_m`` monotonic."""

    def __init__(self, device: Battery, cfg: BatteryConfig) -> None:
        self.device, self.cfg = device, cfg
        self.available = False
        self.reason: str | None = "not read yet"
        self.soc_mwh = math.nan
        self.power_mw = math.nan  # measured, discharge positive
        self.read_ok_s: float | None = None  # monotonic time of the last usable reading
        self.setpoint_mw = 0.0  # last setpoint the device read back
        self.holding_mw = 0.0  # most charging setpoint the device may hold (unverified too)
        self.holding_s: float | None = None  # when it may have been written (monotonic)
        self.failures = 0
        self.events: list[EventRecord] = []  # drained into the next tick
        self._wanted: float | None = None
        self._wake = asyncio.Event()

    def _timeout_s(self) -> float:
        return self.cfg.timeout_s * (1 if self.available else RECONNECT_TIMEOUTS)

    def _lost(self, why: str, now: float) -> None:
        self.failures += 1
        if self.available or self.reason == "not read yet":
            self.events.append(
                EventRecord(
                    now,
                    "battery_unavailable",
                    f"battery unavailable: {why}; setpoint 0, the miners hold the limit alone",
                    {"reason": why, "holding_mw": self.holding_mw},
                )
            )
        self.available, self.reason = False, why

    def _plausible(self, soc_mwh: float, power_mw: float) -> str | None:
        e, p = self.cfg.energy_mwh, self.cfg.power_mw
        if not (math.isfinite(soc_mwh) and -PLAUSIBLE_SHARE * e <= soc_mwh <= (1 + PLAUSIBLE_SHARE) * e):
            return f"state of charge {soc_mwh!r} MWh is outside 0-{e:g} MWh"
        if not (math.isfinite(power_mw) and abs(power_mw) <= (1 + PLAUSIBLE_SHARE) * p):
            return f"power {power_mw!r} MW is beyond the nameplate {p:g} MW"
        return None

    async def read(self, now: float, now_m: float) -> float | None:
        """Read the battery; its state of charge [MWh] when usable, else None (unavailable;
        an event marks the change)."""
        try:
            r = await asyncio.wait_for(self.device.read(), self._timeout_s())
        except Exception as e:
            self._lost(f"read failed: {e!r}"[:300], now)
            return None
        why = self._plausible(float(r.soc_mwh), float(r.power_mw))
        if why is not None:
            self._lost(why, now)
            return None
        self.soc_mwh, self.power_mw, self.read_ok_s = float(r.soc_mwh), float(r.power_mw), now_m
        if not self.available:
            self.events.append(
                EventRecord(
                    now,
                    "battery_available",
                    "battery answers: dispatched by the controller",
                    {"soc_mwh": self.soc_mwh, "was": self.reason},
                )
            )
        self.available, self.reason = True, None
        return self.soc_mwh

    def fresh_soc(self, now_m: float, max_age_s: float) -> float | None:
        """The state of charge [MWh] when the battery is available and was read within
        ``max_age_s``; else None (the controller runs without it)."""
        if not self.available or self.read_ok_s is None or now_m - self.read_ok_s > max_age_s:
            return None
        return self.soc_mwh

    def residual_charge_mw(self, now_m: float) -> float:
        """Charging power [MW, >= 0] an unavailable battery may still draw: the most charging
        setpoint it may hold, until ``revert_s`` after it may have been written (then the
        inverter idles by itself)."""
        if self.available or self.holding_s is None or self.holding_mw >= 0.0:
            return 0.0
        return -self.holding_mw if now_m - self.holding_s <= self.cfg.revert_s else 0.0

    async def command(self, setpoint_mw: float, now: float, now_m: float) -> bool:
        """Send ``setpoint_mw`` and verify it; False (and unavailable) when it fails."""
        try:
            held = await asyncio.wait_for(self.device.set_power_mw(setpoint_mw), self._timeout_s())
        except Exception as e:
            # Unverified. A charge may have been written: the device may hold it (or the old
            # charge, whichever is more) until revert_s from now. A write of no charge either
            # took (no charge) or did not (the old charge lapses on its own timer).
            if setpoint_mw < 0.0:
                still = self.holding_s is not None and now_m - self.holding_s <= self.cfg.revert_s
                self.holding_mw = min(setpoint_mw, self.holding_mw if still else 0.0)
                self.holding_s = now_m
            self._lost(f"setpoint {setpoint_mw:g} MW not verified: {e!r}"[:300], now)
            return False
        self.setpoint_mw = self.holding_mw = float(held)
        self.holding_s = now_m
        return True

    def submit(self, setpoint_mw: float) -> None:
        """Ask the battery loop to send ``setpoint_mw`` now (a newer one replaces it)."""
        self._wanted = setpoint_mw
        self._wake.set()

    async def cycle(self, now: float, now_m: float) -> None:
        """Send the submitted setpoint (if any), then read the battery."""
        if self._wanted is not None:
            p, self._wanted = self._wanted, None
            await self.command(p, now, now_m)
        await self.read(now, now_m)

    async def run(self, clock: Callable[[], float], monotonic: Callable[[], float], period_s: float) -> None:
        """Cycle on every submit and at least every ``period_s``, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), period_s)
            self._wake.clear()
            await self.cycle(clock(), monotonic())

    def drain_events(self) -> list[EventRecord]:
        out, self.events = self.events, []
        return out

    def document(self) -> dict[str, Any]:
        """The battery in the tick document (non-finite values become null there)."""
        return {
            "available": self.available,
            "reason": self.reason,
            "soc_mwh": self.soc_mwh,
            "soc_share": self.soc_mwh / self.cfg.energy_mwh,
            "power_mw": self.power_mw,
            "setpoint_mw": self.setpoint_mw,
            "failures": self.failures,
        }
