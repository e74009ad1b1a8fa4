"""One day's market picture: BTC price, difficulty, subsidy, fees, hashprice, breakevens, ERCOT
real-time prices at HB_HUBAVG and HB_WEST from whichever bundled file covers the day.

The Bitcoin figures are those a backtest uses during the day (``inputs/site.py``): each daily row
is in force from its stamp plus the publication delay, so with the default 24 h the day D shows
the row of D-1, complete at D 00:00 UTC. A field the data leave empty (no row published yet,
a missing value) is None (null in JSON).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from ballast.data.attribution import bitcoin_attribution
from ballast.data.bitcoin_network import NETWORK_COLUMNS, TIME_COLUMN
from ballast.data.errors import DataError
from ballast.data.loaders import read_series, read_table, resolve_source
from ballast.data.validate import check_index, parse_utc_timestamps
from ballast.models import bitcoin
from ballast.models.miners import CATALOG

# The bundled ERCOT real-time prices a day is looked up in, finest first: (hub, source, column).
# The first that covers the whole day answers for its hub; a hub no file covers is null.
BUNDLED_RT_PRICES: tuple[tuple[str, str, str], ...] = (
    ("HB_HUBAVG", "bundled:ercot_rtm_hb_west_15min_2021_02", "hb_hubavg_price_usd_per_mwh"),
    ("HB_HUBAVG", "bundled:ercot_rtm_hb_hubavg_15min_2024_2025", "price_usd_per_mwh"),
    ("HB_HUBAVG", "bundled:ercot_rtm_hb_west_hourly_2021", "hb_hubavg_price_usd_per_mwh"),
    ("HB_HUBAVG", "bundled:ercot_rtm_hb_west_hourly_2023", "hb_hubavg_price_usd_per_mwh"),
    ("HB_WEST", "bundled:ercot_rtm_hb_west_15min_2021_02", "price_usd_per_mwh"),
    ("HB_WEST", "bundled:ercot_rtm_hb_west_hourly_2021", "price_usd_per_mwh"),
    ("HB_WEST", "bundled:ercot_rtm_hb_west_hourly_2023", "price_usd_per_mwh"),
)
DEFAULT_BTC_SOURCE = "bundled:bitcoin_daily_2020_2025"
DEFAULT_NETWORK_SOURCE = "bundled:bitcoin_daily_network_coinmetrics_2020_2025"
DEFAULT_DELAY = pd.Timedelta("24h")  # as markets.bitcoin.price_delay_h


def _daily(source: str, columns: list[str]) -> pd.DataFrame:
    """Columns of a daily file as stored (NaN kept, to show as null), on a validated UTC index."""
    frame = read_table(resolve_source(source))
    missing = [c for c in [TIME_COLUMN, *columns] if c not in frame.columns]
    if missing:
        raise DataError(source, f"column not found; columns are {list(frame.columns)}",
                        column=missing[0])
    index = parse_utc_timestamps(frame[TIME_COLUMN], source, TIME_COLUMN)
    check_index(index, source, TIME_COLUMN)
    out = {}
    for c in columns:
        values = pd.to_numeric(frame[c], errors="coerce").to_numpy("float64")
        text = np.isnan(values) & frame[c].notna().to_numpy()  # a value that is not a number
        if text.any():
            row = int(np.argmax(text))
            raise DataError(source, f"not a number: {frame[c].iloc[row]!r}", row=row + 1,
                            column=c)
        out[c] = values
    return pd.DataFrame(out, index=index)


def _in_force(frame: pd.DataFrame, at: pd.Timestamp, delay: pd.Timedelta) -> pd.Series | None:
    """The row published (stamp + ``delay``) last at or before ``at``; None before the first."""
    i = int(frame.index.searchsorted(at - delay, side="right")) - 1
    return None if i < 0 else frame.iloc[i]


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _day_price(source: str, column: str, start: pd.Timestamp, end: pd.Timestamp) -> dict | None:
    """Summary of one price column over [start, end): None unless the file covers the whole day."""
    try:
        prices = read_series(source, column, window=(start, end))
    except DataError:  # the source does not cover this day: null, as documented
        return None
    values = prices[(prices.index >= start) & (prices.index < end)].to_numpy()
    step = prices.attrs.get("step") or (prices.index[1] - prices.index[0])
    if len(values) < round((end - start) / step):  # part of the day only: not a day's figure
        return None
    return {"source": source, "column": column, "intervals": len(values),
            "mean": float(values.mean()), "min": float(values.min()),
            "max": float(values.max()), "p95": float(np.percentile(values, 95)),
            "share_negative": float((values < 0).mean())}


def day_prices(start: pd.Timestamp, end: pd.Timestamp,
               price_source: str | None = None) -> dict[str, dict | None]:
    """Each hub's real-time price summary for the day from the first bundled file that covers it
    (``BUNDLED_RT_PRICES``), or from ``price_source`` alone (as HB_HUBAVG) when given."""
    if price_source is not None:
        return {"HB_HUBAVG": _day_price(price_source, "price_usd_per_mwh", start, end)}
    out: dict[str, dict | None] = {}
    for hub, source, column in BUNDLED_RT_PRICES:
        if out.get(hub) is None:
            out[hub] = _day_price(source, column, start, end)
    return out


def market_day(day: date, fees: Literal["series", "share"] = "series",
               fee_share_of_revenue: float = 0.03,
               price_source: str | None = None, btc_source: str = DEFAULT_BTC_SOURCE,
               network_source: str = DEFAULT_NETWORK_SOURCE,
               delay: pd.Timedelta = DEFAULT_DELAY) -> dict:
    """Market facts for one UTC day (JSON-ready; schema ``ballast.market/1``), with fees from
    the daily network series (``series``) or a flat share of revenue (``share``)."""
    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta("1D")
    source = network_source if fees == "series" else btc_source
    if fees == "series":
        frame = _daily(network_source, list(NETWORK_COLUMNS))
    else:
        frame = _daily(btc_source, ["btc_price_usd", "difficulty"])
    first, last = frame.index[0], frame.index[-1] + delay
    if not first <= start <= last:
        raise DataError(source, f"no Bitcoin data for {day}; covers {first.date()} to "
                        f"{last.date()}")
    row = _in_force(frame, start, delay)
    out: dict = {"schema": "ballast.market/1", "date_utc": str(day), "fees": fees}
    if fees == "series":
        r = row if row is not None else pd.Series(np.nan, index=frame.columns)
        price_usd, blocks = r["btc_price_usd"], r["blocks"]
        difficulty = bitcoin.implied_difficulty(r["network_hashrate_th_s"], blocks)
        subsidy, fee = r["subsidy_btc"] / blocks, r["fees_btc"] / blocks
        out |= {"bitcoin_day_utc": None if row is None else str(row.name.date()),
                "published_utc": None if row is None else (row.name + delay).isoformat(),
                "blocks": _clean(blocks), "fees_btc": _clean(r["fees_btc"]),
                "subsidy_btc": _clean(r["subsidy_btc"]),
                "network_hashrate_th_s": _clean(r["network_hashrate_th_s"])}
        share = _clean(fee / (fee + subsidy))
    else:
        priced = _in_force(frame, start, delay)
        price_usd = np.nan if priced is None else priced["btc_price_usd"]
        difficulty = frame["difficulty"].iloc[int(frame.index.searchsorted(start, "right")) - 1]
        subsidy = float(bitcoin.block_subsidy_btc_at(start + pd.Timedelta("12h")))
        fee = float(bitcoin.fees_btc_per_block(subsidy, fee_share_of_revenue))
        share = fee_share_of_revenue
    hashprice = _clean(bitcoin.hashprice_usd_per_ph_day(price_usd, difficulty, subsidy, fee))
    out |= {
        "btc_price_usd": _clean(price_usd),
        "difficulty": _clean(difficulty),
        "block_subsidy_btc": _clean(subsidy),
        "fees_btc_per_block": _clean(fee),
        "fee_share_of_revenue": share,
        "hashprice_usd_per_ph_day": hashprice,
        "btc_per_th_day": _clean(bitcoin.btc_per_th_day(difficulty, subsidy, fee)),
        "breakeven_usd_per_mwh": {
            name: None if hashprice is None else float(
                bitcoin.breakeven_price_usd_per_mwh(hashprice, m.efficiency_j_per_th))
            for name, m in sorted(CATALOG.items(), key=lambda kv: kv[1].efficiency_j_per_th)
        },
        "attribution": bitcoin_attribution(source),
    }
    hubs = day_prices(start, end, price_source)
    out["ercot_price_usd_per_mwh"] = hubs["HB_HUBAVG"]  # the hub average, as before
    out["ercot_hb_west_price_usd_per_mwh"] = hubs.get("HB_WEST")
    return out
