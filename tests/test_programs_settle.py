"""Settlement and the end-to-end runs: power credits, 4CP on 2024, Uri via the CLI."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ballast.cli import app
from ballast.programs.settle import contract_settlement_usd, power_credits_usd

runner = CliRunner()


@pytest.mark.parametrize(("import_mw", "price", "expect_usd"), [
    (100.0, 9000.0, (9000 - 25) * 150 * 0.25),   # curtailed 150 MW of a 250 MW block at 9,000
    (250.0, 9000.0, 0.0),                        # took the whole block: no credit
    (300.0, 9000.0, 0.0),                        # above the block: bought at real time
    (200.0, 10.0, (10 - 25) * 50 * 0.25),        # below the contract price: selling back loses
])
def test_power_credits_table(import_mw, price, expect_usd):
    got = power_credits_usd(np.array([import_mw]), np.array([price]), 250.0, 25.0, 0.25)
    assert got[0] == pytest.approx(expect_usd)


def test_contract_settlement_is_rt_minus_contract_on_the_block():
    got = contract_settlement_usd(np.array([9000.0, 10.0]), 250.0, 25.0, 0.25)
    assert got.tolist() == pytest.approx([(9000 - 25) * 250 * 0.25, (10 - 25) * 250 * 0.25])


def test_uri_scenario_runs_from_the_cli(tmp_path):
    out = tmp_path / "uri"
    result = runner.invoke(app, ["simulate", "uri_2021", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    k = doc["kpis"]
    assert k["import_limit_exceeded_intervals"]["ballast"] == 0
    # all miners off through EEA3: ~157 MW of miners (minus sleep power) off the grid
    assert k["eea_mw_off_grid_mean"]["ballast"] > 150
    assert k["eea_hours"]["ballast"] == pytest.approx(103.75)
    assert k["power_credits_usd"]["delta"] > 1e8
    assert doc["programs"]["responsive_reserve"]["shortfall_mwh"] == 0
    events = (out / "program_events.csv").read_text()
    assert "ufr_trip:step_loss_of_generation" in events and "eea3" in events
    report = (out / "report.html").read_text()
    assert "Grid programs" in report and "Frequency events replayed" in report


def test_2024_programs_example_settles_4cp(tmp_path):
    result = runner.invoke(app, ["simulate", "west_texas_2024_programs", "--json", "--out",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    k = json.loads(result.stdout)["kpis"]
    assert k["4cp_peaks_covered"]["ballast"] == 4
    assert k["4cp_hit_rate_pct"]["ballast"] == 100
    assert k["4cp_transmission_charge_usd"]["delta"] < -5e6
    # answering the programs is worth more than the mining it gives up
    assert k["programs_value_usd"]["ballast"] > 0
    # each program adds value on its own (against all the others without it)
    for name in ("coincident_peak", "responsive_reserve", "ecrs", "demand_response"):
        assert k[f"program_value_usd[{name}]"]["ballast"] > 0, name
    # 4CP is worth less than its gross saving: Ballast without it already dodges some peaks on
    # price, and alerts cost mining margin
    assert k["program_value_usd[coincident_peak]"]["ballast"] < -k[
        "4cp_transmission_charge_usd"]["delta"]
    assert "4CP: system load, the alert rule and the four peaks" in (
        tmp_path / "report.html").read_text()
    assert k["import_limit_exceeded_intervals"]["ballast"] == 0


def test_fourcp_cli_lists_2024_peaks_and_hits():
    result = runner.invoke(app, ["programs", "fourcp", "--year", "2024", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [p["month"] for p in doc["peaks"]] == [6, 7, 8, 9]
    assert doc["peaks"][2]["peak_hour_start_utc"] == "2024-08-20T22:00:00+00:00"
    hours = [r["hours_alerting"] for r in doc["alert"]]
    assert hours == sorted(hours, reverse=True)  # a higher threshold alerts less


def test_fourcp_cli_names_a_year_without_data():
    result = runner.invoke(app, ["programs", "fourcp", "--year", "2019"])
    assert result.exit_code == 2
    assert "no June-September data for 2019" in result.output


def test_4cp_load_file_not_covering_the_summer_is_named(tmp_path, scenario_dict):
    import yaml

    scenario_dict["run"] = {"start": "2024-07-01T00:00:00Z", "end": "2024-07-03T00:00:00Z"}
    scenario_dict["programs"] = {"coincident_peak": {
        "load_source": "bundled:ercot_system_hourly_2021"}}  # 2021 cannot alert in 2024
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario_dict))
    result = runner.invoke(app, ["simulate", str(path)])
    assert result.exit_code == 2
    assert "programs.coincident_peak.load_source" in result.output


@pytest.mark.parametrize(("programs", "cash_positive"), [
    ({}, False),
    ({"emergency": {}}, False),
    ({"demand_response": {}}, False),
    ({"ecrs": {"offer_mw": 5}}, True),  # availability paid where the miners hold it
])
def test_sparse_programs_settle_and_render(tmp_path, scenario_dict, programs, cash_positive):
    from ballast.report.html import write_report
    from ballast.scenario import parse_scenario
    from ballast.sim import Results, simulate

    scenario_dict["programs"] = programs
    results = Results.from_simulation(simulate(parse_scenario(scenario_dict)))
    cash = results.kpis.loc["programs_cash_usd"]
    assert (cash.ballast > 0) == cash_positive and cash.baseline == 0
    assert not any(k.startswith("program_value_usd[") for k in results.kpis.index)  # <2 rules
    value = results.kpis.loc["programs_value_usd", "ballast"]
    if not cash_positive:  # nothing offered or nothing happened: identical to no programs
        assert value == 0.0
    html = write_report(results, tmp_path / "r.html").read_text()
    assert "Grid programs" in html and "Program event log" in html


def test_programs_with_a_fine_run_are_refused_not_dropped(tmp_path, scenario_dict):
    import yaml

    scenario_dict["run"].update({"end": "2024-05-01T01:00:00Z", "resolution": "1s"})
    scenario_dict["programs"] = {"ecrs": {"offer_mw": 5}}
    path = tmp_path / "fine.yaml"
    path.write_text(yaml.safe_dump(scenario_dict))
    result = runner.invoke(app, ["simulate", str(path)])
    assert result.exit_code == 2
    assert "programs: grid programs are simulated at 1 min or coarser" in " ".join(
        result.output.split())


def test_settlement_is_a_function_of_the_runs_it_is_handed():
    """Programs settle from results handed in as data (issue 17 item 9): two hand-made runs,
    a plan and the engine's counterfactual margins; no controller run."""
    from types import SimpleNamespace

    import pandas as pd

    from ballast.inputs import SiteInputs
    from ballast.programs.dr import DrRequest
    from ballast.programs.plan import ProgramEvent, ProgramPlan
    from ballast.programs.settle import Counterfactuals, settle_programs
    from ballast.scenario import parse_scenario

    idx = pd.date_range("2024-05-01", periods=8, freq="15min", tz="UTC")
    at = [t.isoformat() for t in [*idx, idx[-1] + pd.Timedelta("15min")]]
    scn = parse_scenario({
        "version": 1, "site": {"import_limit_mw": 100.0},
        "miners": [{"name": "a", "model": "Antminer S19j Pro", "count": 100}],
        "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
        "run": {"start": at[0], "end": at[8]},
        "programs": {"emergency": {"windows": [{"start": at[2], "end": at[4], "level": 3}]},
                     "demand_response": {"payment_usd_per_mwh": 100.0, "events": [
                         {"name": "e", "start": at[4], "end": at[6], "target_mw": 10.0,
                          "baseline_mw": 70.0}]}}})
    n = len(idx)
    plan = ProgramPlan(index=idx, cap_mw=np.full(n, np.inf), floor_mw=np.zeros(n),
                       fixed_caps_mw={}, reserve_sold_mw={}, headroom_mw=np.zeros(n),
                       sleep_floor_mw=0.0, max_draw_mw=np.full(n, 50.0), events=[
                           ProgramEvent("emergency", "eea3", idx[2], 2, 4, fixed_cap_mw=0.0,
                                        cap_mw=0.0),
                           ProgramEvent("demand_response", "dr_event:e", idx[4], 4, 6,
                                        commit_mw=10.0, cap_mw=40.0, baseline_import_mw=70.0,
                                        dr=DrRequest(reduction_mw=10.0, baseline_mw=70.0))])
    ai_mw = 20.0
    miner = np.array([50.0, 50.0, 0.0, 0.0, 40.0, 40.0, 50.0, 50.0])  # EEA off, DR 10 MW down
    ours = SimpleNamespace(frame=pd.DataFrame({"miner_mw": miner, "import_mw": ai_mw + miner},
                                              index=idx))
    base = SimpleNamespace(frame=pd.DataFrame({"miner_mw": np.full(n, 50.0),
                                               "import_mw": np.full(n, ai_mw + 50.0)}, index=idx))
    inputs = SiteInputs(frame=pd.DataFrame({"price_usd_per_mwh": np.full(n, 30.0)}, index=idx),
                        renewable_columns=())

    alone = settle_programs(scn, inputs, plan, ours, base).kpis["ballast"]
    # DR: 70 MW baseline - 60 MW metered = 10 MW for 2 x 0.25 h = 5 MWh at 100 USD/MWh
    assert alone["programs_cash_usd"] == pytest.approx(500.0)
    assert alone["eea_mw_off_grid_mean"] == pytest.approx(50.0)
    assert alone["eea_hours"] == pytest.approx(0.5)
    assert "programs_value_usd" not in alone.index  # no counterfactual runs handed in

    cf = Counterfactuals(margin_usd=1000.0, no_programs_margin_usd=900.0,
                         without_usd={"emergency": (950.0, 500.0),
                                      "demand_response": (1010.0, 0.0)})
    out = settle_programs(scn, inputs, plan, ours, base, cf)
    k = out.kpis["ballast"]
    assert k["programs_value_usd"] == pytest.approx(1000.0 + 500.0 - 900.0)
    assert k["program_value_usd[emergency]"] == pytest.approx(1500.0 - 950.0 - 500.0)
    assert k["program_value_usd[demand_response]"] == pytest.approx(1500.0 - 1010.0)
    assert out.summary.loc["demand_response", "value_usd"] == pytest.approx(490.0)


def test_settling_without_the_engines_no_programs_run_is_refused():
    from types import SimpleNamespace

    from ballast.sim.program_runs import settle_program_runs

    with pytest.raises(ValueError, match=r"Simulation\.no_programs"):
        settle_program_runs(SimpleNamespace(programs=object(), no_programs=None))
