"""Bitcoin mining economics as pure functions over scalars or arrays.

Formulas (Luxor Hashrate Index definitions; docs/sources.md#bitcoin-economics):
- expected blocks per day found by 1 PH/s = 1e15 x 86400 / (difficulty x 2^32);
- hashprice [USD/PH/day] = that x (block subsidy + average fees per block) x BTC price;
- from a day's network totals: BTC per TH/s per day = (fees + subsidy) / mean network hash rate
  (``implied_difficulty`` turns the day into the difficulty form above);
- breakeven power price [USD/MWh] = 1000 x hashprice / (24 x efficiency [J/TH]).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400.0
HALVING_INTERVAL_BLOCKS = 210_000
INITIAL_SUBSIDY_BTC = 50.0
# Halving block header times (UTC), as in the bundled bitcoin_block_subsidy_schedule.csv (public chain
# data, docs/sources.md#bitcoin-subsidy): subsidy in force from that instant on.
HALVING_TIMES_UTC = pd.DatetimeIndex(
    ["2012-11-28T15:24:38Z", "2016-07-09T16:46:13Z", "2020-05-11T19:23:43Z",
     "2024-04-20T00:09:27Z"]
).as_unit("ns")


def block_subsidy_btc(height):
    """Block subsidy [BTC] at block ``height`` (consensus: 50 BTC >> floor(height / 210000))."""
    height = np.asarray(height)
    if np.any(height < 0):
        raise ValueError("block height must be >= 0")
    sats = np.right_shift(np.int64(5_000_000_000), (height // HALVING_INTERVAL_BLOCKS).astype(
        np.int64).clip(max=63))
    return sats / 1e8


def block_subsidy_btc_at(time_utc):
    """Block subsidy [BTC] in force at ``time_utc`` (tz-aware timestamps), from halving times.

    Valid from the genesis block up to the next (2028) halving, whose date is not fixed.
    """
    if isinstance(time_utc, pd.DatetimeIndex):  # fast path: no per-element object conversion
        times = time_utc.tz_convert("UTC").as_unit("ns")
    else:
        times = pd.DatetimeIndex(np.atleast_1d(pd.to_datetime(time_utc, utc=True))).as_unit("ns")
    epoch = np.searchsorted(HALVING_TIMES_UTC.asi8, times.asi8, side="right")
    out = INITIAL_SUBSIDY_BTC / (2.0 ** epoch)
    return out if np.ndim(time_utc) else float(out[0])


def blocks_per_day_per_ph(difficulty):
    """Expected blocks per day found by 1 PH/s at ``difficulty`` [blocks/(PH/s)/day]."""
    return 1e15 * SECONDS_PER_DAY / (np.asarray(difficulty, dtype="float64") * 2.0**32)


def implied_difficulty(network_hashrate_th_s, blocks):
    """Difficulty implied by one day's mean hash rate [TH/s] and its ``blocks``: the inverse of
    hash rate = blocks x difficulty x 2^32 / 86400 s (how Coin Metrics estimates hash rate,
    docs/sources.md#bitcoin-fees). With it, ``btc_per_th_day`` on the day's mean subsidy and
    fees per block equals the day's (fees + subsidy) / hash rate."""
    return (np.asarray(network_hashrate_th_s, dtype="float64") * 1e12 * SECONDS_PER_DAY
            / (np.asarray(blocks, dtype="float64") * 2.0**32))


def fees_btc_per_block(subsidy_btc, fee_share_of_revenue):
    """Average fees per block [BTC] when fees are ``fee_share_of_revenue`` of subsidy + fees."""
    share = np.asarray(fee_share_of_revenue, dtype="float64")
    if np.any((share < 0) | (share >= 1)):
        raise ValueError("fee_share_of_revenue must be in [0, 1)")
    return np.asarray(subsidy_btc) * share / (1.0 - share)


def btc_per_th_day(difficulty, subsidy_btc, fees_btc=0.0):
    """Expected BTC mined per TH/s per day [BTC/(TH/s)/day]."""
    return blocks_per_day_per_ph(difficulty) / 1000.0 * (np.asarray(subsidy_btc) + fees_btc)


def hashprice_usd_per_ph_day(btc_price_usd, difficulty, subsidy_btc, fees_btc=0.0):
    """Hashprice [USD per PH/s per day]."""
    return blocks_per_day_per_ph(difficulty) * (np.asarray(subsidy_btc) + fees_btc) * np.asarray(
        btc_price_usd)


def breakeven_price_usd_per_mwh(hashprice_usd_per_ph_day, efficiency_j_per_th):
    """Power price [USD/MWh] below which a miner of ``efficiency_j_per_th`` earns more than it pays.

    Before pool fee, hosting, wear and capex.
    """
    return 1000.0 * np.asarray(hashprice_usd_per_ph_day) / (24.0 * np.asarray(
        efficiency_j_per_th, dtype="float64"))
