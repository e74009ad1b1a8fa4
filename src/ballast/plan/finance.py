"""Finance over a site's life as pure functions over arrays: MACRS and straight-line
depreciation, tax, cash flows, NPV, IRR and payback.

Conventions (REopt's names: ``npv``, ``irr``, ``simple_payback_years``): cash flows are nominal
USD per year, the last axis is the year (index 0 = the plan's first calendar year), a year's
cash flow is booked at the end of that year, and NPV is valued at the start of year 0. NPV and
IRR come from numpy-financial; payback is the only thing written here (no library has it).
"""

from __future__ import annotations

import numpy as np
import numpy_financial as npf

# IRS Publication 946 (2024), "How To Depreciate Property", Appendix A, Table A-1: MACRS General
# Depreciation System, half-year convention; 3-, 5-, 7- and 10-year property 200 % declining
# balance, 15- and 20-year property 150 % declining balance, each switching to straight line.
# Percent of the depreciable basis per recovery year (docs/sources.md#macrs). Computer equipment
# (ASIC miners, servers) is 5-year property; data-center building services are 15- or 39-year.
MACRS_TABLE_A1_PCT: dict[int, tuple[float, ...]] = {
    3: (33.33, 44.45, 14.81, 7.41),
    5: (20.00, 32.00, 19.20, 11.52, 11.52, 5.76),
    7: (14.29, 24.49, 17.49, 12.49, 8.93, 8.92, 8.93, 4.46),
    10: (10.00, 18.00, 14.40, 11.52, 9.22, 7.37, 6.55, 6.55, 6.56, 6.55, 3.28),
    15: (5.00, 9.50, 8.55, 7.70, 6.93, 6.23, 5.90, 5.90, 5.91, 5.90, 5.91, 5.90, 5.91, 5.90, 5.91, 2.95),
    20: (
        3.750,
        7.219,
        6.677,
        6.177,
        5.713,
        5.285,
        4.888,
        4.522,
        4.462,
        4.461,
        4.462,
        4.461,
        4.462,
        4.461,
        4.462,
        4.461,
        4.462,
        4.461,
        4.462,
        4.461,
        2.231,
    ),
}


def macrs_rates(recovery_years: int) -> np.ndarray:
    """MACRS GDS half-year rates [fraction of basis] per year (Pub 946 Table A-1); length
    ``recovery_years + 1``."""
    if recovery_years not in MACRS_TABLE_A1_PCT:
        raise ValueError(
            f"MACRS recovery period {recovery_years} years is not in IRS Pub 946 "
            f"Table A-1; use one of {sorted(MACRS_TABLE_A1_PCT)}"
        )
    return np.asarray(MACRS_TABLE_A1_PCT[recovery_years]) / 100.0


def straight_line_rates(recovery_years: int) -> np.ndarray:
    """Straight-line rates [fraction of basis]: 1/N in each of N years (full-year convention)."""
    if recovery_years < 1:
        raise ValueError(f"straight-line recovery period must be >= 1 year, got {recovery_years}")
    return np.full(recovery_years, 1.0 / recovery_years)


def depreciation_usd(placed_in_service_usd, rates) -> np.ndarray:
    """Depreciation per year [USD] of assets placed in service per year [USD] (last axis =
    years), with ``rates`` per recovery year; deductions past the last year are dropped (the
    book value left is returned by ``book_value_usd``)."""
    basis = np.asarray(placed_in_service_usd, dtype="float64")
    rates = np.asarray(rates, dtype="float64")
    n = basis.shape[-1]
    out = np.zeros(basis.shape, dtype="float64")
    for lag, rate in enumerate(rates[:n]):  # a convolution along the last axis, truncated
        out[..., lag:] += rate * basis[..., : n - lag]
    return out


def book_value_usd(placed_in_service_usd, depreciation) -> np.ndarray:
    """Undepreciated basis [USD] at the end of the last year."""
    return np.sum(placed_in_service_usd, axis=-1) - np.sum(depreciation, axis=-1)


