"""The smoothing command line and the 1-s path of ``simulate``, run in process (CliRunner)."""

import json

import yaml
from typer.testing import CliRunner

from ballast.cli import app
from tests.smoothing_helpers import campus

runner = CliRunner()


def test_simulate_training_campus_at_1s_reports_smoothing(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["simulate", "training_campus", "--end", "2024-07-01T01:00:00Z",
                                 "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["resolution"] == "1s" and doc["intervals"] == 3600
    k = doc["kpis"]
    assert k["smoothing.minutes_ramp_violation"]["unit"] == "min"
    assert k["smoothing.max_ramp_down_window_mw_per_s"]["ballast"] <= 1.5  # the example's spec
    assert k["peak_import_mw"]["ballast"] <= 215
    assert "Smoothing: before and after" in (out / "report.html").read_text()


def test_simulate_100ms_window(tmp_path):
    result = runner.invoke(app, ["simulate", "training_campus", "--resolution", "100ms",
                                 "--end", "2024-07-01T00:10:00Z", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["intervals"] == 6000
    assert doc["kpis"]["smoothing.band_hz_resolved_max"]["ballast"] == 5.0  # Nyquist at 10 Hz


def test_smoothing_compare_json_and_html(tmp_path):
    doc = campus(battery={"power_mw": 20, "energy_mwh": 10})
    doc["run"]["end"] = "2024-07-01T00:30:00Z"
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["smoothing", "compare", str(path), "--json", "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["schema"] == "ballast.smoothing/1"
    assert set(out["cases"]) == {"none", "miners", "battery", "floor", "miners+battery",
                                 "miners+floor", "battery+floor", "miners+battery+floor"}
    assert out["cases"]["floor"]["floor_burn_mwh"] > 0 == out["cases"]["miners"]["floor_burn_mwh"]
    assert out["units"]["btc_mined"] == "BTC"
    assert (tmp_path / "o" / "smoothing.html").stat().st_size > 0


def test_smoothing_compare_without_spec_exits_2(tmp_path):
    doc = campus()
    doc.pop("smoothing")
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["smoothing", "compare", str(path)])
    assert result.exit_code == 2
    assert "smoothing" in result.output


def test_swing_faster_than_the_resolution_is_a_clear_error(tmp_path):
    doc = campus(ai__training={"swing_period_s": 1.5})
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["simulate", str(path)])
    assert result.exit_code == 2
    assert "swing_period_s" in result.output and "Nyquist" in result.output


def test_smoothing_at_15min_is_a_clear_error(tmp_path):
    doc = campus()
    doc["run"]["resolution"] = "15min"
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["simulate", str(path)])
    assert result.exit_code == 2
    assert "run.resolution" in result.output and "1s" in result.output


def test_reserve_cover_sweep_trades_compliance_for_margin(tmp_path):
    doc = campus()
    doc["run"]["end"] = "2024-07-01T00:20:00Z"
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["smoothing", "sweep", str(path), "--cover", "0,1", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["reserve_cover_share"]: r for r in json.loads(result.stdout)["rows"]
            if r["case"] == "miners"}
    assert rows[1.0]["reserve_up_mean_mw"] > rows[0.0]["reserve_up_mean_mw"] == 0
    assert rows[1.0]["mining_margin_usd"] < rows[0.0]["mining_margin_usd"]
    bad = runner.invoke(app, ["smoothing", "sweep", str(path), "--cover", "2"])
    assert bad.exit_code == 2 and "--cover" in bad.output
