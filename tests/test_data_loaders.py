"""Loaders: bundled data, gridstatus-shaped frames, alignment to the run's resolution."""

import numpy as np
import pandas as pd
import pytest

from ballast.data.loaders import align, read_series


def test_bundled_prices_are_utc_regular_and_real():
    s = read_series("bundled:ercot_rtm_hb_hubavg_15min_2024_2025", "price_usd_per_mwh")
    assert str(s.index.tz) == "UTC"
    assert (s.index[1] - s.index[0]) == pd.Timedelta("15min")
    year = s["2024"]
    assert len(year) == 366 * 96
    assert year.min() < 0  # negative real-time prices happen in ERCOT
    assert 20 < year.mean() < 40  # 2024 HB_HUBAVG RT mean was in the high 20s USD/MWh


def test_gridstatus_frame_filtered_and_5min_averaged_to_15min(tmp_path):
    times = pd.date_range("2024-07-01 00:00", periods=12, freq="5min", tz="America/Chicago")
    rows = []
    for i, t in enumerate(times):
        for loc, base in (("HB_WEST", 10.0), ("HB_NORTH", 100.0)):
            rows.append({"Interval Start": t.isoformat(),
                         "Interval End": (t + pd.Timedelta("5min")).isoformat(),
                         "Location": loc, "Location Type": "Trading Hub", "Market": "RTM",
                         "LMP": base + i})
    path = tmp_path / "gs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    s = read_series(path, location="HB_WEST")
    assert s.index[0] == pd.Timestamp("2024-07-01 05:00", tz="UTC")  # CDT = UTC-5
    index = pd.date_range("2024-07-01 05:00", periods=4, freq="15min", tz="UTC")
    out = align(s, index, "gs.csv")
    np.testing.assert_allclose(out.to_numpy(), [11.0, 14.0, 17.0, 20.0])  # means of 3


def test_hourly_held_over_15min_intervals(tmp_path):
    path = tmp_path / "hourly.parquet"
    idx = pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC", name="interval_start_utc")
    pd.DataFrame({"interval_start_utc": idx, "x_mw": [1.0, 2.0, 3.0]}).to_parquet(path)
    s = read_series(path)
    target = pd.date_range("2024-01-01", periods=12, freq="15min", tz="UTC")
    np.testing.assert_array_equal(align(s, target, "x").to_numpy(), np.repeat([1.0, 2.0, 3.0], 4))


def test_window_skips_defects_outside_the_run():
    # the bundled Bitcoin file has no close price on its last day (2025-04-08): a 2024 run is fine
    s = read_series("bundled:bitcoin_daily_2020_2025", "btc_price_usd",
                    window=(pd.Timestamp("2024-01-01", tz="UTC"),
                            pd.Timestamp("2025-01-01", tz="UTC")))
    assert s.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert np.isfinite(s.to_numpy()).all()
    with pytest.raises(ValueError, match="NaN"):
        read_series("bundled:bitcoin_daily_2020_2025", "btc_price_usd")
