"""``ballast sweep`` end to end against a running scheduler (the shared LocalCluster, reached by
its address: the path a remote cluster takes), its files, report and exit codes."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from ballast.cli import app
from ballast.sweep.document import load_sweep
from ballast.sweep.engine import run_sweep
from tests.sweep.helpers import GRID, write_sweep

pytestmark = pytest.mark.timeout(240)
runner = CliRunner()


def test_sweep_command_writes_table_failures_report_and_summary(tmp_path, client):
    path = write_sweep(tmp_path, grid=GRID)
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--scheduler",
                                 client.scheduler.address, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "ballast.sweep/1"
    assert (doc["runs_total"], doc["runs_stored"], doc["runs_failed"]) == (6, 6, 0)
    assert doc["scheduler"] == client.scheduler.address and doc["workers"] == 2
    assert doc["dashboard"].startswith("http://127.0.0.1:")
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 6
    serial = run_sweep(load_sweep(path), None, tmp_path / "serial").runs  # same task function
    pd.testing.assert_frame_equal(runs, serial, check_exact=True)
    margin = doc["kpis"]["net_margin_usd"]
    assert margin["min"] == runs["net_margin_usd"].min() and margin["unit"] == "USD"
    assert list(pd.read_csv(out / "failures.csv").columns)[:2] == ["run", "run_id"]
    page = (out / "report.html").read_text()
    for needle in ("Distribution over the runs", "Pareto front", "Sensitivity of net_margin_usd",
                   "one at a time", "site.import_limit_mw", "Plotly"):
        assert needle in page, needle
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js inlined: opens offline
    assert not re.search(r"<link[^>]+href=\"?https?:", page)
    assert page.count("Plotly.newPlot") == 5  # distribution, scatter, 2 Pareto fronts, tornado
    again = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--scheduler",
                                client.scheduler.address])
    assert again.exit_code == 2 and "pass --resume" in again.output
    resumed = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--scheduler",
                                  client.scheduler.address, "--resume", "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["runs_resumed"] == 6


def test_failed_runs_give_exit_code_1_and_failures_csv(tmp_path, client):
    cases = [{"name": "ok"}, {"name": "no-data", "override": {"run": {
        "start": "2019-05-01T00:00:00Z", "end": "2019-05-02T00:00:00Z"}}}]
    path = write_sweep(tmp_path, cases=cases)
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o"),
                                 "--scheduler", client.scheduler.address])
    assert result.exit_code == 1
    assert "1 run(s) failed" in result.output
    assert pd.read_csv(tmp_path / "o" / "failures.csv")["case"].tolist() == ["no-data"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    (["--workers", "0"], "need at least 1"),
])
def test_bad_options_exit_2(tmp_path, args, needle):
    result = runner.invoke(app, ["sweep", str(write_sweep(tmp_path, grid=GRID)), *args])
    assert result.exit_code == 2 and needle in result.output


def test_bad_sweep_document_exits_2_naming_the_field_before_any_cluster(tmp_path):
    path = write_sweep(tmp_path, grid={"site.import_limt_mw": [250]})
    result = runner.invoke(app, ["sweep", str(path), "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2
    assert "site.import_limt_mw" in result.output and "Extra inputs" in result.output
