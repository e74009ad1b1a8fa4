"""The sweep document: expansion, seeds, and one clear message per bad document."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.examples import examples_dir
from ballast.sweep.document import SweepError, load_sweep
from tests.sweep.helpers import GRID, write_sweep


def test_grid_is_every_combination_with_values_read_back(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, grid=GRID))
    assert len(plan.runs) == 6
    combos = {(r.params["miners[s21].count"], r.params["site.import_limit_mw"]) for r in plan.runs}
    assert combos == {(c, m) for c in (5000, 15000) for m in (240.0, 280.0, 320.0)}
    run = plan.runs[0]
    assert run.scenario["miners"][2]["name"] == "s21"
    assert run.scenario["miners"][2]["count"] == run.params["miners[s21].count"]
    assert run.scenario["site"]["import_limit_mw"] == run.params["site.import_limit_mw"]
    assert plan.param_columns == ["miners[s21].count", "site.import_limit_mw", "run.seed"]


def test_run_seeds_are_spawned_from_the_sweep_seed_by_run_index(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, grid=GRID))
    children = np.random.SeedSequence(11).spawn(2)[1].spawn(len(plan.runs))
    expected = [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]
    assert [r.scenario["run"]["seed"] for r in plan.runs] == expected
    assert len(set(expected)) == len(expected)
    same = load_sweep(write_sweep(tmp_path, grid=GRID))  # the same document again
    assert [r.run_id for r in same.runs] == [r.run_id for r in plan.runs]


def test_seeds_base_keeps_the_scenarios_seed(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, grid=GRID, seeds="base"))
    assert {r.scenario["run"]["seed"] for r in plan.runs} == {0}


def test_samples_are_seeded_and_within_their_ranges(tmp_path):
    samples = {"n": 20, "ranges": {"site.import_limit_mw": {"low": 200, "high": 320},
                                   "miners[s21].count": {"low": 1000, "high": 20000,
                                                         "integer": True}},
               "choices": {"control.economic_dispatch": [True, False]}}
    plan = load_sweep(write_sweep(tmp_path, samples=samples))
    limits = [r.params["site.import_limit_mw"] for r in plan.runs]
    counts = [r.params["miners[s21].count"] for r in plan.runs]
    assert len(plan.runs) == 20
    assert all(200 <= x <= 320 for x in limits) and len(set(limits)) == 20
    assert all(isinstance(c, int) and 1000 <= c <= 20000 for c in counts)
    assert {r.params["control.economic_dispatch"] for r in plan.runs} == {True, False}
    again = load_sweep(write_sweep(tmp_path, samples=samples))
    assert [r.params for r in again.runs] == [r.params for r in plan.runs]
    other = load_sweep(write_sweep(tmp_path, samples=samples, seed=12))
    assert [r.params["site.import_limit_mw"] for r in other.runs] != limits


def test_cases_override_the_base_and_cross_the_grid(tmp_path):
    cases = [{"name": "small-ai", "override": {"ai": {"it_load_mw": 50}}},
             {"name": "no-wind", "override": {"renewables": []}, "set": {"site.export_limit_mw": 0}}]
    plan = load_sweep(write_sweep(tmp_path, grid={"site.import_limit_mw": [250, 300]}, cases=cases))
    assert len(plan.runs) == 4
    first, last = plan.runs[0], plan.runs[-1]
    assert first.params["case"] == "small-ai" and first.scenario["ai"]["it_load_mw"] == 50
    assert first.scenario["ai"]["pue"] == 1.3  # merged, not replaced
    assert last.params["case"] == "no-wind" and last.scenario["renewables"] == []
    assert last.params["site.export_limit_mw"] == 0 and first.params["site.export_limit_mw"] is None
    assert plan.param_columns[:2] == ["case", "site.import_limit_mw"]


def _message(tmp_path, **fields) -> str:
    with pytest.raises(SweepError) as info:
        load_sweep(write_sweep(tmp_path, **fields))
    return str(info.value)


@pytest.mark.parametrize(("fields", "needles"), [
    ({"grid": {"site.import_limt_mw": [250]}},
     ["sweep.yaml: run 0", "site.import_limt_mw", "Extra inputs are not permitted"]),
    ({"grid": {"site.import_limit_mw": ["a lot"]}},
     ["site.import_limit_mw", "valid number"]),
    ({"grid": {"miners[s21].count": [-5]}}, ["miners.2.count", "greater than 0"]),
    ({"grid": {"miners[s99].count": [5]}}, ["miners[s99]", "no item named 's99'", "s21"]),
    ({"grid": {"site.import_limit_mw.x": [5]}}, ["is a value, not a section"]),
    ({"grid": {"site..x": [5]}}, ["is not a field name"]),
    ({"grid": {"site.import_limit_mw": []}}, ["grid.site.import_limit_mw", "at least 1 item"]),
    ({"grid": {"site.import_limit_mw": [250]}, "samples": {"n": 2, "ranges": {
        "site.import_limit_mw": {"low": 1, "high": 2}}}}, ["grid or samples, not both"]),
    ({"samples": {"n": 2, "ranges": {"site.import_limit_mw": {"low": 3, "high": 2}}}},
     ["samples.ranges.site.import_limit_mw", "must be above low"]),
    ({"samples": {"n": 3, "ranges": {"miners[s21].count": {"low": 1000.5, "high": 2000}}}},
     ["miners.2.count", "integer"]),
    ({"grid": {"site.import_limit_mw": [250]}, "worker": 3}, ["worker", "Extra inputs"]),
    ({"grid": {"site.import_limit_mw": [250]}, "version": 2}, ["unsupported sweep version 2"]),
    ({}, ["nothing to vary"]),
    ({"cases": [{"name": "a"}, {"name": "a"}]}, ["duplicate names ['a']"]),
    ({"grid": {"site.import_limit_mw": [250]}, "base": "nope.yaml"},
     ["base scenario 'nope.yaml'", "file not found"]),
])
def test_bad_sweep_documents_get_their_message(tmp_path, fields, needles):
    message = _message(tmp_path, **fields)
    for needle in needles:
        assert needle in message, (needle, message)


def test_malformed_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\ngrid: [unclosed\n")
    with pytest.raises(SweepError, match=r"bad.yaml: not valid YAML"):
        load_sweep(path)


def test_bundled_sweeps_are_valid():
    found = sorted((examples_dir() / "sweeps").glob("*.yaml"))
    assert found, "examples/sweeps/ holds at least one sweep"
    for path in found:
        plan = load_sweep(path)
        assert plan.runs and plan.base_path.exists()


def test_bundled_fleet_sweep_spans_2023_and_2024_markets():
    """Issue 14: the example varies the market year where data allows (2023 and 2024 are bundled);
    its 2023 case prices the campus as the bundled west_texas_2023 scenario does."""
    from ballast.scenario import load_scenario

    plan = load_sweep(examples_dir() / "sweeps" / "west_texas_fleet.yaml")
    by_case: dict[str, list] = {}
    for run in plan.runs:
        by_case.setdefault(run.params["case"], []).append(run.scenario)
    assert sorted(by_case) == ["2023", "2024"]
    assert len(by_case["2023"]) == len(by_case["2024"]) == 27
    ref = load_scenario(examples_dir() / "west_texas_2023.yaml").model_dump(mode="json")
    for scenario in by_case["2023"]:
        assert scenario["run"]["start"] == ref["run"]["start"]
        assert scenario["run"]["end"] == ref["run"]["end"]
        assert scenario["markets"]["price"] == ref["markets"]["price"]
        assert scenario["ai"]["maintenance"] == []
    for scenario in by_case["2024"]:
        assert scenario["run"]["start"].startswith("2024-01-01")
        assert scenario["markets"]["price"]["source"] == "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"
