"""Bad scenario and data input: each kind gets a clear message naming where and what."""

import copy
from pathlib import Path

import pandas as pd
import pytest

from ballast.data.errors import DataError
from ballast.data.loaders import align, read_series
from ballast.scenario import ScenarioError, load_scenario, parse_scenario
from ballast.sim.inputs import build_inputs


def _with(doc: dict, path: str, value) -> dict:
    doc = copy.deepcopy(doc)
    keys = path.split(".")
    node = doc
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    if value is KeyError:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "expect"),
    [
        ("version", 2, r"version: unsupported scenario version 2"),
        ("site.import_limit_mw", KeyError, r"site.import_limit_mw: Field required"),
        ("site.import_limit_mw", -5, r"site.import_limit_mw: Input should be greater than 0"),
        ("miners.0.model", "Antminer S99", r"miners.0.model: unknown miner model 'Antminer S99'"),
        ("miners.1.count", 0, r"miners.1.count: Input should be greater than 0"),
        ("run.end", "2023-01-01T00:00:00Z", r"run: end must be after start"),
        ("run.resolution", "fortnightly", r"run.resolution: not a time step: 'fortnightly'"),
        ("run.start", "2024-05-01T00:00:00", r"run: start and end need a UTC offset"),
        ("ai.pue", 0.8, r"ai.pue: Input should be greater than or equal to 1"),
        ("site.voltage_kv", 345, r"site.voltage_kv: Extra inputs are not permitted"),
        ("miners.1.name", "s19jpro", r"duplicate names \['s19jpro'\]"),
    ],
)
def test_bad_scenario_fields(scenario_dict, path, value, expect):
    with pytest.raises(ScenarioError, match=expect) as info:
        parse_scenario(_with(scenario_dict, path, value), "campus.yaml")
    assert str(info.value).startswith("campus.yaml: invalid scenario")


def test_bad_yaml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("version: 1\nsite: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: not valid YAML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match=r"nowhere.yaml: file not found"):
        load_scenario(tmp_path / "nowhere.yaml")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ScenarioError, match="must be a mapping"):
        load_scenario(listy)


def _price_csv(tmp_path: Path, rows: list[tuple[str, object]], name="prices.csv") -> Path:
    path = tmp_path / name
    lines = ["interval_start_utc,price_usd_per_mwh"] + [f"{t},{v}" for t, v in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = [("2024-05-01T00:00:00Z", 20.0), ("2024-05-01T00:15:00Z", -3.5),
        ("2024-05-01T00:30:00Z", 25.0), ("2024-05-01T00:45:00Z", 30.0)]


def test_good_csv_negative_prices_valid(tmp_path):
    s = read_series(_price_csv(tmp_path, GOOD))
    assert s.index.tz is not None and str(s.index.tz) == "UTC"
    assert s.iloc[1] == -3.5


@pytest.mark.parametrize(
    ("rows", "expect"),
    [
        # a gap: 00:30 missing
        ([GOOD[0], GOOD[1], GOOD[3]], r"prices.csv \(column 'interval_start_utc', row 3\): gap"),
        # duplicated timestamp, as a repeated local hour at a DST change
        ([GOOD[0], GOOD[1], GOOD[1], GOOD[2]], r"row 3\): duplicated timestamp .*DST"),
        # not sorted
        ([GOOD[0], GOOD[2], GOOD[1], GOOD[3]], r"row 3\): timestamps go backwards"),
        # NaN
        ([GOOD[0], ("2024-05-01T00:15:00Z", ""), GOOD[2]],
         r"column 'price_usd_per_mwh', row 2\): missing or non-numeric value \(NaN\)"),
        # text in a number column
        ([GOOD[0], ("2024-05-01T00:15:00Z", "abc"), GOOD[2]], r"row 2\): not a number: 'abc'"),
        # a unit mistake: price in USD/kWh * 1e6
        ([GOOD[0], ("2024-05-01T00:15:00Z", 2.5e6), GOOD[2]],
         r"row 2\): value 2.5e\+06 above the allowed maximum 50000"),
        # naive timestamps (DST ambiguous)
        ([("2024-05-01 00:00:00", 1.0), ("2024-05-01 00:15:00", 2.0)], r"has no time zone"),
        # garbage timestamp
        ([GOOD[0], ("yesterday", 2.0)], r"row 2\): cannot parse timestamp 'yesterday'"),
    ],
)
def test_bad_price_files(tmp_path, rows, expect):
    with pytest.raises(DataError, match=expect):
        read_series(_price_csv(tmp_path, rows), minimum=-10_000, maximum=50_000)


def test_series_that_does_not_cover_the_run(tmp_path):
    s = read_series(_price_csv(tmp_path, GOOD))
    index = pd.date_range("2024-05-01", periods=8, freq="15min", tz="UTC")
    with pytest.raises(DataError, match=r"covers .* but the run needs"):
        align(s, index, "prices.csv")


def test_gridstatus_file_with_several_locations_needs_a_choice(tmp_path):
    path = tmp_path / "gs.csv"
    path.write_text(
        "Interval Start,Interval End,Location,Location Type,Market,SPP\n"
        "2024-05-01 00:00:00-05:00,2024-05-01 00:15:00-05:00,HB_WEST,Trading Hub,RTM,10\n"
        "2024-05-01 00:00:00-05:00,2024-05-01 00:15:00-05:00,HB_NORTH,Trading Hub,RTM,11\n")
    with pytest.raises(DataError, match=r"several locations .* choose one with 'location'"):
        read_series(path)
    with pytest.raises(DataError, match=r"no rows for location 'LZ_XX'"):
        read_series(path, location="LZ_XX")


def test_scenario_pointing_at_bad_data_names_the_field(tmp_path, scenario_dict):
    bad = _price_csv(tmp_path, [GOOD[0], GOOD[1], GOOD[3]])
    doc = _with(scenario_dict, "markets.price.source", str(bad))
    with pytest.raises(DataError, match=r"markets.price \(.*prices.csv\) .*row 3\): gap"):
        build_inputs(parse_scenario(doc))
    doc = _with(scenario_dict, "markets.price.source", "bundled:no_such_set")
    with pytest.raises(DataError, match=r"markets.price \(bundled:no_such_set\): no such bundled data set"):
        build_inputs(parse_scenario(doc))
    # a run outside the bundled price data
    doc = _with(scenario_dict, "run.start", "2019-01-01T00:00:00Z")
    doc = _with(doc, "run.end", "2019-01-02T00:00:00Z")
    with pytest.raises(DataError, match=r"markets.price .* the run needs"):
        build_inputs(parse_scenario(doc))
