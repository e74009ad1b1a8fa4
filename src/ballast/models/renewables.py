"""Behind-the-meter renewables: scale an ERCOT fleet profile to a plant.

Normalisation: capacity factor = ERCOT fleet MW / the maximum hourly MW of the same calendar
year in the data (installed capacity is not in the bundled data, so this leans high; scale a
plant with ``capacity_factor_scale``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def capacity_factor_by_year_max(fleet_mw: pd.Series) -> pd.Series:
    """Capacity factor [0-1] = MW / the maximum MW of that UTC calendar year."""
    yearly_max = fleet_mw.groupby(fleet_mw.index.year).transform("max")
    return (fleet_mw / yearly_max).clip(lower=0.0).rename("capacity_factor")


def plant_output_mw(capacity_factor, capacity_mw: float, capacity_factor_scale: float = 1.0):
    """Plant output [MW] = capacity [MW] x min(1, capacity factor x scale)."""
    cf = np.clip(np.asarray(capacity_factor, dtype="float64") * capacity_factor_scale, 0.0, 1.0)
    return cf * capacity_mw
