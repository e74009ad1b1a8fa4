"""What is bundled: one table of every bundled data set, its series, source and licence.

``describe()`` adds what the files themselves say (resolution, first and last instant, gaps), so
``ballast data`` never disagrees with the data; tests check this table against the bundled folder,
NOTICE and PROVENANCE.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ballast.data.loaders import bundled_folder, read_table

ERCOT = "ERCOT public data (ERCOT website terms of use)"
COIN_METRICS = ("CC BY-NC 4.0: attribute Coin Metrics (coinmetrics.io); non-commercial use only "
                "(commercial users: markets.bitcoin.fees share, or their own network file)")


@dataclass(frozen=True)
class Series:
    column: str
    quantity: str
    unit: str
    sparse: bool = False  # values only where they apply (a fill series): no gaps are counted


@dataclass(frozen=True)
class DataSet:
    """One bundled file. ``time_column`` None: not a time series (shapes, schedules)."""

    file: str
    time_column: str | None
    series: tuple[Series, ...]
    source: str
    licence: str
    irregular: bool = False  # as-of figures, not intervals: no gaps are counted


CATALOG: tuple[DataSet, ...] = (
    DataSet("ercot_rtm_hb_hubavg_15min_2024_2025.parquet", "interval_start_utc",
            (Series("price_usd_per_mwh", "ERCOT real-time SPP, HB_HUBAVG", "USD/MWh"),),
            "ERCOT RTM settlement point prices (NP6-905-CD) via gridstatus", ERCOT),
    DataSet("ercot_rtm_hb_west_15min_2021_02.parquet", "interval_start_utc",
            (Series("price_usd_per_mwh", "ERCOT real-time SPP, HB_WEST", "USD/MWh"),
             Series("hb_hubavg_price_usd_per_mwh", "ERCOT real-time SPP, HB_HUBAVG", "USD/MWh")),
            "ERCOT NP6-785-ER RTMLZHBSPP_2021.xlsx (February 2021)", ERCOT),
    DataSet("ercot_rtm_hb_west_hourly_2023.parquet", "interval_start_utc",
            (Series("price_usd_per_mwh", "ERCOT real-time SPP, HB_WEST (hourly mean)", "USD/MWh"),
             Series("hb_hubavg_price_usd_per_mwh", "ERCOT real-time SPP, HB_HUBAVG (hourly mean)",
                    "USD/MWh")),
            "ERCOT NP6-785-ER 15-min SPPs, hourly means (via SamuelEnrique/erw)", ERCOT),
    DataSet("ercot_rtm_hb_west_hourly_2021.parquet", "interval_start_utc",
            (Series("price_usd_per_mwh", "ERCOT real-time SPP, HB_WEST (hourly mean)", "USD/MWh"),
             Series("hb_hubavg_price_usd_per_mwh", "ERCOT real-time SPP, HB_HUBAVG (hourly mean)",
                    "USD/MWh")),
            "ERCOT NP6-785-ER 15-min SPPs, hourly means (via SamuelEnrique/erw)", ERCOT),
    DataSet("ercot_dam_hb_hubavg_hourly_2021_2024.parquet", "interval_start_utc",
            (Series("price_usd_per_mwh", "ERCOT day-ahead SPP, HB_HUBAVG", "USD/MWh"),),
            "ERCOT NP4-180-ER DAM SPPs via gridstatus (HewlettPackard/sustain-cluster, MIT)",
            ERCOT),
    DataSet("ercot_dam_hb_west_hourly_2021_01_07.parquet", "interval_start_utc",
            (Series("price_usd_per_mwh", "ERCOT day-ahead SPP, HB_WEST", "USD/MWh"),),
            "ERCOT NP4-180-ER DAMLZHBSPP_2021.xlsx (to 2021-07-24)", ERCOT),
    *(DataSet(f"ercot_system_hourly_{years}.parquet", "interval_start_utc",
              (Series("ercot_wind_mw", "ERCOT wind generation", "MW"),
               Series("ercot_solar_mw", "ERCOT solar generation", "MW"),
               Series("ercot_load_mw", "ERCOT native load", "MW"),
               Series("ercot_fwest_load_mw", "ERCOT Far West zone load", "MW")),
              "ERCOT Fuel Mix Report and Hourly Load Data Archive", ERCOT)
      for years in ("2021", "2023_2024")),
    DataSet("ercot_wind_solar_installed_capacity_2023_2025.parquet", "interval_start_utc",
            (Series("ercot_wind_installed_mw", "ERCOT installed wind capacity", "MW"),
             Series("ercot_solar_installed_mw", "ERCOT installed solar capacity", "MW")),
            "ERCOT Hourly Aggregated Wind and Solar Output (Total Installed, MW), as-of figures",
            ERCOT, irregular=True),
    DataSet("ercot_carbon_intensity_hourly_2021_2024.parquet", "interval_start_utc",
            (Series("carbon_intensity_g_per_kwh", "ERCOT grid carbon intensity (direct)",
                    "gCO2eq/kWh"),),
            "Electricity Maps, zone US-TEX-ERCO (from EIA-930)",
            "ODbL 1.0: attribute Electricity Maps"),
    DataSet("bitcoin_daily_2020_2025.parquet", "date_utc",
            (Series("btc_price_usd", "BTC/USD daily close", "USD"),
             Series("difficulty", "Bitcoin network difficulty", "-"),
             Series("network_hashrate_th_s", "Bitcoin network hash rate (estimate)", "TH/s")),
            "Yahoo Finance BTC-USD; Blockchain.com charts",
            "facts; Blockchain.com states no open licence: research use"),
    DataSet("bitcoin_daily_network_coinmetrics_2020_2025.parquet", "date_utc",
            (Series("fees_btc", "Bitcoin transaction fees paid to miners, per UTC day", "BTC/day"),
             Series("subsidy_btc", "Bitcoin block subsidy issued, per UTC day", "BTC/day"),
             Series("blocks", "Bitcoin blocks mined, per UTC day", "blocks/day"),
             Series("network_hashrate_th_s", "Bitcoin network hash rate, day mean", "TH/s"),
             Series("btc_price_usd", "BTC/USD reference-rate close at the day's end", "USD")),
            "Coin Metrics Community Network Data (coinmetrics/data csv/btc.csv)",
            COIN_METRICS),
    DataSet("bitcoin_block_subsidy_schedule.csv", "start_block_time_utc",
            (Series("subsidy_btc", "Bitcoin block subsidy per halving epoch", "BTC"),),
            "Bitcoin consensus rule; halving block header times", "public chain data",
            irregular=True),
    DataSet("eia930_demand_hourly_2016_2024.parquet", "interval_start_utc",
            (*(Series(f"{ba}_demand_mw", f"{ba} balancing-authority demand", "MW")
               for ba in ("ERCO", "PJM", "MISO", "SWPP", "CISO")),
             Series("ERCO_mice_fill_mw", "ERCO demand, MICE fill of missing hours", "MW",
                    sparse=True)),
            "U.S. EIA Form EIA-930, packaged by Ruggles, Farnham & Wongel (2020)",
            "EIA: public domain; packaging CC BY 4.0 (cite Ruggles et al. 2020)"),
    DataSet("frequency_events_synthetic.parquet", None,
            (Series("frequency_hz", "SYNTHETIC grid-frequency event shapes (0.1 s)", "Hz"),),
            "generated by scripts/bundle_frequency_events.py", "Apache-2.0 (this project)"),
)


def _resolution(step: pd.Timedelta) -> str:
    for unit, size in (("day", pd.Timedelta("1D")), ("h", pd.Timedelta("1h")),
                       ("min", pd.Timedelta("1min")), ("s", pd.Timedelta("1s"))):
        if step >= size and step % size == pd.Timedelta(0):
            return f"{step // size} {unit}"
    return str(step)


def _span(ds: DataSet, frame: pd.DataFrame, s: Series) -> dict:
    """Resolution, first and last instant with a value, and missing intervals of one series."""
    none = {"resolution": None, "first_utc": None, "last_utc": None, "end_utc": None,
            "gaps": None}
    if ds.time_column is None:
        return none
    times = pd.DatetimeIndex(pd.to_datetime(frame[ds.time_column], utc=True))
    times = times[(frame[s.column].notna() & times.notna()).to_numpy()]
    if len(times) == 0:
        return none
    out = {"first_utc": times[0].isoformat(), "last_utc": times[-1].isoformat()}
    if ds.irregular or len(times) < 2:
        return {**none, **out, "resolution": "irregular (as-of figures)"}
    steps = np.diff(times.as_unit("ns").asi8)
    step = pd.Timedelta(int(np.median(steps)))
    missing = int(((steps - step.value) // step.value).clip(min=0).sum())  # absent or NaN
    return {**out, "resolution": _resolution(step), "end_utc": (times[-1] + step).isoformat(),
            "gaps": None if s.sparse else missing}


def describe() -> list[dict]:
    """One row per bundled series (JSON-ready; schema ``ballast.data/1``)."""
    rows = []
    for ds in CATALOG:
        frame = read_table(bundled_folder() / ds.file)
        for s in ds.series:
            rows.append({"file": ds.file, "column": s.column, "quantity": s.quantity,
                         "unit": s.unit, **_span(ds, frame, s), "source": ds.source,
                         "licence": ds.licence})
    return rows
