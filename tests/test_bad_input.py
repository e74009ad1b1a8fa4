"""Bad scenario and data input: each kind gets a clear message naming where and what."""

import copy
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from ballast.cli import app
from ballast.data import loaders
from ballast.data.errors import DataError
from ballast.data.loaders import align, bundled_folder, read_series
from ballast.documents import read_yaml
from ballast.inputs import build_inputs
from ballast.scenario import ScenarioError, load_scenario, parse_scenario


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


def test_several_problems_get_one_line_each(scenario_dict):
    doc = _with(_with(scenario_dict, "ai.pue", 0.8), "site.import_limit_mw", float("nan"))
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "campus.yaml")
    lines = str(info.value).splitlines()
    assert lines[0] == "campus.yaml: invalid scenario (2 problems)"
    assert sorted(lines[1:]) == ["  - ai.pue: Input should be greater than or equal to 1",
                                 "  - site.import_limit_mw: Input should be a finite number"]


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
    with pytest.raises(DataError, match=r"not covered by .*markets.price \(.*\) covers 20"):
        build_inputs(parse_scenario(doc))


# --- The command line on hostile offline input (issue 9, item 7) -------------------------------
# Each case runs the real CLI (typer's CliRunner, in process) and must exit with code 2 and one
# line "error: ..." naming the file or field and the problem, never a traceback.