def tax_usd(ebitda_usd, depreciation, tax_rate: float) -> np.ndarray:
    """Income tax [USD] on EBITDA less depreciation. Negative (a benefit) in a loss year: the
    owner is assumed to use the loss against other income in the same year."""
    return tax_rate * (np.asarray(ebitda_usd) - np.asarray(depreciation))


def after_tax_cash_flow_usd(ebitda_usd, tax, capex_usd, salvage_usd=0.0) -> np.ndarray:
    """Cash flow [USD] per year: EBITDA - tax - capex, plus ``salvage_usd`` in the last year."""
    cf = np.asarray(ebitda_usd, dtype="float64") - tax - np.asarray(capex_usd, dtype="float64")
    cf = np.array(cf, dtype="float64")  # a copy we may write into
    cf[..., -1] += salvage_usd
    return cf


def discount_factors(rate: float, n_years: int) -> np.ndarray:
    """End-of-year discount factors 1/(1+rate)^(t+1) for t = 0..n_years-1."""
    return 1.0 / (1.0 + rate) ** np.arange(1, n_years + 1)


def npv(rate: float, cash_flows_usd) -> np.ndarray | float:
    """Net present value [USD] at the start of year 0 of end-of-year cash flows (last axis),
    with numpy-financial (a zero cash flow at t=0 moves every flow to the end of its year)."""
    cf = np.asarray(cash_flows_usd, dtype="float64")
    flat = cf.reshape(-1, cf.shape[-1])
    out = np.array([npf.npv(rate, np.concatenate(([0.0], row))) for row in flat])
    return float(out[0]) if cf.ndim == 1 else out.reshape(cf.shape[:-1])


def irr(cash_flows_usd) -> np.ndarray | float:
    """Internal rate of return [1/yr] (numpy-financial); NaN where the flows never change sign
    or no real rate exists."""
    cf = np.asarray(cash_flows_usd, dtype="float64")
    flat = cf.reshape(-1, cf.shape[-1])
    out = np.array(
        [npf.irr(row) if (row < 0).any() and (row > 0).any() else np.nan for row in flat], dtype="float64"
    )
    return float(out[0]) if cf.ndim == 1 else out.reshape(cf.shape[:-1])


def payback_years(cash_flows_usd, rate: float | None = None) -> np.ndarray | float:
    """Years from the start of year 0 until cumulative cash flow turns non-negative for good
    after having been negative; NaN if it never does within the flows. A year's flow is taken
    as spread evenly over the year, so a crossing inside year t gives t + the fraction of that
    year's flow needed. With ``rate`` the flows are discounted first (discounted payback).

    Hand-written: numpy-financial has no payback function.
    """
    cf = np.asarray(cash_flows_usd, dtype="float64")
    if rate is not None:
        cf = cf * discount_factors(rate, cf.shape[-1])
    flat = cf.reshape(-1, cf.shape[-1])
    out = np.full(flat.shape[0], np.nan)
    for i, row in enumerate(flat):
        cum = np.cumsum(row)
        if not (cum < 0).any() or cum[-1] < 0:
            continue  # never under water, or still under water at the end
        t = int(np.flatnonzero(cum < 0)[-1]) + 1  # the year whose flow lifts it for good
        out[i] = t + (-cum[t - 1]) / row[t]
    return float(out[0]) if cf.ndim == 1 else out.reshape(cf.shape[:-1])


def simple_payback_years(cash_flows_usd) -> np.ndarray | float:
    """Undiscounted payback [years] (``payback_years`` without a rate)."""
    return payback_years(cash_flows_usd)


def discounted_payback_years(cash_flows_usd, rate: float) -> np.ndarray | float:
    """Discounted payback [years] at ``rate`` (``payback_years`` with the rate)."""
    return payback_years(cash_flows_usd, rate)
