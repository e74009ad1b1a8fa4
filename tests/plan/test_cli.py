"""``ballast plan``: --json round trip against the Python call, the files of --out, and bad
input exiting 2 with nothing written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ballast.cli import app
from ballast.plan import load_plan, run_plan
from ballast.plan.output import plan_document
from tests.plan.helpers import plan_doc, write_plan

runner = CliRunner()


def test_json_round_trip_equals_the_python_call(tmp_path):
    path = write_plan(tmp_path, plan_doc())
    result = runner.invoke(app, ["plan", str(path), "--json", "--paths", "40", "--seed", "9"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "ballast.plan/1" and doc["plan"] == str(path)
    direct = plan_document(run_plan(load_plan(path), n_paths=40, seed=9), source=str(path))
    assert doc == json.loads(json.dumps(direct))
    assert [s["name"] for s in doc["strategies"]] == ["keep", "convert_half"]
    assert sum(s["best"] for s in doc["strategies"]) == 1
    assert doc["bitcoin"]["paths"]["n"] == 40 and doc["bitcoin"]["paths"]["seed"] == 9
    assert [h["height"] for h in doc["bitcoin"]["halvings"] if h["projected"]] == [1_050_000]
    keep = doc["strategies"][0]["cases"]["flat"]
    assert keep["delta_npv_usd"] == 0 and keep["irr"] is None


def test_out_writes_plan_cashflows_and_paths(tmp_path):
    path = write_plan(tmp_path, plan_doc())
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", str(path), "--out", str(out), "--paths", "25"])
    assert result.exit_code == 0, result.output
    assert "convert_half" in result.stdout and "(best)" in result.stdout
    doc = json.loads((out / "plan.json").read_text())
    assert doc["files"]["paths"] == str(out / "paths.parquet")
    flows = pd.read_csv(out / "cashflows.csv")
    assert len(flows) == 2 * 2 * 6  # strategies x cases x years
    # the NPV of the CSV's cash flows, discounted here by hand, is the document's NPV
    rate = doc["discount_rate"]
    for s in doc["strategies"]:
        for case, m in s["cases"].items():
            rows = flows[(flows.strategy == s["name"]) & (flows.case == case)].sort_values("year")
            t = rows.year.to_numpy() - doc["start_year"]
            npv = float(np.sum(rows.cash_flow_usd.to_numpy() / (1 + rate) ** (t + 1)))
            assert npv == pytest.approx(m["npv_usd"], rel=1e-9)
    paths = pd.read_parquet(out / "paths.parquet")
    assert len(paths) == 25 * 6 and paths.path.nunique() == 25
    assert (paths[paths.year == 2025].btc_price_usd == 100_000.0).all()
    p50 = np.percentile(paths.groupby("path")["npv_usd.keep"].first(), 50)
    assert p50 == pytest.approx(doc["strategies"][0]["risk"]["npv_usd"]["p50"])


def test_bundled_plan_by_name():
    result = runner.invoke(app, ["plan", "conversion_500mw", "--json", "--paths", "20"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["baseline"] == "keep_mining" and len(doc["strategies"]) == 5
    assert doc["strategies"][-1]["name"] == doc["optimize"]["strategy"] == "optimal"
    assert doc["bitcoin"]["paths"]["calibrated_on"].startswith("bundled:bitcoin_daily_2020_2025")


def test_bad_plan_exits_2_naming_the_field_and_writes_nothing(tmp_path):
    path = write_plan(tmp_path, plan_doc(discount_rate=1.0))
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert f"error: {path}: invalid plan: discount_rate" in result.stderr
    assert not out.exists()


def test_zero_paths_exits_2_and_writes_nothing(tmp_path):
    path = write_plan(tmp_path, plan_doc())
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", str(path), "--paths", "0", "--out", str(out)])
    assert result.exit_code == 2 and "--paths 0: give 1 to 100,000 price paths" in result.stderr
    assert not out.exists()


def test_out_that_is_a_file_exits_2(tmp_path):
    path = write_plan(tmp_path, plan_doc())
    target = tmp_path / "taken"
    target.write_text("x")
    result = runner.invoke(app, ["plan", str(path), "--out", str(target)])
    assert result.exit_code == 2 and "exists and is not a folder" in result.stderr
    assert target.read_text() == "x"


def test_optimize_section_prints_the_optimum_and_joins_the_json(tmp_path):
    optimize = {"block_mw": 25.0, "scenarios": 15, "objective": "cvar", "cvar_level": 0.2}
    path = write_plan(tmp_path, plan_doc(optimize=optimize))
    result = runner.invoke(app, ["plan", str(path), "--paths", "15"])
    assert result.exit_code == 0, result.output
    assert "optimal (CVaR 20% over 15 paths, 25 MW blocks)" in result.stdout
    assert "best deterministic plan ('flat' case)" in result.stdout and "MILP " in result.stdout
    as_json = runner.invoke(app, ["plan", str(path), "--paths", "15", "--json"])
    doc = json.loads(as_json.stdout)
    o = doc["optimize"]
    assert doc["strategies"][-1]["name"] == o["strategy"] == "optimal"
    assert doc["strategies"][-1]["converted_mw"] == o["converted_mw"]
    assert o["milp"]["status"] == "Optimal" and o["milp"]["mip_gap"] <= 1e-6
    assert o["value_of_stochastic_solution_usd"] >= -1e-6 and o["case_npv_given_up_usd"] >= -1e-6
    assert o["npv_usd"]["cvar"] <= o["npv_usd"]["mean"]


def test_infeasible_minimum_exits_2_naming_the_constraint_and_writes_nothing(tmp_path):
    # four 25 MW blocks (20 MW of IT at 1 M USD/MW each) in 2025 on a budget for two
    optimize = {"scenarios": 5, "min_convert_mw": 100.0, "min_convert_by_year": 2025}
    optimize["capex_budget_usd_per_yr"] = 45e6
    path = write_plan(tmp_path, plan_doc(optimize=optimize))
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", str(path), "--out", str(out), "--paths", "5"])
    assert result.exit_code == 2
    assert f"error: {path}: invalid plan: optimize.min_convert_mw: 100 MW" in result.stderr
    assert (
        "cannot start by 2025: at most 50 MW can, limited by optimize.capex_budget_usd_per_yr"
        in result.stderr
    )
    assert not out.exists()


def test_the_hybrid_west_texas_plan_runs():
    result = runner.invoke(app, ["plan", "hybrid_west_texas", "--json", "--paths", "20"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    hybrid = next(s for s in doc["strategies"] if s["name"] == "hybrid_100mw_it_150mw_miners")
    assert hybrid["it_mw"][1:] == [100.0] * 9 and hybrid["mining_mw"][0] == 150.0
    assert doc["optimize"]["block_mw"] == 10