runner = CliRunner()
SHORT_RUN = {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z", "resolution": "15min"}


def _write_scenario(tmp: Path, doc: dict, name: str = "campus.yaml") -> Path:
    doc = {**doc, "run": SHORT_RUN}
    path = tmp / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _simulate_with(field: str, value):
    """Case setup: the scenario with one field set to ``value`` (written as YAML)."""
    def setup(tmp: Path, doc: dict, _mp) -> list[str]:
        return ["simulate", str(_write_scenario(tmp, _with(doc, field, value)))]
    return setup


def _simulate_text(text_of):
    """Case setup: a scenario file with the given raw YAML text (for what safe_dump won't write)."""
    def setup(tmp: Path, doc: dict, _mp) -> list[str]:
        path = tmp / "campus.yaml"
        path.write_text(text_of(yaml.safe_dump({**doc, "run": SHORT_RUN}, sort_keys=False)))
        return ["simulate", str(path)]
    return setup


def _binary(tmp: Path, doc: dict, _mp) -> list[str]:
    return ["simulate", str(Path(sys.executable).resolve())]  # a real executable


def _directory(tmp: Path, doc: dict, _mp) -> list[str]:
    return ["simulate", str(tmp)]


def _price_source(make):
    """Case setup: markets.price points at a file ``make(tmp)`` returns (source text)."""
    def setup(tmp: Path, doc: dict, mp) -> list[str]:
        source = make(tmp, mp)
        return ["simulate", str(_write_scenario(tmp, _with(doc, "markets.price.source", source)))]
    return setup


def _huge_csv(tmp: Path, _mp) -> str:
    path = tmp / "huge.csv"
    with path.open("wb") as f:  # sparse: stat says 300 MB (above the 256 MB cap), disk holds 0
        f.truncate(300_000_000)
    return str(path)


def _many_rows_csv(tmp: Path, mp) -> str:
    mp.setenv("BALLAST_MAX_DATA_ROWS", "100")
    stamps = pd.date_range("2024-05-01", periods=200, freq="15min", tz="UTC")
    return str(_price_csv(tmp, [(t.isoformat(), 20.0) for t in stamps], name="long.csv"))


def _outside_bundled(tmp: Path, _mp) -> str:
    _price_csv(tmp, GOOD, name="outside.csv")
    depth = len(bundled_folder().resolve().parts)
    return "bundled:" + "../" * depth + str(tmp / "outside").lstrip("/")


def _symlinked_bundled(tmp: Path, mp) -> str:
    outside = _price_csv(tmp, GOOD, name="outside.csv")
    folder = tmp / "bundled"
    folder.mkdir()
    (folder / "evil.csv").symlink_to(outside)
    mp.setattr(loaders, "bundled_folder", lambda: folder)
    return "bundled:evil"


def _site(text: str):
    """Case setup: ``serve --config`` with a site config beside a valid scenario."""
    def setup(tmp: Path, doc: dict, _mp) -> list[str]:
        _write_scenario(tmp, doc)
        path = tmp / "site.yaml"
        path.write_text(text)
        return ["serve", "--config", str(path)]
    return setup


# "billion laughs": each line repeats the previous anchor ten times, 10^8 values in 8 lines
_ALIAS_BOMB = "a: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 8))

CLI_CASES = [
    ("binary scenario", _binary, r"python\S*: not a text file \(byte \d+ is not UTF-8\)"),
    ("directory scenario", _directory, r"\S+: not a file \(a directory\); give a YAML file"),
    ("absurd miner count", _simulate_with("miners.0.count", 10**20),
     r"campus.yaml: invalid scenario: miners.0.count: Input should be less than or equal to "
     r"10000000"),
    # 60 days at 100 ms: 51,840,000 steps (kept small enough that a regression is slow, not OOM)
    ("absurd run length", _simulate_text(lambda t: t.replace("resolution: 15min",
                                                             "resolution: 100ms").replace(
                                                                 "2024-05-02", "2024-06-30")),
     r"campus.yaml: invalid scenario: run: 51,840,000 steps of 100ms .* at most 40,000,000"),
    ("data file above the size cap", _price_source(_huge_csv),
     r"huge.csv: file is 300 MB, above the 256 MB cap for a data file "
     r"\(set BALLAST_MAX_DATA_FILE_MB to raise it\)"),
    ("data file above the row cap", _price_source(_many_rows_csv),
     r"long.csv: more than 100 rows, the cap for a data file \(set BALLAST_MAX_DATA_ROWS"),
    ("unknown time zone", _simulate_with("site.timezone", "Mars/Olympus"),
     r"campus.yaml: invalid scenario: site.timezone: unknown time zone 'Mars/Olympus'"),
    ("unknown time zone with programs",
     lambda tmp, doc, mp: _simulate_with("site.timezone", "America/Chicag0")(
         tmp, {**doc, "programs": {"coincident_peak": {}}}, mp),
     r"campus.yaml: invalid scenario: site.timezone: unknown time zone 'America/Chicag0'"),
    ("path-like time zone", _simulate_with("site.timezone", "../../etc/passwd"),
     r"site.timezone: unknown time zone '../../etc/passwd'"),
    ("infinite import limit", _simulate_with("site.import_limit_mw", float("inf")),
     r"campus.yaml: invalid scenario: site.import_limit_mw: Input should be a finite number"),
    ("NaN share", _simulate_with("ai.pue", float("nan")),
     r"campus.yaml: invalid scenario: ai.pue: Input should be a finite number"),
    ("1e400 in a program", _simulate_text(lambda t: t + "programs:\n  price_response:\n"
                                          "    contract_price_usd_per_mwh: 1e400\n"
                                          "    contract_mw: 10\n"),
     r"programs.price_response.contract_price_usd_per_mwh: Input should be a finite number"),
    ("duplicate top-level key", _simulate_text(lambda t: t + "name: second-name\n"),
     r"campus.yaml: not valid YAML at line \d+, column 1: duplicate key 'name' "
     r"\(first given on line 2\)"),
    ("duplicate nested key", _simulate_text(lambda t: t.replace(
        "  import_limit_mw: 280\n", "  import_limit_mw: 280\n  import_limit_mw: 2800\n")),
     r"campus.yaml: not valid YAML at line 6, column 3: duplicate key 'import_limit_mw' "
     r"\(first given on line 5\)"),
    ("deeply nested YAML", _simulate_text(lambda t: t + "description: " + "[" * 5000 + "]" * 5000),
     r"campus.yaml: nested too deeply to be a YAML document"),
    ("alias bomb", _simulate_text(lambda t: t + _ALIAS_BOMB),
     r"campus.yaml: its aliases expand to [\d,]+ values, more than the 1,000,000"),
    ("bundled name with ..", _price_source(_outside_bundled),
     r"markets.price \(bundled:(\.\./)+\S*outside\): leads outside the bundled data folder"),
    ("bundled absolute path", _price_source(lambda tmp, mp: "bundled:" + str(
        _price_csv(tmp, GOOD, name="outside.csv")).removesuffix(".csv")),
     r"markets.price \(bundled:/\S*outside\): leads outside the bundled data folder"),
    ("bundled symlink out", _price_source(_symlinked_bundled),
     r"markets.price \(bundled:evil\): leads outside the bundled data folder"),
    ("smoothing compare on a directory", lambda tmp, doc, mp: ["smoothing", "compare", str(tmp)],
     r"\S+: not a file \(a directory\); give a YAML file"),
    ("4CP load file outside bundled",
     lambda tmp, doc, mp: ["programs", "fourcp", "--source", _outside_bundled(tmp, mp)],
     r"bundled:(\.\./)+\S*outside: leads outside the bundled data folder"),
    ("site config is a directory", lambda tmp, doc, mp: ["serve", "--config", str(tmp)],
     r"\S+: not a file \(a directory\); give a YAML file"),
    ("site config is binary",
     lambda tmp, doc, mp: ["serve", "--config", str(Path(sys.executable).resolve())],
     r"python\S*: not a text file"),
    ("site config duplicate key", _site("scenario: campus.yaml\ntick_s: 1\ntick_s: 0.1\n"),
     r"site.yaml: not valid YAML at line 3, column 1: duplicate key 'tick_s' "
     r"\(first given on line 2\)"),
    ("site config infinite tick", _site("scenario: campus.yaml\ntick_s: .inf\n"),
     r"site.yaml: invalid site config: tick_s: Input should be a finite number"),
    ("site config NaN price", _site("scenario: campus.yaml\nmarket: {price_usd_per_mwh: .nan}\n"),
     r"site.yaml: invalid site config: market.price_usd_per_mwh: Input should be a finite"),
]


@pytest.mark.timeout(120)  # a regression in the size cases must fail, not run for hours
@pytest.mark.parametrize(("setup", "expect"), [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_bad_offline_input_on_one_line(tmp_path, scenario_dict, monkeypatch, setup,
                                                    expect):
    args = setup(tmp_path, scenario_dict, monkeypatch)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no uncaught error
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    assert re.search(expect, lines[0]), lines[0]


def test_yaml_merge_keys_still_override(tmp_path):
    """Refusing repeated keys keeps YAML merge keys: a key may override a merged one."""
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {count: 1, model: x}\ngroup:\n  <<: *b\n  count: 2\n")
    assert read_yaml(path, ScenarioError)["group"] == {"count": 2, "model": "x"}
