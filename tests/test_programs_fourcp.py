"""4CP: peaks from hourly load, an alert that never peeks at the future, and the settlement."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast import coincident_peak
from ballast.data.loaders import read_series
from ballast.programs import fourcp


def hourly(values, start="2024-06-01T05:00Z"):
    idx = pd.date_range(start, periods=len(values), freq="1h", name="interval_start_utc")
    return pd.Series(np.asarray(values, dtype=float), index=idx)


def test_real_2024_peaks_match_ercot_hourly_data():
    load = read_series("bundled:ercot_system_hourly_2023_2024", "ercot_load_mw")
    peaks = coincident_peak.find_monthly_peaks(load)
    p24 = peaks[peaks["year"] == 2024].set_index("month")
    assert list(p24.index) == [6, 7, 8, 9]
    # August 2024: the year's peak, hour starting 17:00 CDT on 2024-08-20 (ERCOT native load)
    assert p24.loc[8, "peak_hour_start_utc"] == pd.Timestamp("2024-08-20T22:00Z")
    assert p24.loc[8, "peak_load_mw"] == pytest.approx(85_198.85, abs=1)
    assert (p24["hours_in_month"] >= 720).all()


@pytest.mark.parametrize(("peak_at", "month"), [(30, 6), (24 * 30 + 5, 7)])
def test_find_monthly_peaks_table(peak_at, month):
    values = np.full(24 * 61, 50_000.0)
    values[peak_at] = 70_000.0
    peaks = coincident_peak.find_monthly_peaks(hourly(values)).set_index("month")
    assert peaks.loc[month, "peak_load_mw"] == 70_000.0
    assert peaks.loc[month, "peak_hour_start_utc"] == hourly(values).index[peak_at]


def test_peak_hour_gives_four_15min_intervals():
    ivs = coincident_peak.peak_interval_starts(pd.Timestamp("2024-08-20T22:00Z"))
    assert list(ivs.strftime("%H:%M")) == ["22:00", "22:15", "22:30", "22:45"]


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(40_000, 90_000), min_size=72, max_size=200),
       cut=st.integers(3, 70))
def test_alert_never_uses_the_future(values, cut):
    """The alert for hour h is the same whether or not the data after h exists."""
    full = fourcp.fourcp_alert_hourly(hourly(values), window_start_hour_local=0,
                                      window_end_hour_local=24)
    part = fourcp.fourcp_alert_hourly(hourly(values[:cut + 1]), window_start_hour_local=0,
                                      window_end_hour_local=24)
    assert full["alert"].iloc[: cut + 1].tolist() == part["alert"].tolist()


@pytest.mark.parametrize(("last_two", "expect"), [
    ((80_000, 82_000), True),    # rising towards the month's high: forecast 84,000 >= 0.95 x 84,000
    ((70_000, 71_000), False),   # forecast 72,000 < 79,800
])
def test_alert_table(last_two, expect):
    # local 14:00 CDT = 19:00 UTC; month high 84,000 seen earlier in the month
    values = [84_000.0] + [60_000.0] * 20 + list(last_two) + [0.0]
    series = hourly(values, start="2024-06-03T00:00Z")
    out = fourcp.fourcp_alert_hourly(series, window_start_hour_local=0, window_end_hour_local=24)
    assert bool(out["alert"].iloc[-1]) is expect


def test_settlement_charge_and_hits():
    idx = pd.date_range("2024-06-01T00:00Z", periods=8, freq="15min")
    peaks = pd.DataFrame({"year": [2024, 2024], "month": [6, 7],
                          "peak_hour_start_utc": [idx[0], idx[4]], "peak_load_mw": [1.0, 1.0]})
    import_mw = pd.Series([10, 12, 11, 10, 100, 100, 100, 100], index=idx, dtype=float)
    curtailing = pd.Series([True] * 4 + [True, False, True, True], index=idx)
    table, summary = coincident_peak.settle_fourcp(import_mw, peaks, curtailing, 60.0)
    assert table["site_demand_mw"].tolist() == [12.0, 100.0]  # worst interval of each peak hour
    assert table["hit"].tolist() == [True, False]
    assert summary["charge_usd"] == pytest.approx(60.0 * 56.0 * 1000)  # USD/kW-yr x mean kW


def test_alert_at_one_hour_is_the_hourly_tables_row():
    """The live host's one-hour alert (``fourcp_alert_at``) is the backtest's hourly table, row
    by row, on the bundled ERCOT load (with a gap cut into it): same alert, forecast, threshold."""
    load = read_series("bundled:ercot_system_hourly_2023_2024", "ercot_load_mw")
    load = load.drop(load.index[(load.index >= "2024-07-10") & (load.index < "2024-07-10T05:00Z")])
    table = fourcp.fourcp_alert_hourly(load)
    hours = table.loc["2024-06-01T05:00Z":"2024-10-01T05:00Z"].index[::5]
    hourly = load.resample("1h").mean().dropna()
    got = [fourcp.fourcp_alert_at(hourly, h) for h in hours]
    assert [g[0] for g in got] == table.loc[hours, "alert"].tolist()
    assert sum(g[0] for g in got) > 10  # the summer has alerts to compare
    np.testing.assert_allclose([g[1] for g in got], table.loc[hours, "forecast_mw"], equal_nan=True)
    np.testing.assert_allclose([g[2] for g in got], table.loc[hours, "threshold_mw"], equal_nan=True)
