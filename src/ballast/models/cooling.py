"""Cooling: PUE and WUE, constant or as a function of ambient temperature.

Defaults (docs/sources.md#facilities): industry PUE ~1.56-1.58 (Uptime Institute Global Data Center
Survey 2023-24), new large builds <= 1.3; WUE industry ~1.8-1.9 L/kWh, leaders 0.2-0.3.
"""

from __future__ import annotations

import numpy as np


def pue_at_temperature(ambient_c, pue_design: float, design_temp_c: float = 25.0,
                       pue_per_c: float = 0.005, pue_min: float = 1.03):
    """PUE [-] that rises ``pue_per_c`` per degree above ``design_temp_c`` and falls below it,
    never under ``pue_min``."""
    pue = pue_design + pue_per_c * (np.asarray(ambient_c, dtype="float64") - design_temp_c)
    return np.maximum(pue, pue_min)


def wue_at_temperature(ambient_c, wue_design_l_per_kwh: float, design_temp_c: float = 25.0,
                       wue_per_c_l_per_kwh: float = 0.03):
    """WUE [L/kWh of IT energy]: evaporative cooling uses more water on hot days."""
    wue = wue_design_l_per_kwh + wue_per_c_l_per_kwh * (
        np.asarray(ambient_c, dtype="float64") - design_temp_c)
    return np.maximum(wue, 0.0)


def water_m3(it_energy_mwh, wue_l_per_kwh):
    """Site water use [m3] = WUE [L/kWh] x IT energy [MWh] (1 L/kWh x 1 MWh = 1 m3)."""
    return np.asarray(it_energy_mwh) * np.asarray(wue_l_per_kwh)
