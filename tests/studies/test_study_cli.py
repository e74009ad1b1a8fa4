"""``ballast study headroom`` end to end: table, JSON, CSV, HTML; bad input exits 2 with one line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ballast.cli import app

runner = CliRunner()


def test_headroom_writes_json_csv_and_offline_html(tmp_path):
    res = runner.invoke(app, ["study", "headroom", "--ba", "ERCO", "--rates", "0.5,1",
                              "--years", "2022-2024", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "Curtailment-enabled headroom" in res.output
    doc = json.loads((tmp_path / "headroom.json").read_text())
    assert doc["schema"] == "ballast.study.headroom/1" and doc["years"] == [2022, 2024]
    assert [r["rate_pct"] for r in doc["rates"]] == [0.5, 1.0]
    csv = (tmp_path / "headroom.csv").read_text().splitlines()
    assert csv[0].startswith("rate_pct,headroom_mw") and len(csv) == 3
    page = (tmp_path / "headroom.html").read_text()
    assert "<script src=" not in page and "plotly" in page  # plotly.js inlined: works offline
    assert "https://" not in page.split("<main>")[1]


def test_headroom_json_to_stdout():
    res = runner.invoke(app, ["study", "headroom", "--ba", "swpp", "--rates", "1", "--json"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["ba"] == "SWPP" and doc["cleaning"]["absurd"] >= 1


@pytest.mark.parametrize(("args", "message"), [
    (["--ba", "TVA"], "--ba 'TVA': unknown balancing authority"),
    (["--ba", "ERCO", "--years", "2012-2016"], "--years '2012-2016': the bundled EIA-930 data cover"),
    (["--ba", "ERCO", "--years", "2020-2018"], "first year <= last year"),
    (["--ba", "ERCO", "--rates", "0.5,150"], "curtailment rate 150 % is outside (0, 100) %"),
    (["--ba", "ERCO", "--rates", "-1"], "curtailment rate -1 % is outside"),
    (["--ba", "ERCO", "--rates", "half"], "--rates 'half': expected numbers"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    res = runner.invoke(app, ["study", "headroom", *args])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0]
