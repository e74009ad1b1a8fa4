"""Rebuild the compact data files shipped in src/ballast/data/bundled from ../shared/data.

Run by a developer only (``python scripts/bundle_data.py ../shared/data``); the product never
reads ../shared at run time. Every output keeps a UTC ``interval_start_utc`` column and puts the
unit in each value column's name. Provenance: src/ballast/data/bundled/PROVENANCE.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "src" / "ballast" / "data" / "bundled"


def _utc(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col, utc=True)


def main(shared: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)

    rt = pd.read_csv(shared / "ercot_rtm_spp_hb_hubavg_15min_2024-01-01_to_2025-11-30.csv")
    rt = pd.DataFrame(
        {
            "interval_start_utc": _utc(rt["interval_start_utc"]),
            "price_usd_per_mwh": rt["HB_HUBAVG_rt_spp_usd_per_mwh"].astype("float64"),
        }
    )
    rt.to_parquet(OUT / "ercot_rtm_hb_hubavg_15min_2024_2025.parquet", index=False)

    uri = pd.read_csv(shared / "ercot_rtm_spp_15min_2021-02_wide.csv")
    uri = pd.DataFrame(
        {
            "interval_start_utc": _utc(uri["interval_start_utc"]),
            "price_usd_per_mwh": uri["HB_WEST"].astype("float64"),
            "hb_hubavg_price_usd_per_mwh": uri["HB_HUBAVG"].astype("float64"),
        }
    )
    uri.to_parquet(OUT / "ercot_rtm_hb_west_15min_2021_02.parquet", index=False)

    frames = {}
    for year in (2021, 2023, 2024):
        fm = pd.read_csv(shared / f"ercot_fuel_mix_hourly_{year}.csv")
        load = pd.read_csv(shared / f"ercot_native_load_hourly_{year}.csv")
        assert (fm["interval_start_utc"].to_numpy() == load["interval_start_utc"].to_numpy()).all()
        frames[year] = (
            pd.DataFrame(
                {
                    "interval_start_utc": _utc(fm["interval_start_utc"]),
                    "ercot_wind_mw": fm["Wind_MW"].astype("float64"),
                    "ercot_solar_mw": fm["Solar_MW"].astype("float64"),
                    "ercot_load_mw": load["ERCOT_MW"].astype("float64"),
                    "ercot_fwest_load_mw": load["FWEST_MW"].astype("float64"),
                }
            )
        )
    # 2023 and 2024 are contiguous in UTC (local years), so together they cover UTC year 2024.
    pd.concat([frames[2023], frames[2024]]).to_parquet(
        OUT / "ercot_system_hourly_2023_2024.parquet", index=False)
    frames[2021].to_parquet(OUT / "ercot_system_hourly_2021.parquet", index=False)

    ci = pd.read_csv(shared / "ercot_carbon_intensity_hourly_2021_2024_electricitymaps.csv")
    ci = pd.DataFrame(
        {
            "interval_start_utc": _utc(ci["datetime_utc"]),
            "carbon_intensity_g_per_kwh": ci["ci_direct_gco2eq_per_kwh"].astype("float64"),
        }
    )
    ci.to_parquet(OUT / "ercot_carbon_intensity_hourly_2021_2024.parquet", index=False)

    btc = pd.read_csv(shared / "bitcoin_daily_2020_2025.csv")
    # The last row (2025-04-09) is an intraday snapshot, not a close (76,224.59 against the
    # day's final Yahoo close 82,573.95; src/ballast/data/bundled/PROVENANCE.md): dropped.
    assert btc["date"].iloc[-1] == "2025-04-09"
    btc = btc.iloc[:-1]
    btc = pd.DataFrame(
        {
            "date_utc": _utc(btc["date"]),
            "btc_price_usd": btc["btc_usd_close"].astype("float64"),
            "difficulty": btc["difficulty"].astype("float64"),
            "network_hashrate_th_s": btc["hashrate_TH_per_s"].astype("float64"),
        }
    )
    btc.to_parquet(OUT / "bitcoin_daily_2020_2025.parquet", index=False)

    sub = pd.read_csv(shared / "bitcoin_block_subsidy_schedule.csv")
    sub.to_csv(OUT / "bitcoin_block_subsidy_schedule.csv", index=False)

    bundle_bitcoin_network(shared)
    bundle_eia930(shared)
    bundle_installed_capacity(shared)
    bundle_rtm_hourly_2023(shared)
    bundle_rtm_hourly_2021(shared)
    bundle_dam(shared)


def bundle_bitcoin_network(shared: Path) -> None:
    """Coin Metrics daily network data (CC BY-NC 4.0): blocks, fees and subsidy (BTC per UTC
    day, blocks grouped by median-time-past), mean hash rate (TH/s), reference-rate close at the
    day's end (USD). Only complete days are kept: every field present and at least one block
    (the source's 2025-12-30 row held reference rates only and was left out upstream). The
    ``_derived`` columns are arithmetic on these and are not bundled. Values unchanged."""
    cm = pd.read_csv(shared / "bitcoin_daily_network_coinmetrics_2020_2025.csv")
    fields = ["blocks", "fees_btc", "subsidy_btc", "hashrate_th_s", "price_usd"]
    complete = cm[fields].notna().all(axis=1) & (cm["blocks"] > 0)
    dropped = cm.loc[~complete, "date"].tolist()
    if dropped:
        print(f"bitcoin network: dropped partial days {dropped}")
    cm = cm[complete]
    pd.DataFrame({
        "date_utc": _utc(cm["date"]),
        "blocks": cm["blocks"].astype("float64"),
        "fees_btc": cm["fees_btc"].astype("float64"),
        "subsidy_btc": cm["subsidy_btc"].astype("float64"),
        "network_hashrate_th_s": cm["hashrate_th_s"].astype("float64"),
        "btc_price_usd": cm["price_usd"].astype("float64"),
    }).to_parquet(OUT / "bitcoin_daily_network_coinmetrics_2020_2025.parquet", index=False)


def bundle_rtm_hourly_2023(shared: Path) -> None:
    """ERCOT real-time SPP 2023, hourly means of the 15-min prices, HB_WEST (the West Texas
    site's own hub) and HB_HUBAVG; CST hours (UTC-6), so the file covers 2023-01-01 06:00 UTC to
    2024-01-01 06:00 UTC. Values unchanged."""
    rt = pd.read_csv(shared / "ercot_rtm_spp_hourly_2023_HB_HUBAVG_HB_WEST.csv")
    pd.DataFrame({
        "interval_start_utc": _utc(rt["interval_start_utc"]),
        "price_usd_per_mwh": rt["HB_WEST_rt_usd_per_mwh"].astype("float64"),
        "hb_hubavg_price_usd_per_mwh": rt["HB_HUBAVG_rt_usd_per_mwh"].astype("float64"),
    }).to_parquet(OUT / "ercot_rtm_hb_west_hourly_2023.parquet", index=False)


def bundle_rtm_hourly_2021(shared: Path) -> None:
    """ERCOT real-time SPP 2021, hourly means of the 15-min prices, HB_WEST and HB_HUBAVG; CST
    hours (UTC-6), 2021-01-01 06:00 UTC to 2022-01-01 06:00 UTC (same source and processing as
    2023). Values unchanged."""
    rt = pd.read_csv(shared / "ercot_rtm_spp_hourly_2021_HB_HUBAVG_HB_WEST.csv")
    pd.DataFrame({
        "interval_start_utc": _utc(rt["interval_start_utc"]),
        "price_usd_per_mwh": rt["HB_WEST_rt_usd_per_mwh"].astype("float64"),
        "hb_hubavg_price_usd_per_mwh": rt["HB_HUBAVG_rt_usd_per_mwh"].astype("float64"),
    }).to_parquet(OUT / "ercot_rtm_hb_west_hourly_2021.parquet", index=False)


def bundle_dam(shared: Path) -> None:
    """ERCOT day-ahead SPPs, hourly: HB_HUBAVG 2021-2024 (local years) and HB_WEST 2021-01-01 to
    2021-07-24 (the only day-ahead West hub series in ../shared/data). Other hubs and load zones
    of the 2021 workbook are left out (no example reads them). Values unchanged."""
    dam = pd.read_csv(shared / "ercot_dam_spp_hb_hubavg_hourly_2021_2024.csv")
    assert (dam["settlement_point"] == "HB_HUBAVG").all() and (dam["market"] == "DAM").all()
    pd.DataFrame({
        "interval_start_utc": _utc(dam["interval_start_utc"]),
        "price_usd_per_mwh": dam["spp_usd_per_mwh"].astype("float64"),
    }).to_parquet(OUT / "ercot_dam_hb_hubavg_hourly_2021_2024.parquet", index=False,
                  compression="zstd")
    west = pd.read_csv(shared / "ercot_dam_spp_hourly_2021-01-01_to_2021-07-24_hubs_loadzones.csv")
    pd.DataFrame({
        "interval_start_utc": _utc(west["interval_start_utc"]),
        "price_usd_per_mwh": west["HB_WEST"].astype("float64"),
    }).to_parquet(OUT / "ercot_dam_hb_west_hourly_2021_01_07.parquet", index=False)


def bundle_installed_capacity(shared: Path) -> None:
    """ERCOT's installed wind and solar MW, sampled about quarterly 2023-2025 (as-of snapshots;
    local ERCOT time converted to UTC). Values unchanged."""
    cap = pd.read_csv(shared / "ercot_wind_solar_installed_capacity_2023_2025.csv")
    local = pd.to_datetime(cap["timestamp_local"]).dt.tz_localize("America/Chicago",
                                                                   ambiguous="raise")
    frame = pd.DataFrame({
        "interval_start_utc": local.dt.tz_convert("UTC"),
        "ercot_wind_installed_mw": cap["wind_installed_mw"].astype("float64"),
        "ercot_solar_installed_mw": cap["solar_installed_mw"].astype("float64"),
    })
    frame.to_parquet(OUT / "ercot_wind_solar_installed_capacity_2023_2025.parquet", index=False)


def bundle_eia930(shared: Path) -> None:
    """EIA-930 hourly BA demand 2016-2024: values as reported (blank = missing stays NaN), plus
    the Ruggles et al. (2020) MICE fill for ERCO's missing hours, in one Parquet file."""
    erco = pd.read_csv(shared / "eia930_erco_demand_hourly_2016_2024.csv")
    other = pd.read_csv(shared / "eia930_demand_hourly_2016_2024_PJM_MISO_SWPP_CISO_raw.csv")
    assert (erco["interval_start_utc"].to_numpy() == other["interval_start_utc"].to_numpy()).all()
    mice = erco["fill_method"].eq("mice_ruggles2020")
    frame = pd.DataFrame({
        "interval_start_utc": _utc(erco["interval_start_utc"]),
        "ERCO_demand_mw": erco["demand_mw"].astype("float64"),
        "ERCO_mice_fill_mw": erco["demand_mw_filled"].where(mice).astype("float64"),
        **{f"{ba}_demand_mw": other[f"{ba}_demand_mw"].astype("float64")
           for ba in ("PJM", "MISO", "SWPP", "CISO")},
    })
    frame.to_parquet(OUT / "eia930_demand_hourly_2016_2024.parquet", index=False,
                     compression="zstd")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
