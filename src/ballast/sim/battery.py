"""A battery following a schedule at 1 min or coarser (``sim.engine``, ``simulate(schedule=...)``).

The rolling day-ahead schedule (``optimize.schedule``) sets the battery's terminal power per
interval; the engine plays it through the battery's physics (``physics.battery_*``: the same
one-way efficiency as the optimiser and the fine engine), each interval clipped to what the
battery can do (power, stored energy, free room) and to what the site allows whatever the
miners do: a charge never takes the import over its limit with every miner asleep, and a
discharge never exports more than the export limit plus the renewables that can be curtailed.
The rule controller then sees the battery as part of the site's inflexible load.
"""

from __future__ import annotations

import numpy as np

from ballast.physics import battery_max_discharge_mw, battery_stored_change_mwh


def follow_battery(
    schedule_mw: np.ndarray,
    power_mw: float,
    energy_mwh: float,
    one_way_efficiency: float,
    initial_soc_mwh: float,
    step_h: float,
    max_charge_mw: np.ndarray,
    max_discharge_mw: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The battery's terminal power [MW, discharge positive] and state of charge at the end of
    each interval [MWh] when it follows ``schedule_mw`` (same sign), clipped per interval to
    ``power_mw``, the stored energy, the free room, and the site's ``max_charge_mw`` /
    ``max_discharge_mw`` (each >= 0). Hand-written: a scan over the intervals, the state of
    charge carried from one to the next (no library call states it)."""
    n = len(schedule_mw)
    battery_mw = np.empty(n)
    soc_mwh = np.empty(n)
    soc = float(initial_soc_mwh)
    for t in range(n):
        b = float(schedule_mw[t])
        if b > 0.0:
            b = min(
                b,
                power_mw,
                max(max_discharge_mw[t], 0.0),
                battery_max_discharge_mw(soc, step_h, one_way_efficiency),
            )
        else:
            room_mw = (energy_mwh - soc) / (step_h * one_way_efficiency)
            b = -min(-b, power_mw, max(max_charge_mw[t], 0.0), max(room_mw, 0.0))
        soc = min(max(soc + battery_stored_change_mwh(b, step_h, one_way_efficiency), 0.0), energy_mwh)
        battery_mw[t] = b
        soc_mwh[t] = soc
    return battery_mw, soc_mwh
