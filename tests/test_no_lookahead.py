"""No look-ahead (issue 16): each daily BTC close applies from the end of its day, and the
controller decides on the last real-time price settled before each decision."""

from __future__ import annotations

import pandas as pd
import pytest

from ballast.data.loaders import bundled_path
from ballast.inputs import build_inputs
from ballast.scenario import parse_scenario


def _closes() -> pd.Series:
    frame = pd.read_parquet(bundled_path("bitcoin_daily_2020_2025"))
    return frame.set_index("date_utc")["btc_price_usd"]


def _inputs(scenario_dict, start: str, end: str, **bitcoin) -> pd.DataFrame:
    scenario_dict["run"].update({"start": start, "end": end})
    scenario_dict["markets"]["bitcoin"] = {"fees": "share",  # the price file of the flat share
                                           "source": "bundled:bitcoin_daily_2020_2025", **bitcoin}
    return build_inputs(parse_scenario(scenario_dict)).frame


def test_noon_of_the_halving_day_uses_the_previous_days_close(scenario_dict):
    closes = _closes()
    frame = _inputs(scenario_dict, "2024-04-20T00:00:00Z", "2024-04-21T00:00:00Z")
    noon = pd.Timestamp("2024-04-20T12:00Z")
    assert frame.loc[noon, "btc_price_usd"] == closes.loc[pd.Timestamp("2024-04-19", tz="UTC")]
    assert closes.loc[pd.Timestamp("2024-04-19", tz="UTC")] != closes.loc[
        pd.Timestamp("2024-04-20", tz="UTC")]  # the check can tell the two days apart
    # the whole day holds the 04-19 close; it changes exactly at 00:00 UTC of the next day
    assert (frame["btc_price_usd"] == frame["btc_price_usd"].iloc[0]).all()


def test_every_instant_uses_only_closes_already_known(scenario_dict):
    """Walk a week across a day boundary: the value at t is the close of the last day that
    ended at or before t."""
    closes = _closes()
    frame = _inputs(scenario_dict, "2024-05-01T00:00:00Z", "2024-05-08T00:00:00Z")
    for t, value in frame["btc_price_usd"].items():
        known = closes[closes.index + pd.Timedelta("1D") <= t]
        assert value == known.iloc[-1], t


def test_zero_delay_is_the_old_same_day_choice(scenario_dict):
    closes = _closes()
    frame = _inputs(scenario_dict, "2024-04-20T00:00:00Z", "2024-04-21T00:00:00Z",
                    price_delay_h=0)
    assert frame.loc[pd.Timestamp("2024-04-20T12:00Z"), "btc_price_usd"] == pytest.approx(
        closes.loc[pd.Timestamp("2024-04-20", tz="UTC")])


def _prices() -> pd.Series:
    frame = pd.read_parquet(bundled_path("ercot_rtm_hb_hubavg_15min_2024_2025"))
    return frame.set_index("interval_start_utc")["price_usd_per_mwh"]


def _price_inputs(scenario_dict, start: str, end: str, resolution: str, **price) -> pd.DataFrame:
    scenario_dict["run"].update({"start": start, "end": end, "resolution": resolution})
    scenario_dict["markets"]["price"].update(price)
    return build_inputs(parse_scenario(scenario_dict)).frame


def test_the_controller_decides_on_the_last_settled_15_minute_price(scenario_dict):
    prices = _prices()
    frame = _price_inputs(scenario_dict, "2024-08-20T00:00:00Z", "2024-08-21T00:00:00Z", "15min")
    for t in frame.index:
        assert frame.loc[t, "price_usd_per_mwh"] == prices.loc[t]  # settled on its own
        assert frame.loc[t, "decision_price_usd_per_mwh"] == prices.loc[t - pd.Timedelta("15min")]


def test_an_hourly_run_decides_on_the_mean_of_the_last_hour(scenario_dict):
    prices = _prices()
    frame = _price_inputs(scenario_dict, "2024-08-20T00:00:00Z", "2024-08-21T00:00:00Z", "1h")
    for t in frame.index:
        last_hour = prices[(prices.index >= t - pd.Timedelta("1h")) & (prices.index < t)]
        assert len(last_hour) == 4
        assert frame.loc[t, "decision_price_usd_per_mwh"] == pytest.approx(last_hour.mean())


def test_a_run_from_the_files_first_instant_holds_the_first_price_until_one_is_known(
        scenario_dict):
    prices = _prices()
    assert prices.index[0] == pd.Timestamp("2024-01-01T00:00Z")  # the file starts here
    frame = _price_inputs(scenario_dict, "2024-01-01T00:00:00Z", "2024-01-01T02:00:00Z", "5min")
    decide = frame["decision_price_usd_per_mwh"]
    first_known = pd.Timestamp("2024-01-01T00:15Z")
    assert (decide[decide.index < first_known] == prices.iloc[0]).all()
    for t in decide.index[decide.index >= first_known]:  # 5-min run: the last 15-min price
        assert decide.loc[t] == prices.loc[t.floor("15min") - pd.Timedelta("15min")]


def test_decision_delay_none_is_the_interval_own_price(scenario_dict):
    frame = _price_inputs(scenario_dict, "2024-08-20T00:00:00Z", "2024-08-21T00:00:00Z", "15min",
                          decision_delay="none")
    assert (frame["decision_price_usd_per_mwh"] == frame["price_usd_per_mwh"]).all()
