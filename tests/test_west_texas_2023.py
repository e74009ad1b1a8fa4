"""The bundled 2023 year: ``--start 2023...`` runs, priced at the site's own hub HB_WEST."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import ballast
from ballast.cli import app
from ballast.data.loaders import bundled_path
from ballast.inputs import build_inputs
from ballast.sim import simulate

SHORT = {"start": "2023-08-10T05:00:00Z", "end": "2023-08-12T05:00:00Z"}  # ERCOT's 2023 peak


def _hourly_2023() -> pd.DataFrame:
    return pd.read_parquet(bundled_path("ercot_rtm_hb_west_hourly_2023")).set_index(
        "interval_start_utc")


def test_west_texas_2023_is_priced_at_hb_west_not_the_hub_average():
    scenario = ballast.with_run(ballast.load_scenario("west_texas_2023"), **SHORT)
    frame = build_inputs(scenario).frame
    prices = _hourly_2023()
    hour = pd.Timestamp("2023-08-10T23:00Z")
    for quarter in range(4):  # each hourly price holds over the hour's four 15-min steps
        t = hour + pd.Timedelta(minutes=15 * quarter)
        assert frame.loc[t, "price_usd_per_mwh"] == prices.loc[hour, "price_usd_per_mwh"]
    day = frame["price_usd_per_mwh"].resample("1h").first()
    assert (day.to_numpy() == prices.loc[day.index, "price_usd_per_mwh"].to_numpy()).all()
    # and the check can tell the hubs apart on these days
    assert (day.to_numpy() != prices.loc[day.index, "hb_hubavg_price_usd_per_mwh"].to_numpy()).any()


def test_west_texas_2023_runs_end_to_end_from_the_cli():
    result = CliRunner().invoke(app, ["simulate", "west_texas_2023", "--start", SHORT["start"],
                                      "--end", SHORT["end"], "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["intervals"] == 2 * 96
    kpis = doc["kpis"]
    assert kpis["import_limit_exceeded_intervals"]["ballast"] == 0
    assert kpis["peak_import_mw"]["ballast"] <= 280 + 1e-6
    assert 0 < kpis["capacity_factor_pct[wind]"]["ballast"] < 100


def test_the_2023_prices_stop_where_the_file_does():
    scenario = ballast.with_run(ballast.load_scenario("west_texas_2023"),
                                start="2022-12-31T00:00:00Z", end="2023-01-02T00:00:00Z")
    with pytest.raises(ValueError, match=r"ercot_rtm_hb_west_hourly_2023.*covers 2023-01-01 06:00"):
        simulate(scenario)
