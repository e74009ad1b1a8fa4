"""The command line, run as a user runs it (typer's CliRunner in process)."""

import json
import re

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from ballast.cli import app

runner = CliRunner()


def test_simulate_json_is_stable_and_writes_results(tmp_path, scenario_dict):
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(scenario_dict))
    out = tmp_path / "out"
    result = runner.invoke(app, ["simulate", str(path), "--out", str(out), "--json",
                                 "--end", "2024-05-03T00:00:00Z"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "ballast.results/1"
    assert doc["intervals"] == 2 * 96
    assert doc["end_utc"] == "2024-05-03T00:00:00+00:00"
    assert {"ballast", "baseline", "delta", "unit"} <= set(doc["kpis"]["net_margin_usd"])
    for name in ("timeseries.parquet", "groups.parquet", "kpis.json", "monthly.csv", "events.csv",
                 "report.html"):
        assert (out / name).stat().st_size > 0, name


def test_simulate_prints_kpi_table(tmp_path, scenario_dict):
    path = tmp_path / "campus.yaml"
    scenario_dict["run"]["end"] = "2024-05-02T00:00:00Z"
    path.write_text(yaml.safe_dump(scenario_dict))
    result = runner.invoke(app, ["simulate", str(path), "--resolution", "5min"])
    assert result.exit_code == 0, result.output
    assert "net_margin_usd" in result.stdout and "Baseline" in result.stdout


def test_simulate_bad_scenario_exits_2_with_field(tmp_path, scenario_dict):
    scenario_dict["miners"][0]["model"] = "Antminer S99"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(scenario_dict))
    result = runner.invoke(app, ["simulate", str(path)])
    assert result.exit_code == 2
    text = re.sub(r"\s+", " ", result.output)
    assert "bad.yaml" in text and "miners.0.model" in text and "Antminer S99" in text


def test_market_json_halving_and_breakevens():
    """The flat fee share (``--fees share``): the halved subsidy halves hashprice; the real
    fee series is tested in test_fees_series.py."""
    share = ["--json", "--fees", "share"]
    before = json.loads(runner.invoke(app, ["market", "--date", "2024-04-19", *share]).stdout)
    after = json.loads(runner.invoke(app, ["market", "--date", "2024-04-21", *share]).stdout)
    assert before["block_subsidy_btc"] == 6.25 and after["block_subsidy_btc"] == 3.125
    assert after["hashprice_usd_per_ph_day"] < 0.6 * before["hashprice_usd_per_ph_day"]
    be = after["breakeven_usd_per_mwh"]
    assert be["Antminer S21"] > be["Antminer S19j Pro"]
    p = after["ercot_price_usd_per_mwh"]
    assert p["intervals"] == 96 and p["min"] <= p["mean"] <= p["max"]


@pytest.mark.parametrize("day", ["2020-06-01", "2021-01-01", "2022-07-01"])
def test_market_without_a_bundled_price_gives_null(day):
    """Issue 16: days without a bundled real-time price (2020, 2022, and 2021-01-01, whose
    hourly file starts at 06:00 UTC: part of a day is not a day's figure) give null; they
    used to crash."""
    result = runner.invoke(app, ["market", "--date", day, "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["date_utc"] == day and info["btc_price_usd"] > 0
    assert info["ercot_price_usd_per_mwh"] is None
    assert info["ercot_hb_west_price_usd_per_mwh"] is None
    table = runner.invoke(app, ["market", "--date", day])
    assert table.exit_code == 0 and "Traceback" not in table.output
    assert "no bundled price covers this day" in table.output


@pytest.mark.parametrize(("day", "hub_file", "hub_col", "west_file", "per_day"), [
    # Uri: the 15-min February file, finer than the hourly 2021 year
    ("2021-02-16", "ercot_rtm_hb_west_15min_2021_02", "hb_hubavg_price_usd_per_mwh",
     "ercot_rtm_hb_west_15min_2021_02", 96),
    ("2021-12-31", "ercot_rtm_hb_west_hourly_2021", "hb_hubavg_price_usd_per_mwh",
     "ercot_rtm_hb_west_hourly_2021", 24),
    ("2023-08-10", "ercot_rtm_hb_west_hourly_2023", "hb_hubavg_price_usd_per_mwh",
     "ercot_rtm_hb_west_hourly_2023", 24),
    ("2024-04-21", "ercot_rtm_hb_hubavg_15min_2024_2025", "price_usd_per_mwh", None, 96),
])
def test_market_prices_every_bundled_year(day, hub_file, hub_col, west_file, per_day):
    """Issue 16 item 7: a date in every bundled year answers with the real-time prices of the
    file that covers it, at both hubs where bundled; the figures are the plain mean and max of
    that UTC day's rows, read here straight from the parquet file."""
    from importlib.resources import files

    info = json.loads(runner.invoke(app, ["market", "--date", day, "--json"]).stdout)
    start = pd.Timestamp(day, tz="UTC")

    def rows(name: str, col: str) -> pd.Series:
        frame = pd.read_parquet(files("ballast.data") / "bundled" / f"{name}.parquet")
        t = pd.to_datetime(frame["interval_start_utc"], utc=True)
        return frame.loc[(t >= start) & (t < start + pd.Timedelta("1D")), col]

    hub = rows(hub_file, hub_col)
    assert len(hub) == per_day
    got = info["ercot_price_usd_per_mwh"]
    assert got["intervals"] == per_day and got["source"] == f"bundled:{hub_file}"
    assert got["mean"] == pytest.approx(hub.mean()) and got["max"] == pytest.approx(hub.max())
    west = info["ercot_hb_west_price_usd_per_mwh"]
    if west_file is None:
        assert west is None
    else:
        expect = rows(west_file, "price_usd_per_mwh")
        assert west["mean"] == pytest.approx(expect.mean())
    if day == "2021-02-16":  # ERCOT's 9,000 USD/MWh offer cap held most of the day
        assert got["mean"] > 8000


def test_market_errors():
    assert runner.invoke(app, ["market", "--date", "24/04/2024"]).exit_code == 2
    result = runner.invoke(app, ["market", "--date", "2019-01-01"])
    assert result.exit_code == 2 and "no Bitcoin data" in result.output


def test_scenarios_lists_bundled_examples():
    result = runner.invoke(app, ["scenarios", "--json"])
    assert result.exit_code == 0
    names = [row["name"] for row in json.loads(result.stdout)]
    assert "west_texas_2024" in names
