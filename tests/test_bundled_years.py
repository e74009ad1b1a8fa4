"""Every bundled year runs end to end, each example is covered by the bundled data and says its
node, and a run outside the data names every series that falls short (issue 16, items 1 and 4).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import ballast
from ballast.cli import app
from ballast.data.errors import DataError
from ballast.data.loaders import bundled_path
from ballast.examples import bundled_examples, bundled_names
from ballast.inputs import build_inputs
from ballast.inputs.coverage import uncovered

# one short window of each bundled year: (example, start, end, the price file it reads, column)
YEARS = {
    2021: (
        "west_texas_2021",
        "2021-02-15T06:00:00Z",
        "2021-02-17T06:00:00Z",  # Uri
        "ercot_rtm_hb_west_hourly_2021",
        "price_usd_per_mwh",
    ),
    2023: (
        "west_texas_2023",
        "2023-08-10T05:00:00Z",
        "2023-08-12T05:00:00Z",
        "ercot_rtm_hb_west_hourly_2023",
        "price_usd_per_mwh",
    ),
    2024: (
        "west_texas_2024",
        "2024-04-20T00:00:00Z",
        "2024-04-22T00:00:00Z",
        "ercot_rtm_hb_hubavg_15min_2024_2025",
        "price_usd_per_mwh",
    ),
    2025: (
        "west_texas_2025",
        "2025-11-28T00:00:00Z",
        "2025-12-01T00:00:00Z",  # the data's end
        "ercot_rtm_hb_hubavg_15min_2024_2025",
        "price_usd_per_mwh",
    ),
}


def _file(name: str) -> pd.DataFrame:
    return pd.read_parquet(bundled_path(name)).set_index("interval_start_utc")


def _window(scenario) -> tuple[pd.Timestamp, pd.Timestamp]:
    return (
        pd.Timestamp(scenario.run.start).tz_convert("UTC"),
        pd.Timestamp(scenario.run.end).tz_convert("UTC"),
    )


@pytest.mark.parametrize("year", sorted(YEARS))
def test_each_bundled_year_runs_end_to_end(year):
    name, start, end, price_file, column = YEARS[year]
    scenario = ballast.load_scenario(name)
    assert _window(scenario)[0].year == year  # the example is the year's own
    result = CliRunner().invoke(
        app, ["simulate", name, "--start", start, "--end", end, "--no-optimum", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    hours = (pd.Timestamp(end) - pd.Timestamp(start)) / pd.Timedelta("1h")
    assert doc["intervals"] == hours * 4  # 15-min steps
    kpis = doc["kpis"]
    assert kpis["import_limit_exceeded_intervals"]["ballast"] == 0
    assert kpis["peak_import_mw"]["ballast"] <= scenario.site.import_limit_mw + 1e-6
    # (net margin is NaN here: a two-day run holds none of the year's 4CP intervals)
    assert kpis["btc_mined"]["baseline"] > 0 and kpis["mining_revenue_usd"]["baseline"] > 0
    assert kpis["energy_cost_usd"]["ballast"] <= kpis["energy_cost_usd"]["baseline"]
    # the run is priced from the example's own file: each hour's first step holds its price
    frame = build_inputs(ballast.with_run(scenario, start=start, end=end)).frame
    prices = _file(price_file)[column]
    hourly = frame["price_usd_per_mwh"].resample("1h").first()
    np.testing.assert_array_equal(hourly.to_numpy(), prices.reindex(hourly.index).to_numpy())
    # every note the example states is among the run's notes
    assert set(scenario.notes) <= set(doc["notes"])


def test_west_texas_2021_is_priced_at_hb_west_and_tells_it_from_the_hub_average():
    """The 2021 example reads HB_WEST, not the hub average bundled beside it."""
    scenario = ballast.load_scenario("west_texas_2021")
    start, end = _window(scenario)
    assert (start, end) == (pd.Timestamp("2021-01-01T06:00Z"), pd.Timestamp("2022-01-01T06:00Z"))
    hourly = _file("ercot_rtm_hb_west_hourly_2021")
    assert hourly.index[0] == start and hourly.index[-1] + pd.Timedelta("1h") == end
    frame = build_inputs(
        ballast.with_run(scenario, start="2021-02-15T06:00:00Z", end="2021-02-16T06:00:00Z")
    ).frame
    day = frame["price_usd_per_mwh"].resample("1h").first()
    west = hourly.loc[day.index, "price_usd_per_mwh"].to_numpy()
    hub = hourly.loc[day.index, "hb_hubavg_price_usd_per_mwh"].to_numpy()
    assert (day.to_numpy() == west).all() and (west != hub).any()


def test_hourly_2021_prices_are_the_hourly_means_of_the_15min_february_file():
    """Two independent bundled copies of ERCOT's February 2021 prices agree (to the cent)."""
    hourly = _file("ercot_rtm_hb_west_hourly_2021")
    fine = _file("ercot_rtm_hb_west_15min_2021_02")
    means = fine.resample("1h").mean()
    assert len(means) == 28 * 24
    for column in ("price_usd_per_mwh", "hb_hubavg_price_usd_per_mwh"):
        diff = (hourly.loc[means.index, column] - means[column]).abs()
        assert diff.max() <= 0.01 + 1e-9, column


