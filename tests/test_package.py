"""The package surface: the public Python API, optional extras, lazy CLI, licences and data
attributions, and the command-line polish (help text, unknown names, one-line errors)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

import ballast
from ballast.cli import app
from ballast.examples import bundled_names, examples_dir

ROOT = Path(__file__).resolve().parents[1]
LIVE_STACK = ("fastapi", "uvicorn", "pymodbus", "psycopg", "pyasic", "openleadr")
SHORT = ["--end", "2024-01-03T00:00:00Z"]  # two days of the bundled West Texas year


def _python(code: str, timeout_s: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout_s)


# --- public API ---------------------------------------------------------------------------

def test_every_public_name_imports_and_is_documented():
    assert set(ballast.__all__) == set(ballast._EXPORTS)
    for name in ballast.__all__:
        obj = getattr(importlib.import_module("ballast"), name)
        doc = obj.__doc__ or ""
        assert len(doc.split()) >= 5, f"ballast.{name} has no real docstring"
    for name in ("load_scenario", "simulate", "with_run", "Results"):  # they handle quantities
        assert re.search(r"\b(UTC|MW|USD/MWh)\b", getattr(ballast, name).__doc__), name
    with pytest.raises(AttributeError):
        ballast.no_such_name  # noqa: B018


def test_api_run_matches_the_cli_json(tmp_path):
    scenario = ballast.load_scenario("west_texas_2024")
    result = ballast.simulate(scenario, resolution="15min", end="2024-01-03T00:00:00Z")
    assert isinstance(result, ballast.Results)
    assert len(result.timeseries) == 2 * 96
    assert result.timeseries.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert {"ballast", "baseline", "delta", "unit"} <= set(result.kpis.columns)
    assert list(result.events.columns)[:2] == ["time_utc", "group"]

    cli = CliRunner().invoke(app, ["simulate", "west_texas_2024", *SHORT, "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(json.dumps(result.to_json()))["kpis"] == json.loads(cli.stdout)["kpis"]

    out = result.write(tmp_path / "out")
    assert {"timeseries.parquet", "kpis.json", "events.csv"} <= {p.name for p in out.iterdir()}
    html = result.report(tmp_path / "r.html").read_text()
    assert "Electricity Maps" in html and "ODbL" in html  # the CO2 figures' attribution


def test_load_scenario_by_path_keeps_relative_data(tmp_path):
    prices = tmp_path / "prices.csv"
    idx = pd.date_range("2024-05-01", periods=96, freq="15min", tz="UTC")
    pd.DataFrame({"interval_start_utc": idx.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                  "price_usd_per_mwh": 30.0}).to_csv(prices, index=False)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1, "site": {"import_limit_mw": 50},
        "miners": [{"name": "a", "model": "Antminer S21", "count": 1000}],
        "markets": {"price": {"source": "prices.csv"}},
        "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"}}))
    result = ballast.simulate(str(path))  # relative source resolved beside the YAML
    assert result.timeseries["price_usd_per_mwh"].eq(30.0).all()


def test_unknown_scenario_name_lists_the_bundled_ones():
    with pytest.raises(ballast.ScenarioError) as exc:
        ballast.load_scenario("west_texas_2042")
    for name in bundled_names():
        assert name in str(exc.value)
    r = CliRunner().invoke(app, ["simulate", "west_texas_2042"])
    assert r.exit_code == 2
    assert "west_texas_2024" in r.output and "uri_2021" in r.output
    assert "Traceback" not in r.output


# --- extras and lazy imports --------------------------------------------------------------

def test_simulate_does_not_import_the_live_stack():
    r = _python(f"""
        import json, sys
        from ballast.cli import app
        try:
            app(["simulate", "west_texas_2024", "--end", "2024-01-02T00:00:00Z", "--json"])
        except SystemExit as e:
            assert not e.code, e.code
        live = [m for m in {LIVE_STACK!r} if m in sys.modules]
        print("LOADED", json.dumps(live), file=sys.stderr)
    """)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["intervals"] == 96
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("LOADED")]
    assert json.loads(line.split(" ", 1)[1]) == []


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _emulated_serve(*extra: str) -> list[str]:
    return ["serve", "--emulate", "--devices-per-group", "1", "--ip-prefix", "127.84",
            "--port", "0", "--miner-port", str(_free_port()), "--meter-port", str(_free_port()),
            "--dcgm-port", str(_free_port()), *extra]


@pytest.mark.parametrize(("missing", "argv", "extra"), [
    ("fastapi", ["serve", "--emulate"], "live"),
    ("uvicorn", ["serve", "--emulate"], "live"),
    ("openleadr", ["programs", "ven", "--vtn-url", "http://127.0.0.1:9/x"], "openadr"),
    # the emulated site starts, then the store needs psycopg (nothing listens on port 9)
    ("psycopg", _emulated_serve("--store", "postgresql://x:y@127.0.0.1:9/db"), "postgres"),
])
def test_missing_extra_names_the_extra(missing, argv, extra):
    """The import is made to fail as if the package were not installed."""
    r = _python(f"""
        import sys
        sys.modules[{missing!r}] = None
        from ballast.cli import app
        app({argv!r})
    """)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"pip install 'ballast[{extra}]'" in lines[0] and missing in lines[0]


def test_extras_in_pyproject():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert {"live", "postgres", "openadr", "dask", "docs", "all", "dev"} <= set(extras)
    assert extras["all"] == ["ballast[live,postgres,openadr,dask,docs]"]
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[\[<>=;! ]", d, maxsplit=1)[0].lower() for d in core}
    assert not names & {"fastapi", "uvicorn", "pymodbus", "psycopg", "pyasic", "openleadr",
                        "aiohttp", "prometheus_client", "uvloop", "dask"}


# --- command-line polish ------------------------------------------------------------------

def _commands(group, path=()):
    yield list(path)
    for name, sub in getattr(group, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_no_type_placeholders_for_flags_in_any_help():
    runner = CliRunner()
    paths = list(_commands(typer.main.get_command(app)))
    assert ["programs", "ven"] in paths and ["serve"] in paths
    for path in paths:
        r = runner.invoke(app, [*path, "--help"])
        assert r.exit_code == 0, (path, r.output)
        assert "<bool>" not in r.output, (path, r.output)


def test_version():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"ballast {ballast.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", ballast.__version__)


def test_missing_token_env_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("BALLAST_TEST_NO_SUCH_TOKEN", raising=False)
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "scenario": str(examples_dir() / "west_texas_2024.yaml"),
        "meter": {"host": "127.0.0.1", "port": 5020},
        "api": {"tokens": [{"name": "ops", "role": "operator",
                            "token_env": "BALLAST_TEST_NO_SUCH_TOKEN"}]}}))
    r = CliRunner().invoke(app, ["serve", "--config", str(site)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "BALLAST_TEST_NO_SUCH_TOKEN" in lines[0], r.output


def test_store_defaults_to_the_user_data_folder(tmp_path, monkeypatch):
    from ballast.live.site_config import load_site_config

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "cfg" / "site.yaml"
    site.parent.mkdir()
    site.write_text(yaml.safe_dump({"scenario": "x.yaml"}))
    assert load_site_config(site).store_dsn == str(tmp_path / "data" / "ballast" / "ballast.db")
    site.write_text(yaml.safe_dump({"scenario": "x.yaml", "store": {"dsn": "campus.db"}}))
    assert load_site_config(site).store_dsn == str(tmp_path / "cfg" / "campus.db")


# --- licence and attributions -------------------------------------------------------------

def test_licence_and_notice():
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    notice = (ROOT / "NOTICE").read_text()
    for provider in ("ERCOT", "EIA", "Electricity Maps", "ODbL", "Blockchain.com", "Yahoo"):
        assert provider in notice, provider
    bundled = ROOT / "src/ballast/data/bundled"
    for data in bundled.iterdir():
        if data.suffix in (".parquet", ".csv"):
            assert data.name in notice, f"NOTICE does not name {data.name}"


def test_provenance_is_one_valid_markdown_table():
    text = (ROOT / "src/ballast/data/bundled/PROVENANCE.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("|")]
    cells = [len(re.split(r"(?<!\\)\|", row.strip())[1:-1]) for row in rows]
    assert cells[0] == 4 and set(cells) == {4}, cells
    assert re.fullmatch(r"\|(\s*-+\s*\|)+", rows[1].replace(" ", "")), rows[1]
    lines = text.splitlines()  # one block: no table row after a paragraph
    first, last = lines.index(rows[0]), lines.index(rows[-1])
    assert all(line.startswith("|") for line in lines[first:last + 1])
    bundled = {p.name for p in (ROOT / "src/ballast/data/bundled").iterdir() if p.suffix != ".md"}
    assert bundled <= set(re.findall(r"`([^`]+\.(?:parquet|csv))`", "\n".join(rows)))
