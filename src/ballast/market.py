"""One day's market picture: BTC price, difficulty, subsidy, hashprice, breakevens, ERCOT prices."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ballast.data.errors import DataError
from ballast.data.loaders import read_series
from ballast.models import bitcoin
from ballast.models.miners import CATALOG

DEFAULT_PRICE_SOURCE = "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"
DEFAULT_BTC_SOURCE = "bundled:bitcoin_daily_2020_2025"


def market_day(day: date, fee_share_of_revenue: float = 0.03,
               price_source: str = DEFAULT_PRICE_SOURCE,
               btc_source: str = DEFAULT_BTC_SOURCE) -> dict:
    """Market facts for one UTC day (JSON-ready; schema ``ballast.market/1``)."""
    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta("1D")
    try:
        btc_price = read_series(btc_source, "btc_price_usd", window=(start, end))
        diff = read_series(btc_source, "difficulty", window=(start, end))
    except DataError as exc:
        raise DataError(btc_source, f"no Bitcoin data for {day}: {exc.problem}") from None
    if start not in btc_price.index:
        raise DataError(btc_source, f"no Bitcoin data for {day}; covers "
                        f"{btc_price.index[0].date()} to {btc_price.index[-1].date()}")
    price_usd = float(btc_price.loc[start])
    difficulty = float(diff.loc[start])
    subsidy = float(bitcoin.block_subsidy_btc_at(start + pd.Timedelta("12h")))
    fees = float(bitcoin.fees_btc_per_block(subsidy, fee_share_of_revenue))
    hashprice = float(bitcoin.hashprice_usd_per_ph_day(price_usd, difficulty, subsidy, fees))
    out: dict = {
        "schema": "ballast.market/1",
        "date_utc": str(day),
        "btc_price_usd": price_usd,
        "difficulty": difficulty,
        "block_subsidy_btc": subsidy,
        "fee_share_of_revenue": fee_share_of_revenue,
        "hashprice_usd_per_ph_day": hashprice,
        "btc_per_th_day": float(bitcoin.btc_per_th_day(difficulty, subsidy, fees)),
        "breakeven_usd_per_mwh": {
            name: float(bitcoin.breakeven_price_usd_per_mwh(hashprice, m.efficiency_j_per_th))
            for name, m in sorted(CATALOG.items(), key=lambda kv: kv[1].efficiency_j_per_th)
        },
    }
    try:
        prices = read_series(price_source, "price_usd_per_mwh", window=(start, end))
    except DataError:  # the source does not cover this day: null, as documented
        prices = None
    values = None if prices is None else prices[
        (prices.index >= start) & (prices.index < end)].to_numpy()
    if values is not None and len(values):
        out["ercot_price_usd_per_mwh"] = {
            "source": price_source, "intervals": len(values), "mean": float(values.mean()),
            "min": float(values.min()), "max": float(values.max()),
            "p95": float(np.percentile(values, 95)),
            "share_negative": float((values < 0).mean()),
        }
    else:
        out["ercot_price_usd_per_mwh"] = None
    return out
