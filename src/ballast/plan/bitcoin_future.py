"""Bitcoin over a site's life: future halvings, BTC price cases and seeded paths, difficulty
and hashprice per year. Pure functions over numpy arrays; every stochastic one takes a seed.

Method (docs/plan.md#bitcoin-futures):
- halvings every 210,000 blocks (consensus rule); a future halving's date is projected from the
  last one observed (block 840,000 at 2024-04-20 00:09:27 UTC, the bundled schedule) at a mean
  block interval (600 s, the protocol's target, by default);
- BTC price per year: named deterministic cases (constant growth per year) or geometric Brownian
  motion in log price, annual steps, drift and volatility calibrated on the bundled daily history
  unless given;
- difficulty grows at an assumed rate per year and, optionally, follows the price with an
  elasticity (hashrate comes to the network when mining pays);
- hashprice per year from the yearly mean subsidy, fees as a share of revenue, difficulty and
  price (``ballast.models.bitcoin``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.models.bitcoin import (
    HALVING_INTERVAL_BLOCKS,
    HALVING_TIMES_UTC,
    block_subsidy_btc,
    fees_btc_per_block,
    hashprice_usd_per_ph_day,
)

TARGET_BLOCK_INTERVAL_S = 600.0  # consensus target: difficulty retargets to 10 minutes a block
DAYS_PER_YEAR = 365.25  # BTC trades every day; daily returns annualise over calendar days
# The last observed halving (block 840,000, 2024-04-20T00:09:27Z): models.bitcoin's table,
# which is the bundled bitcoin_block_subsidy_schedule.csv (docs/sources.md#bitcoin-subsidy).
ANCHOR_HEIGHT = HALVING_INTERVAL_BLOCKS * len(HALVING_TIMES_UTC)
ANCHOR_TIME_UTC = HALVING_TIMES_UTC[-1]


def halving_heights(count: int) -> np.ndarray:
    """Heights of the first ``count`` halvings (210,000, 420,000, ...)."""
    return HALVING_INTERVAL_BLOCKS * np.arange(1, count + 1, dtype="int64")


def projected_time_utc(
    height,
    block_interval_s: float = TARGET_BLOCK_INTERVAL_S,
    anchor_height: int = ANCHOR_HEIGHT,
    anchor_time_utc: pd.Timestamp = ANCHOR_TIME_UTC,
) -> pd.DatetimeIndex:
    """When block ``height`` is found, at a constant mean block interval [s] from an anchor."""
    blocks = np.atleast_1d(np.asarray(height, dtype="int64")) - anchor_height
    return pd.DatetimeIndex(anchor_time_utc + pd.to_timedelta(blocks * block_interval_s, unit="s"))


def halving_times_utc(until_year: int, block_interval_s: float = TARGET_BLOCK_INTERVAL_S) -> pd.DataFrame:
    """Every halving up to the end of ``until_year``: height, subsidy from then on [BTC], time
    (observed for the past ones, projected for the rest) and whether it is projected."""
    n_known = len(HALVING_TIMES_UTC)
    rows = []
    k = 1
    while True:
        height = int(halving_heights(k)[-1])
        projected = k > n_known
        when = projected_time_utc(height, block_interval_s)[0] if projected else HALVING_TIMES_UTC[k - 1]
        if when.year > until_year:
            break
        rows.append(
            {
                "height": height,
                "subsidy_btc": float(block_subsidy_btc(height)),
                "time_utc": when,
                "projected": projected,
            }
        )
        k += 1
    return pd.DataFrame(rows)


def mean_subsidy_btc(years, block_interval_s: float = TARGET_BLOCK_INTERVAL_S) -> np.ndarray:
    """Time-weighted mean block subsidy [BTC] of each calendar year (UTC), halvings included
    at their (projected) instants."""
    years = np.asarray(years, dtype="int64")
    halvings = halving_times_utc(int(years.max()) + 1, block_interval_s)
    edges = halvings["time_utc"].to_numpy(dtype="datetime64[ns]")
    out = np.empty(len(years))
    for i, year in enumerate(years):
        start = np.datetime64(f"{year}-01-01", "ns")
        end = np.datetime64(f"{year + 1}-01-01", "ns")
        cuts = np.concatenate(([start], edges[(edges > start) & (edges < end)], [end]))
        epochs = np.searchsorted(edges, cuts[:-1], side="right")  # halvings passed at each cut
        subsidy = 50.0 / 2.0**epochs
        weights = np.diff(cuts).astype("float64")
        out[i] = float(np.sum(subsidy * weights) / np.sum(weights))
    return out


def price_case_usd(start_price_usd: float, growth_per_yr: float, n_years: int) -> np.ndarray:
    """BTC price per year [USD] growing at a constant rate: p0 x (1 + g)^t, t = 0..n-1."""
    return start_price_usd * (1.0 + growth_per_yr) ** np.arange(n_years)


def calibrate_log_gbm(prices_usd: pd.Series) -> tuple[float, float]:
    """(log drift [1/yr], volatility [1/sqrt(yr)]) of daily closes: the mean and standard
    deviation of daily log returns, annualised over 365.25 days."""
    values = np.asarray(prices_usd, dtype="float64")
    if len(values) < 3 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("need at least 3 finite positive daily prices to calibrate")
    r = np.diff(np.log(values))
    return float(r.mean() * DAYS_PER_YEAR), float(r.std(ddof=1) * np.sqrt(DAYS_PER_YEAR))


def gbm_paths_usd(
    start_price_usd: float,
    log_drift_per_yr: float,
    volatility_per_yr: float,
    n_years: int,
    n_paths: int,
    seed: int,
) -> np.ndarray:
    """BTC price paths [USD], shape (n_paths, n_years): year 0 is the start price, each later
    year multiplies by exp(N(log_drift, volatility^2)) (annual steps of a GBM in log price)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(log_drift_per_yr, volatility_per_yr, size=(n_paths, n_years - 1))
    log_path = np.concatenate((np.zeros((n_paths, 1)), np.cumsum(steps, axis=1)), axis=1)
    return start_price_usd * np.exp(log_path)


def difficulty_path(
    start_difficulty: float,
    growth_per_yr: float,
    n_years: int,
    price_ratio=1.0,
    price_elasticity: float = 0.0,
) -> np.ndarray:
    """Difficulty per year: d0 x (1 + g)^t x (price / start price)^elasticity.

    ``price_ratio`` broadcasts against the years (shape (..., n_years)). Elasticity 0: the
    network grows on its own; 1: difficulty tracks price, so price moves leave hashprice alone.
    """
    trend = start_difficulty * (1.0 + growth_per_yr) ** np.arange(n_years)
    return trend * np.asarray(price_ratio, dtype="float64") ** price_elasticity


def hashprice_path(btc_price_usd, difficulty, subsidy_btc, fee_share_of_revenue):
    """Hashprice [USD/PH/day] per year (``ballast.models.bitcoin`` formulas)."""
    fees = fees_btc_per_block(subsidy_btc, fee_share_of_revenue)
    return hashprice_usd_per_ph_day(btc_price_usd, difficulty, subsidy_btc, fees)
