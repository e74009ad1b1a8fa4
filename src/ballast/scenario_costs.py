# ruff: noqa: E501  (one field per line: descriptions are the schema documentation)
"""The scenario's ``costs:`` section: what the campus pays besides energy at real time.

Every cost here enters ``net_margin_usd`` for Ballast and every baseline, each as its own KPI
row (``transmission_cost_usd``, ``supply_contract_usd``, ``fixed_cost_usd``); the arithmetic is
in ``ballast/costs.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ballast.documents import StrictModel

# Placeholder ERCOT transmission rate [USD/kW-yr]: quoted 50-150 (secondary source,
# docs/sources.md#ercot-4cp); a site's real figure is its TDSP tariff.
DEFAULT_TRANSMISSION_USD_PER_KW_YEAR = 60.0
# Sanity bound that catches a unit mistake (USD/MW-yr typed as USD/kW-yr): far above any tariff.
MAX_TRANSMISSION_USD_PER_KW_YEAR = 10_000.0


class SupplyContract(StrictModel):
    """A fixed-price supply contract for a flat block, round the clock.

    Settlement ``fixed_block``: the block's MWh are paid at the fixed price in every interval
    (take-or-pay); energy imported above the block is bought at real time, and block energy not
    taken is sold back at real time (power credits, docs/sources.md#power-credits). Net of the
    energy cost at real time, the contract adds ``(price - real time) x volume x interval``:
    positive when real time is below the contract price, negative when it is above (Uri)."""

    price_usd_per_mwh: float = Field(
        ge=-1000,
        le=100_000,
        description="Fixed contract price [USD/MWh]. Between -1,000 and 100,000 (catches a unit mistake).",
    )
    volume_mw: float = Field(
        gt=0,
        le=100_000,
        description="Contracted flat block [MW], every interval of the run. At most 100,000 (as site.import_limit_mw).",
    )
    settlement: Literal["fixed_block"] = Field(
        "fixed_block",
        description="How the contract settles. fixed_block (the only one): the block at the fixed price, everything else at real time (imports above the block bought, block energy not taken sold back).",
    )


class Costs(StrictModel):
    """Costs beyond energy at real time; each enters net_margin_usd as its own KPI row."""

    transmission_usd_per_kw_year: float | None = Field(
        None,
        ge=0,
        le=MAX_TRANSMISSION_USD_PER_KW_YEAR,
        description="ERCOT transmission (4CP) rate [USD/kW-yr], charged on the site's mean import in the year's four June-September 15-minute system peaks (found in transmission_load_source) and accrued evenly over the year (x interval / 8760 h). A year holding all its peak intervals is settled; one holding some is charged from those (an estimate, noted); the intervals of a year holding none accrue at the nearest charged year (noted). A run holding no peak interval of any year has no 4CP charge: 0, with a note giving the basis (ERCOT bills the charge monthly through the year after the peaks that set it, so such a run neither sets a charge nor changes the one billed in it). Never NaN. The run's 4CP-month hours of a year the load file has no peaks for are refused when no other year is charged. Default none: no transmission charge, said in the run's notes; with programs.coincident_peak the program's rate (default 60, a placeholder: quoted 50-150, docs/sources.md#ercot-4cp; use your TDSP tariff). At most 10,000 (catches USD/MW-yr).",
    )
    transmission_load_source: str | None = Field(
        None,
        description="ERCOT system load file (hourly or finer) whose June-September monthly peak hours are the 4CP intervals. Default: programs.coincident_peak.load_source if given, else every bundled ERCOT system load file (ercot_system_hourly_*).",
    )
    transmission_load_column: str = Field(
        "ercot_load_mw", description="System load column [MW]. Default ercot_load_mw."
    )
    supply_contract: SupplyContract | None = Field(
        None, description="Fixed-price supply contract. Default none (all energy at real time)."
    )
    fixed_usd_per_year: float = Field(
        0.0,
        ge=0,
        le=1e11,
        description="Other fixed costs [USD/yr] (staff, insurance, property tax, O&M), accrued evenly (x interval / 8760 h). Default 0. At most 1e11.",
    )
