"""No look-ahead on the daily BTC close: each close applies from the end of its day (issue 16)."""

from __future__ import annotations

import pandas as pd
import pytest

from ballast.data.loaders import bundled_path
from ballast.scenario import parse_scenario
from ballast.sim.inputs import build_inputs


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
