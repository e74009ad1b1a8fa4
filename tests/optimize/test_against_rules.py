"""The optimum on real scenarios (bundled ERCOT and Bitcoin data): never below the rule
controller, the same objective as PyPSA on a shared case, and priced by the backtest's KPIs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.control import ControllerConfig
from ballast.inputs import build_inputs
from ballast.optimize import InfeasibleError, OptimizeError, compare
from ballast.optimize.model import problem_from_inputs, solve
from ballast.scenario import parse_scenario
from tests.conftest import BASE_SCENARIO

MODELS = ["Antminer S19j Pro", "Antminer S19 XP", "Antminer S21"]


def test_same_objective_as_pypsa_on_a_week():
    # one bus, flat 100 MW AI load (130 MW facility), three miner groups as demand bids, a
    # 50 MW / 100 MWh battery, 150 MW of wind and a 280 MW import limit, one week hourly
    # (19-26 Aug 2024: ERCOT scarcity prices above 1,000 USD/MWh)
    pytest.importorskip("pypsa")
    from ballast.optimize.pypsa_reference import solve_pypsa

    doc = copy.deepcopy(BASE_SCENARIO)
    doc["battery"] = {"power_mw": 50, "energy_mwh": 100, "round_trip_efficiency": 0.88}
    doc["run"].update(start="2024-08-19T00:00:00Z", end="2024-08-26T00:00:00Z", resolution="1h")
    scn = parse_scenario(doc)
    p = problem_from_inputs(build_inputs(scn), ControllerConfig.from_scenario(scn), scn)
    ours = solve(p).objective_usd
    theirs = solve_pypsa(p)
    assert abs(theirs) > 1e5  # a week of a 280 MW campus: the case is not trivially zero
    assert ours == pytest.approx(theirs, rel=1e-3)


def _doc(ai_it_mw, headroom_mw, counts, export_mw, share, battery, wind_mw, day) -> dict:
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["ai"] = {"it_load_mw": ai_it_mw, "pue": 1.3}
    doc["site"] = {"import_limit_mw": ai_it_mw * 1.3 + headroom_mw, "export_limit_mw": export_mw}
    doc["miners"] = [{"name": f"g{i}", "model": MODELS[i % 3], "count": c} for i, c in enumerate(counts)]
    doc["renewables"] = [{"name": "wind", "kind": "wind", "capacity_mw": wind_mw}] if wind_mw else []
    doc["markets"]["export_price_share"] = share
    if battery:
        doc["battery"] = {"power_mw": 20, "energy_mwh": 60}
    start = np.datetime64("2024-01-01") + np.timedelta64(day, "D")
    doc["run"] = {
        "start": f"{start}T00:00:00Z",
        "end": f"{start + np.timedelta64(2, 'D')}T00:00:00Z",
        "resolution": "15min",
    }
    return doc


@settings(max_examples=12, deadline=None)
@given(
    ai_it_mw=st.floats(0, 150),
    headroom_mw=st.floats(2, 200),
    counts=st.lists(st.integers(1, 30_000), min_size=1, max_size=3),
    export_mw=st.floats(0, 100),
    share=st.floats(0, 1),
    battery=st.booleans(),
    wind_mw=st.sampled_from([0.0, 50.0, 200.0]),
    day=st.integers(0, 360),
)
def test_optimum_never_earns_less_than_the_rules(
    ai_it_mw, headroom_mw, counts, export_mw, share, battery, wind_mw, day
):
    scn = parse_scenario(_doc(ai_it_mw, headroom_mw, counts, export_mw, share, battery, wind_mw, day))
    c = compare(scn)
    scale = 1.0 + abs(float(c.table.loc["net_margin_usd", "rules"]))
    assert c.regret_usd >= -1e-7 * scale
    margin = c.table.loc["net_margin_usd"]
    assert margin.optimum >= margin.strike_price - 1e-7 * scale  # nor less than the practice
    # where the regret comes from: by month and by the rule that bound, adding up to the whole
    assert c.monthly["regret_usd"].sum() == pytest.approx(c.regret_usd, rel=1e-9, abs=1e-6)
    assert c.regret_by_rule_usd.sum() == pytest.approx(c.regret_usd, rel=1e-9, abs=1e-6)
    # the optimum keeps the interconnect limits
    imp = c.optimum.run.frame["import_mw"].to_numpy()
    assert imp.max() <= scn.site.import_limit_mw + 1e-6
    assert imp.min() >= -scn.site.export_limit_mw - 1e-6
    # the KPI table (sim.kpis) prices the optimum's dispatch at the LP's own objective
    k = c.optimum.kpis["value"]
    assert k["mining_revenue_usd"] - k["energy_cost_usd"] == pytest.approx(
        c.optimum.solution.objective_usd, rel=1e-6, abs=1e-3
    )


def test_no_intertemporal_constraint_regret_within_one_miner_per_interval():
    # no battery, no minimum times, no deadband, no renewables: each interval stands alone, so
    # the rules (merit order, breakeven) are optimal up to rounding to whole miners; the regret
    # is at most one miner's revenue per interval and never negative
    # the rules decide on each interval's own price here, as the optimum does (decision_delay:
    # none): the default, the last settled price, adds the value of foresight to the regret
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["markets"]["price"]["decision_delay"] = "none"
    for g in doc["miners"]:
        g.update(deadband_usd_per_mwh=0, min_on_minutes=0, min_off_minutes=0)
    doc["renewables"] = []
    c = compare(parse_scenario(doc))
    one_miner_usd = c.optimum.problem.value_usd_per_miner.max(axis=1).sum()
    assert 0.0 <= c.regret_usd <= one_miner_usd
    # and with the default hysteresis and minimum times the rules leave more on the table
    slow_doc = copy.deepcopy(BASE_SCENARIO) | {"renewables": []}
    slow_doc["markets"]["price"]["decision_delay"] = "none"
    slow = compare(parse_scenario(slow_doc))
    assert slow.regret_usd > c.regret_usd


def test_infeasible_scenario_names_the_interval():
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["site"]["import_limit_mw"] = 120  # the AI facility load alone is 130 MW
    doc["renewables"] = []
    with pytest.raises(
        InfeasibleError,
        match=r"interval 0 \(2024-05-01T00:00:00\+00:00\): AI "
        r"load 130\.000 MW",
    ):
        compare(parse_scenario(doc))


def test_programs_it_cannot_model_are_refused_not_dropped():
    doc = copy.deepcopy(BASE_SCENARIO)
    event = {"start": "2024-05-02T18:00:00Z", "end": "2024-05-02T19:00:00Z", "target_mw": 10}
    doc["programs"] = {"demand_response": {"events": [event]}}
    with pytest.raises(OptimizeError, match="programs: demand_response events"):
        compare(parse_scenario(doc))
