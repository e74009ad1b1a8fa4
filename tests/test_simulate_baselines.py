"""``ballast simulate`` against three baselines: all on, strike price (the fleet managers'
practice) and the perfect-foresight optimum (HiGHS), with the rule controller's gain over
practice and its regret, run as a user runs it (typer's CliRunner in process)."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from ballast.cli import app

runner = CliRunner()


def _run(tmp_path, doc: dict, *args: str):
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["simulate", str(path), *args])
    assert result.exit_code == 0, result.output
    return result


def test_json_carries_every_baseline_and_the_headline_figures(tmp_path, scenario_dict):
    # the test week has no costs: (no 4CP charge), so the optimum's objective is its whole margin
    out = tmp_path / "out"
    doc = json.loads(_run(tmp_path, scenario_dict, "--json", "--out", str(out)).stdout)
    margin = doc["kpis"]["net_margin_usd"]
    # continuity: the all-on baseline keeps its keys; the new baselines sit beside it
    assert set(margin) == {"ballast", "baseline", "delta", "unit", "strike_price", "optimum"}
    assert margin["delta"] == pytest.approx(margin["ballast"] - margin["baseline"])
    rules, strike, best = margin["ballast"], margin["strike_price"], margin["optimum"]
    assert doc["gain_over_practice_usd"] == pytest.approx(rules - strike, rel=1e-12)
    assert doc["regret_usd"] == pytest.approx(best - rules, rel=1e-12)
    # the point of a regret figure: no dispatch on these inputs earns more than the optimum
    scale = 1.0 + abs(rules)
    assert best >= rules - 1e-7 * scale and best >= strike - 1e-7 * scale
    assert doc["regret_usd"] >= 0.0
    flex = doc["kpis"]["flexibility_value_usd"]["optimum"]
    assert doc["regret_pct"] == pytest.approx(100.0 * doc["regret_usd"] / flex)
    assert sum(doc["regret_by_month_usd"].values()) == pytest.approx(doc["regret_usd"], abs=1e-3)
    # the KPI table prices the optimum at HiGHS's own objective (nothing computed twice)
    opt = doc["baselines"]["optimum"]
    assert opt["solved"] and opt["note"] is None and opt["solver"]["status"] == "Optimal"
    k = doc["kpis"]
    assert k["mining_revenue_usd"]["optimum"] - k["energy_cost_usd"]["optimum"] == pytest.approx(
        opt["solver"]["objective_usd"], rel=1e-6
    )
    assert "4CP transmission charge" in opt["scope"] and "reserve availability" in opt["scope"]
    # the same optimum and strike price as ``ballast optimize`` on the same scenario
    other = json.loads(runner.invoke(app, ["optimize", str(tmp_path / "campus.yaml"), "--json"]).stdout)
    assert other["kpis"]["net_margin_usd"]["optimum"] == pytest.approx(best, rel=1e-9)
    assert other["gain_over_practice_usd"] == pytest.approx(doc["gain_over_practice_usd"], rel=1e-9)
    # the written results carry the columns and the months
    assert "strike_price" in (out / "kpis.csv").read_text().splitlines()[0]
    assert "regret_usd" in (out / "baselines_monthly.csv").read_text().splitlines()[0]


def test_table_and_report_show_practice_and_the_optimum(tmp_path, scenario_dict):
    scenario_dict["run"]["end"] = "2024-05-03T00:00:00Z"
    out = tmp_path / "out"
    text = _run(tmp_path, scenario_dict, "--out", str(out)).stdout
    assert "Strike price" in text and "Optimum" in text and "Baseline (all on)" in text
    assert "gain over practice (strike price):" in text and "regret against the optimum:" in text
    assert "minus the 4CP transmission charge" in " ".join(text.split())
    page = (out / "report.html").read_text()
    assert "<h2>Against practice and the optimum</h2>" in page
    assert "Gain over practice" in page and "Regret against the optimum" in page
    assert "regret (optimum" in page and "gain over practice (rules" in page  # the monthly bars
    # issue 11 part 5: cumulative margin of rules, strike price and optimum; regret by rule
    assert "Cumulative net margin" in page and "Regret by the rule that bound" in page
    assert "battery state of charge" not in page  # no battery in this campus
    assert page.count("Plotly.newPlot") == 7
    assert "<th>Strike price</th><th>Optimum</th>" in page  # All KPIs


def test_no_optimum_skips_it_with_a_note(tmp_path, scenario_dict):
    scenario_dict["run"]["end"] = "2024-05-02T00:00:00Z"
    doc = json.loads(_run(tmp_path, scenario_dict, "--json", "--no-optimum").stdout)
    margin = doc["kpis"]["net_margin_usd"]
    assert margin["optimum"] is None and margin["strike_price"] is not None
    assert doc["regret_usd"] is None and doc["regret_pct"] is None
    assert doc["gain_over_practice_usd"] == pytest.approx(margin["ballast"] - margin["strike_price"])
    opt = doc["baselines"]["optimum"]
    assert not opt["solved"] and "--no-optimum" in opt["note"]
    text = _run(tmp_path, scenario_dict, "--no-optimum").stdout
    assert "no optimum: skipped (--no-optimum)" in text and "regret against" not in text


def test_programs_scenario_says_why_there_is_no_optimum(tmp_path, scenario_dict):
    scenario_dict["run"]["end"] = "2024-05-02T00:00:00Z"
    event = {"start": "2024-05-01T18:00:00Z", "end": "2024-05-01T19:00:00Z", "target_mw": 10}
    scenario_dict["programs"] = {"demand_response": {"events": [event]}}
    doc = json.loads(_run(tmp_path, scenario_dict, "--json").stdout)
    opt = doc["baselines"]["optimum"]
    assert not opt["solved"] and opt["note"].startswith("no optimum: programs:")
    assert doc["kpis"]["net_margin_usd"]["optimum"] is None
    assert doc["kpis"]["mining_revenue_usd"]["strike_price"] > 0  # practice still runs
    text = " ".join(_run(tmp_path, scenario_dict).stdout.split())
    assert "note: no optimum: programs: demand_response events are not in the optimiser yet" in text


def test_reserves_scenario_has_an_optimum_that_names_what_it_leaves_out(tmp_path, scenario_dict):
    scenario_dict["run"]["end"] = "2024-05-02T00:00:00Z"
    scenario_dict["programs"] = {"responsive_reserve": {"offer_mw": 20}}
    doc = json.loads(_run(tmp_path, scenario_dict, "--json").stdout)
    opt = doc["baselines"]["optimum"]
    assert opt["solved"] and opt["note"] is None
    assert "Reserves: the optimum sells RRS/ECRS/ERS/Non-Spin availability" in opt["scope"]
    assert "keeps the scenario's ECRS/ERS/Non-Spin deployments" in opt["scope"]
    assert "RRS frequency events and shortfall penalties are not modelled" in opt["scope"]
    # the rules' reserve sales count in their margin for the regret, and the optimum still wins
    assert doc["regret_usd"] >= -1e-6 * abs(doc["kpis"]["net_margin_usd"]["ballast"])


def test_a_battery_the_coarse_rules_cannot_dispatch_is_said(tmp_path, scenario_dict):
    """Nothing silently dropped: at 15 min without smoothing the rule controller leaves the
    battery idle (it dispatches it on the smoothing rule at 1 s or finer); the run says so, and
    the battery moves no energy for Ballast, while the optimum may use it."""
    scenario_dict["run"]["end"] = "2024-05-02T00:00:00Z"
    doc = json.loads(_run(tmp_path, scenario_dict, "--json", "--no-optimum").stdout)
    assert not any(n.startswith("battery:") for n in doc["notes"])
    scenario_dict["battery"] = {"power_mw": 20, "energy_mwh": 40}
    doc = json.loads(_run(tmp_path, scenario_dict, "--json", "--no-optimum").stdout)
    said = [n for n in doc["notes"] if n.startswith("battery:")]
    assert len(said) == 1 and "leaves it idle" in said[0] and "15min" in said[0]


def test_report_shows_the_optimum_battery_state_of_charge(tmp_path, scenario_dict):
    """Issue 11 part 5: with a battery the section plots the optimum's state of charge, which
    stays within the battery's energy and is used (the prices move in these two days)."""
    import ballast
    from ballast.scenario import parse_scenario

    scenario_dict["run"]["end"] = "2024-05-03T00:00:00Z"
    scenario_dict["battery"] = {"power_mw": 20, "energy_mwh": 40}
    out = tmp_path / "out"
    _run(tmp_path, scenario_dict, "--out", str(out))
    page = (out / "report.html").read_text()
    assert "battery state of charge" in page
    result = ballast.simulate(parse_scenario(scenario_dict))
    soc = result.baselines.optimum.run.frame["battery_soc_mwh"].to_numpy()
    assert soc.min() >= -1e-6 and soc.max() <= 40 + 1e-6 and soc.max() - soc.min() > 1.0
