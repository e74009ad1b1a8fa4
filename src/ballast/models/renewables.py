"""Behind-the-meter renewables: scale an ERCOT fleet profile to a plant.

Two normalisations of the fleet MW to a capacity factor [0-1]:

- ``installed_capacity`` (default): fleet MW / ERCOT's installed MW in force at that instant,
  linearly interpolated between ERCOT's published as-of figures (bundled 2023-2025; ERCOT's
  fleet grows in small daily steps, so the line between quarterly samples is the best estimate
  in force). Before the first figure the first is held, after the last the last: the fleet only
  grew, so a factor before 2023 is understated (conservative), never flattered.
- ``year_max``: fleet MW / the maximum hourly MW of the same UTC calendar year. The year's best
  hour is well below installed capacity (wind 2023: 26.2 GW of 36.9-37.7 GW), so this leans
  high: 2024 wind 46 % against 32.5 % by installed capacity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def capacity_factor_by_year_max(fleet_mw: pd.Series) -> pd.Series:
    """Capacity factor [0-1] = MW / the maximum MW of that UTC calendar year in ``fleet_mw``
    (pass whole years: a shorter series gives the maximum of what it holds)."""
    yearly_max = fleet_mw.groupby(fleet_mw.index.year).transform("max")
    return (fleet_mw / yearly_max).clip(lower=0.0).rename("capacity_factor")


def installed_mw_at(index: pd.DatetimeIndex, installed_mw: pd.Series) -> np.ndarray:
    """Installed MW in force at each instant of ``index``: linear between the as-of figures of
    ``installed_mw`` (a UTC-indexed series), the first held before them, the last after."""
    x = index.as_unit("ns").asi8
    xp = pd.DatetimeIndex(installed_mw.index).as_unit("ns").asi8
    return np.interp(x, xp, installed_mw.to_numpy(dtype="float64"))


def capacity_factor_by_installed(fleet_mw: pd.Series, installed_mw: pd.Series) -> pd.Series:
    """Capacity factor [0-1] = fleet MW / installed MW in force at each instant."""
    cap = installed_mw_at(pd.DatetimeIndex(fleet_mw.index), installed_mw)
    return (fleet_mw / cap).clip(lower=0.0).rename("capacity_factor")


def plant_output_mw(capacity_factor, capacity_mw: float, capacity_factor_scale: float = 1.0):
    """Plant output [MW] = capacity [MW] x min(1, capacity factor x scale)."""
    cf = np.clip(np.asarray(capacity_factor, dtype="float64") * capacity_factor_scale, 0.0, 1.0)
    return cf * capacity_mw