@pytest.mark.parametrize("path", bundled_examples(), ids=lambda p: p.stem)
def test_every_example_parses_is_covered_and_names_its_node(path):
    scenario = ballast.load_scenario(path.stem)
    assert uncovered(scenario, _window(scenario)) == []
    header = "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    assert "Node:" in header, "the header comment says which settlement point prices the site"
    price = scenario.markets.price
    if "hb_hubavg" in price.source:  # a proxy: said in the header and in the run's notes
        assert "proxy" in header.lower()
        assert any("proxy" in n for n in scenario.notes), scenario.notes
    else:  # the West Texas site's own hub, HB_WEST, is the file's price_usd_per_mwh column
        assert "HB_WEST" in header and price.column == "price_usd_per_mwh"


def test_an_example_exists_for_each_full_bundled_year():
    years = set()
    for name in bundled_names():
        start, end = _window(ballast.load_scenario(name))
        if end - start >= pd.Timedelta(days=300):
            years.add(start.year)
    assert years >= {2021, 2023, 2024, 2025}


def _ranges() -> dict[str, str]:
    """First instant and end of each bundled file as read straight from it (YYYY-MM-DD HH:MM)."""

    def span(name: str, column: str = "interval_start_utc", step: str = "1h", delay: str = "0h") -> str:
        t = pd.read_parquet(bundled_path(name))[column]
        first, end = t.min() + pd.Timedelta(delay), t.max() + pd.Timedelta(step) + pd.Timedelta(delay)
        return f"{first:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"

    return {
        "markets.price": span("ercot_rtm_hb_hubavg_15min_2024_2025", step="15min"),
        "markets.bitcoin.network_source": span(
            "bitcoin_daily_network_coinmetrics_2020_2025", "date_utc", "1D", "24h"
        ),
        "renewables[wind]": span("ercot_system_hourly_2023_2024"),
        "markets.carbon": span("ercot_carbon_intensity_hourly_2021_2024"),
    }


def test_a_run_outside_the_data_names_each_missing_series_and_its_range():
    scenario = ballast.with_run(
        ballast.load_scenario("west_texas_2024"), start="2026-01-01T00:00:00Z", end="2026-01-02T00:00:00Z"
    )
    with pytest.raises(DataError) as caught:
        build_inputs(scenario)
    message = str(caught.value)
    assert "\n" not in message and "not covered by 4 series" in message
    for field, bundled in _ranges().items():
        assert f"{field} (bundled:" in message and f") covers {bundled}" in message, field


@pytest.mark.parametrize(
    ("start", "end", "missing"),
    [
        # 2025: the prices and Bitcoin data run on; the wind fleet and carbon stop with 2024
        ("2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z", ["renewables[wind]", "markets.carbon"]),
        # December 2025: the prices end 2025-11-30 23:45 UTC as well
        (
            "2025-12-01T00:00:00Z",
            "2025-12-02T00:00:00Z",
            ["markets.price", "renewables[wind]", "markets.carbon"],
        ),
        # 2022: no real-time price of 2022 is bundled, nor a wind profile
        ("2022-06-01T00:00:00Z", "2022-06-02T00:00:00Z", ["markets.price", "renewables[wind]"]),
    ],
)
def test_only_the_series_that_fall_short_are_named(start, end, missing):
    scenario = ballast.with_run(ballast.load_scenario("west_texas_2024"), start=start, end=end)
    with pytest.raises(DataError, match=f"not covered by {len(missing)} series") as caught:
        build_inputs(scenario)
    ranges = _ranges()
    for field in ranges:
        named = f"{field} (bundled:" in str(caught.value)
        assert named == (field in missing), field
        if named:
            assert ranges[field] in str(caught.value)


def test_the_cli_prints_one_line_and_exits_2(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "west_texas_2021",
            "--start",
            "2022-03-01T00:00:00Z",
            "--end",
            "2022-03-02T00:00:00Z",
            "--no-optimum",
        ],
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: run 2022-03-01 00:00")
    for field in (
        "markets.price (bundled:ercot_rtm_hb_west_hourly_2021) covers 2021-01-01 06:00 to 2022-01-01 06:00",
        "renewables[wind] (bundled:ercot_system_hourly_2021) covers 2021-01-01 06:00 to 2022-01-01 06:00",
    ):
        assert field in lines[0]


