"""Non-Spin (``programs.non_spin``): a 30-minute reserve sold from the miners' headroom after
RRS, ECRS and ERS, deployed and settled like ECRS, through the real rule stack."""

import numpy as np
import pandas as pd
import pytest

from ballast.programs.plan import reserve_headroom_mw, sell_reserves
from ballast.scenario import ScenarioError
from tests.test_programs_plan import FLEET_MW, SLEEP_MW, START, STEP_MW, at, run, scenario


def test_non_spin_takes_the_headroom_left_after_the_faster_reserves():
    # AI 60 MW under a 100 MW limit, the whole fleet's flexible power free: ECRS 20 MW first,
    # Non-Spin the rest of its 50 MW offer that the fleet can still give
    idx = pd.date_range(START, periods=4, freq="15min")
    head = reserve_headroom_mw(
        np.full(4, 60.0), idx, 100.0, 0.0, FLEET_MW, SLEEP_MW, np.full(4, np.inf), STEP_MW
    )
    sold = sell_reserves({"non_spin": 50.0, "ecrs": 20.0}, head)
    assert sold["ecrs"] == pytest.approx(np.full(4, 20.0))
    assert sold["non_spin"] == pytest.approx(np.full(4, min(50.0, FLEET_MW - SLEEP_MW - STEP_MW - 20.0)))


def test_non_spin_deployment_reaches_its_commitment_within_30_minutes():
    cfg = {"non_spin": {"offer_mw": 12.0, "price_usd_per_mw_h": 5.0,
                        "deployments": [{"at": at(5), "duration_minutes": 30}]}}  # fmt: skip
    plan, f, _ = run(cfg, np.full(12, 40.0))
    (dep,) = plan.events
    assert dep.program == "non_spin" and dep.response_minutes == 30.0
    red = dep.reference_mw - f["miner_mw"].iloc[5:7]
    assert (red >= 12.0 - 1e-9).all()
    assert f["miner_mw"].iloc[7] == pytest.approx(dep.reference_mw)  # recovered


def test_non_spin_needs_its_price():
    with pytest.raises(ScenarioError, match=r"programs\.non_spin\.price_usd_per_mw_h"):
        scenario(4, {"non_spin": {"offer_mw": 5.0}})


def test_non_spin_availability_is_paid_in_the_settlement(scenario_dict):
    from ballast.scenario import parse_scenario
    from ballast.sim import Results, simulate

    scenario_dict["programs"] = {"non_spin": {"offer_mw": 5, "price_usd_per_mw_h": 4.0}}
    sim = simulate(parse_scenario(scenario_dict))
    results = Results.from_simulation(sim)
    sold = sim.programs.reserve_sold_mw["non_spin"]
    assert sold.max() == pytest.approx(5.0) and (sold <= 5.0 + 1e-12).all()
    dt_h = (sim.inputs.index[1] - sim.inputs.index[0]) / pd.Timedelta("1h")
    paid = float(sold.sum()) * 4.0 * dt_h
    assert results.kpis.loc["programs_cash_usd", "ballast"] == pytest.approx(paid)
    assert results.kpis.loc["reserve_sold_mwh[non_spin]", "ballast"] == pytest.approx(
        float(sold.sum()) * dt_h
    )
