"""``ballast optimize`` as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ballast.cli import app

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src"


def test_json_in_a_fresh_process_is_clean_and_writes_files(tmp_path, scenario_dict):
    # a fresh process: HiGHS prints a banner on its first instance, which must not reach stdout
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(scenario_dict))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ballast",
            "optimize",
            str(path),
            "--json",
            "--out",
            str(out),
            "--end",
            "2024-05-02T00:00:00Z",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "ballast.optimize/1"
    assert doc["intervals"] == 96 and doc["horizon"] == "perfect"
    margin = doc["kpis"]["net_margin_usd"]
    assert set(margin) == {"rules", "strike_price", "optimum", "delta", "unit"}
    assert margin["optimum"] >= margin["rules"] - 1e-6 * abs(margin["rules"])
    assert doc["regret_usd"] == margin["delta"] >= 0
    assert doc["solver"]["status"] == "Optimal"
    assert sum(doc["regret_by_month_usd"].values()) == pytest.approx(doc["regret_usd"], abs=1e-6)
    for name in ("optimum.parquet", "optimize.json", "optimize_kpis.csv", "optimize_monthly.csv"):
        assert (out / name).stat().st_size > 0, name


def test_table_beside_the_rules(tmp_path, scenario_dict):
    path = tmp_path / "campus.yaml"
    scenario_dict["run"]["end"] = "2024-05-02T00:00:00Z"
    path.write_text(yaml.safe_dump(scenario_dict))
    result = runner.invoke(app, ["optimize", str(path)])
    assert result.exit_code == 0, result.output
    assert "net_margin_usd" in result.stdout and "Optimum" in result.stdout
    assert "regret of the rules" in result.stdout


def test_infeasible_site_exits_2_naming_the_interval(tmp_path, scenario_dict):
    scenario_dict["site"]["import_limit_mw"] = 100  # the AI facility alone draws 130 MW
    scenario_dict["renewables"] = []
    path = tmp_path / "tight.yaml"
    path.write_text(yaml.safe_dump(scenario_dict))
    result = runner.invoke(app, ["optimize", str(path)])
    assert result.exit_code == 2
    text = re.sub(r"\s+", " ", result.output)
    assert text.startswith("error: interval 0 (2024-05-01T00:00:00+00:00)")
    assert "import limit 100.000 MW" in text


def test_rolling_on_the_day_ahead_price_and_min_times_from_the_command_line(tmp_path, scenario_dict):
    scenario_dict["run"].update(end="2024-05-03T00:00:00Z", resolution="1h")
    scenario_dict["battery"] = {"power_mw": 20, "energy_mwh": 40}
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(scenario_dict))
    result = runner.invoke(
        app, ["optimize", str(path), "--horizon", "rolling", "--forecast", "dam", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["horizon"] == "rolling" and doc["forecast"] == "dam"
    assert any("dam price forecast" in n for n in doc["optimum_notes"])
    text = re.sub(r"\s+", " ", runner.invoke(app, ["optimize", str(path), "--horizon", "rolling",
                                                     "--forecast", "persistence"]).stdout)  # fmt: skip
    assert "note: rolling: 48-h windows every 24 h on the persistence price forecast" in text
    # a forecast without the rolling horizon is refused, by name
    result = runner.invoke(app, ["optimize", str(path), "--forecast", "persistence"])
    assert result.exit_code == 2
    assert "a price forecast needs --horizon rolling" in re.sub(r"\s+", " ", result.output)
    # minimum on/off times: a MILP with whole miners
    result = runner.invoke(app, ["optimize", str(path), "--min-times", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert any("min_times" in n for n in doc["optimum_notes"])