def test_fee_share_mode_names_the_daily_bitcoin_file(tmp_path):
    """With ``fees: share`` the daily price file (to 2025-04-08) is the one that falls short."""
    scenario = ballast.load_scenario("west_texas_2025")
    data = scenario.model_dump(mode="json")
    data["markets"]["bitcoin"] = {"fees": "share"}
    data["run"].update(start="2025-06-01T00:00:00Z", end="2025-06-02T00:00:00Z")
    path = tmp_path / "share.yaml"
    path.write_text(yaml.safe_dump(data))
    btc = pd.read_parquet(bundled_path("bitcoin_daily_2020_2025"))["date_utc"]
    with pytest.raises(DataError, match="not covered by 1 series") as caught:
        build_inputs(ballast.load_scenario(path), base_dir=tmp_path)
    first = btc.min() + pd.Timedelta("24h")  # each close applies from the end of its day
    end = btc.max() + pd.Timedelta("1D")  # the difficulty is read at its own stamp
    assert (
        f"markets.bitcoin (bundled:bitcoin_daily_2020_2025) covers "
        f"{first:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"
    ) in str(caught.value)


def test_the_4cp_program_load_is_needed_only_in_the_4cp_months():
    """programs.coincident_peak reads ERCOT load in June-September only: a 2025 run in February
    does not name it, one in June does (with its range, read from the file)."""
    load = _ranges()["renewables[wind]"]  # the same file: ercot_system_hourly_2023_2024
    scenario = ballast.load_scenario("west_texas_2024_programs")
    field = "programs.coincident_peak.load_source (bundled:ercot_system_hourly_2023_2024)"
    for start, end, named in (
        ("2025-02-01T00:00:00Z", "2025-02-02T00:00:00Z", False),
        ("2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z", True),
    ):
        run = ballast.with_run(scenario, start=start, end=end)
        with pytest.raises(DataError) as caught:
            build_inputs(run)
        assert (f"{field} covers {load} (needed in months [6, 7, 8, 9])" in str(caught.value)) == named, start


def test_ballast_data_lists_the_2021_prices_with_their_span_and_licence():
    result = CliRunner().invoke(app, ["data", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["file"], r["column"]): r for r in json.loads(result.stdout)["series"]}
    hourly = _file("ercot_rtm_hb_west_hourly_2021")
    for column in ("price_usd_per_mwh", "hb_hubavg_price_usd_per_mwh"):
        r = rows[("ercot_rtm_hb_west_hourly_2021.parquet", column)]
        assert r["resolution"] == "1 h" and r["gaps"] == 0 and r["unit"] == "USD/MWh"
        assert pd.Timestamp(r["first_utc"]) == hourly.index[0]
        assert pd.Timestamp(r["end_utc"]) == hourly.index[-1] + pd.Timedelta("1h")
        assert "ERCOT" in r["licence"] and r["source"]
    for name in ("ercot_dam_hb_hubavg_hourly_2021_2024", "ercot_dam_hb_west_hourly_2021_01_07"):
        r = rows[(f"{name}.parquet", "price_usd_per_mwh")]
        assert "day-ahead" in r["quantity"] and r["gaps"] == 0


def test_a_gridstatus_price_file_is_checked_at_its_chosen_settlement_point(tmp_path):
    """A file of several settlement points: coverage is that of the chosen one; without a
    choice the loader's own message (choose one with 'location') is what the user sees."""
    starts = pd.date_range("2024-05-01T00:00Z", periods=2 * 96, freq="15min")
    rows = [
        (t, t + pd.Timedelta("15min"), loc, 20.0 + i % 7)
        for loc, times in (("HB_WEST", starts), ("HB_NORTH", starts[:96]))
        for i, t in enumerate(times)
    ]
    path = tmp_path / "gs.csv"
    pd.DataFrame(rows, columns=["Interval Start", "Interval End", "Location", "SPP"]).to_csv(
        path, index=False
    )
    data = ballast.load_scenario("west_texas_2025").model_dump(mode="json")
    data["run"].update(start="2024-05-01T00:00:00Z", end="2024-05-03T00:00:00Z")
    for location, expect in (
        ("HB_WEST", None),
        ("HB_NORTH", "markets.price .* covers 2024-05-01 00:00 to 2024-05-02 00:00"),
        (None, "several locations .* choose one with 'location'"),
    ):
        data["markets"]["price"] = {"source": str(path), "location": location}
        scenario_path = tmp_path / "gs.yaml"
        scenario_path.write_text(yaml.safe_dump(data))
        scenario = ballast.load_scenario(scenario_path)
        if expect is None:
            frame = build_inputs(scenario, base_dir=tmp_path).frame
            assert len(frame) == 2 * 96
        else:
            with pytest.raises(DataError, match=expect):
                build_inputs(scenario, base_dir=tmp_path)
