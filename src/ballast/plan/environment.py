"""CO2 and water over a site's life: the plan document's ``environment`` section and the energy,
location-based CO2 and water of a strategy per year (docs/plan.md#environment).

Energy drawn per year = mining and ballast miners while they hash (``model.cash_flows``) + the
AI facility (IT MW leased x ``ai_load_factor`` x hosting PUE x 8,766 h). CO2 [t] = energy [MWh]
x grid intensity [gCO2/kWh] / 1000 (location-based: the grid's average, every MWh imported).
Water [m3] = the AI facility's IT energy x WUE (``models.cooling.water_m3``); air-cooled miners
use none.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from ballast.documents import StrictModel
from ballast.models.cooling import water_m3

if TYPE_CHECKING:  # the Plan imports this module
    from ballast.plan.document import Plan

CARBON_HISTORY = "bundled:ercot_carbon_intensity_hourly_2021_2024"
CARBON_YEAR = 2024  # the last full year of the bundled series


class Environment(StrictModel):
    """CO2 and water accounting (location-based)."""

    carbon_intensity_g_per_kwh: float | None = Field(
        None,
        ge=0,
        le=2000,
        description="Grid carbon intensity in the first year [gCO2/kWh], location-based. Default: the mean of the bundled ERCOT hourly series over 2024 (Electricity Maps; about 303; docs/sources.md#facilities).",
    )
    carbon_change_per_yr: float = Field(
        0.0,
        ge=-0.5,
        le=0.5,
        description="Change of the intensity per year [-]. Assumption; default 0 (the bundled ERCOT series fell from about 357 in 2021 to 303 in 2024, about -5 % a year).",
    )
    wue_l_per_kwh: float = Field(
        0.5,
        ge=0,
        le=10,
        description="AI facility water use effectiveness [L per kWh of IT energy]. Default 0.5, the scenario's default (docs/sources.md#facilities: industry average 1.8-1.9, leaders 0.2-0.3).",
    )
    ai_load_factor: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Mean share of its leased IT MW the tenant draws [-]. Assumption; default 1 (an upper bound).",
    )


@lru_cache(maxsize=4)
def bundled_intensity_g_per_kwh(source: str = CARBON_HISTORY, year: int = CARBON_YEAR) -> float:
    """Mean grid carbon intensity [gCO2/kWh] of one calendar year of a bundled hourly series."""
    from ballast.data.loaders import read_series

    s = read_series(source, "carbon_intensity_g_per_kwh")
    return float(s[s.index.year == year].mean())


def intensity_g_per_kwh(plan: Plan) -> np.ndarray:
    """Grid carbon intensity per year of the plan [gCO2/kWh]."""
    e = plan.environment
    first = e.carbon_intensity_g_per_kwh
    if first is None:
        first = bundled_intensity_g_per_kwh()
    return first * (1.0 + e.carbon_change_per_yr) ** np.arange(plan.horizon_years)


def footprint(plan: Plan, it_mw, mining_energy_mwh) -> dict[str, np.ndarray]:
    """Energy [MWh], CO2 [t] and water [m3] per year, from the IT MW leased per year and the
    miners' energy (shape (S, years))."""
    from ballast.plan.model import HOURS_PER_YEAR

    e = plan.environment
    it_mwh = np.asarray(it_mw) * e.ai_load_factor * HOURS_PER_YEAR
    ai_mwh = it_mwh * plan.hosting.pue
    shape = np.shape(mining_energy_mwh)
    energy = mining_energy_mwh + ai_mwh
    return {
        "ai_energy_mwh": np.broadcast_to(ai_mwh, shape),
        "energy_mwh": energy,
        "co2_t": energy * intensity_g_per_kwh(plan) / 1000.0,
        "water_m3": np.broadcast_to(water_m3(it_mwh, e.wue_l_per_kwh), shape),
    }
