"""The plan document's ``optimize`` section: the conversion optimiser's decision (MW converted
per year in blocks, miners kept as ballast), its objective and its constraints. The optimiser
itself is ``ballast.plan.optimizer``; docs/plan.md#optimizer describes the method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ballast.documents import StrictModel

if TYPE_CHECKING:  # the Plan imports this module
    from ballast.plan.document import Plan


class Optimize(StrictModel):
    """The conversion optimiser: a stochastic MILP over seeded BTC price paths (HiGHS)."""

    name: str = Field(
        "optimal", min_length=1, description="Name of the optimal strategy in the table. Default optimal."
    )
    block_mw: float = Field(
        25.0,
        gt=0,
        description="Grid MW converted per block [MW]; each year converts a whole number of blocks. Default 25.",
    )
    objective: Literal["expected_npv", "cvar"] = Field(
        "expected_npv",
        description="expected_npv: maximise the mean NPV over the scenarios; cvar: maximise the mean NPV of the worst cvar_level share of them (Rockafellar-Uryasev). Default expected_npv.",
    )
    cvar_level: float = Field(
        0.1, gt=0, le=1, description="Share of the worst scenarios the CVaR averages [-]. Default 0.1."
    )
    scenarios: int = Field(
        200,
        ge=1,
        le=5000,
        description="Price paths the MILP optimises over [-]: the first ones of bitcoin.paths (same seed). Default 200.",
    )
    allow_ballast: bool = Field(
        True,
        description="Whether the optimiser may keep a converted block's miners beside the AI tenant as ballast. Default true.",
    )
    max_ballast_mw: float | None = Field(
        None,
        ge=0,
        description="Most grid MW of ballast miners kept [MW]. Default: no limit beyond the MW converted.",
    )
    ballast_uptime: float = Field(
        0.5,
        ge=0,
        le=1,
        description="As a hybrid strategy's: share of the year ballast miners beyond the spare interconnect MW hash [-]; at most mining.uptime. Assumption; default 0.5.",
    )
    ballast_value_usd_per_mw_yr: float = Field(
        0.0,
        ge=0,
        description="As a hybrid strategy's: grid-program and smoothing value of ballast miners [USD per MW per year]. Default 0.",
    )
    lead_time_years: int = Field(
        0,
        ge=0,
        le=20,
        description="Years from start_year before the first block can start conversion (permits, transformers) [years]. Default 0.",
    )
    capex_budget_usd_per_yr: float | list[float] | None = Field(
        None,
        description="Conversion capex allowed per calendar year [USD]: one number for every year or one per year of the horizon. Default: no limit.",
    )
    tenant_demand_mw_it_per_yr: float | list[float] | None = Field(
        None,
        description="MW of critical IT the market will lease per year (new leases starting that year) [MW]: one number or one per year. Default: no limit.",
    )
    min_convert_mw: float = Field(
        0.0,
        ge=0,
        description="Grid MW that must be converted (started) by min_convert_by_year, e.g. a signed tenant [MW]. Default 0.",
    )
    min_convert_by_year: int | None = Field(
        None,
        description="Year by which min_convert_mw must be started. Default: the last year a lease can start within the plan.",
    )
    mip_rel_gap: float = Field(
        1e-6, ge=0, le=0.1, description="Relative MIP gap at which HiGHS stops [-]. Default 1e-6 (optimal)."
    )
    time_limit_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="HiGHS time limit [s]; an optimum not proven by then is an error. Default 60.",
    )


def per_year(value: float | list[float] | None, n_years: int) -> list[float] | None:
    """A per-year limit as one value per year (None: no limit)."""
    if value is None:
        return None
    return [float(value)] * n_years if isinstance(value, int | float) else [float(v) for v in value]


def last_start_year(plan: Plan) -> int:
    """The last year a block can start and still lease within the plan."""
    return plan.start_year + plan.horizon_years - 1 - plan.hosting.build_years


def optimize_problems(plan: Plan) -> list[str]:
    """The optimize section's cross-field problems, one ``field: reason`` line each."""
    o = plan.optimize
    if o is None:
        return []
    problems = []
    n = plan.horizon_years
    for field in ("capex_budget_usd_per_yr", "tenant_demand_mw_it_per_yr"):
        value = getattr(o, field)
        if isinstance(value, list) and len(value) != n:
            problems.append(f"optimize.{field}: {len(value)} values for a {n}-year horizon; give one or {n}")
        values = per_year(value, n) or []
        if any(v < 0 for v in values):
            problems.append(f"optimize.{field}: must be >= 0 in every year")
    if o.name in {s.name for s in plan.strategies}:
        problems.append(f"optimize.name: {o.name!r} is already a strategy's name")
    if o.block_mw > plan.site.mining_mw:
        problems.append(
            f"optimize.block_mw: a {o.block_mw:g} MW block exceeds site.mining_mw ({plan.site.mining_mw:g} MW)"
        )
    if o.ballast_uptime > plan.mining.uptime:
        problems.append(
            f"optimize.ballast_uptime: {o.ballast_uptime:g} exceeds mining.uptime ({plan.mining.uptime:g}); ballast miners run in the AI load's headroom, at most as much as the fleet"
        )
    first = plan.start_year + o.lead_time_years
    last = last_start_year(plan)
    if first > last:
        problems.append(
            f"optimize.lead_time_years: conversion could start in {first} at the earliest, but a lease must start by {plan.start_year + n - 1} (hosting.build_years {plan.hosting.build_years}), so by {last}"
        )
    if o.min_convert_by_year is not None and not plan.start_year <= o.min_convert_by_year <= last:
        problems.append(
            f"optimize.min_convert_by_year: {o.min_convert_by_year} is outside {plan.start_year}-{last} (the years a block can start and lease within the plan)"
        )
    if o.min_convert_mw > plan.site.mining_mw:
        problems.append(
            f"optimize.min_convert_mw: {o.min_convert_mw:g} MW exceeds site.mining_mw ({plan.site.mining_mw:g} MW)"
        )
    return problems
