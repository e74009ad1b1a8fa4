"""Backtest engine end to end on bundled data: energy balance, baseline, resolutions, KPIs."""

import numpy as np
import pytest

from ballast.inputs import step_hours
from ballast.scenario import parse_scenario
from ballast.sim import Results, simulate


@pytest.fixture(scope="module")
def week_results():
    import copy

    from tests.conftest import BASE_SCENARIO

    # the flat 3 % fee share, on which the spike and margin figures below were measured (with
    # the real fees of May 2024, no price in this week tops the S19j Pro breakeven by 50 USD/MWh)
    scenario = copy.deepcopy(BASE_SCENARIO)
    scenario["markets"]["bitcoin"] = {"fees": "share"}
    return Results.from_simulation(simulate(parse_scenario(scenario)))


def test_energy_balance_and_sign_convention(week_results):
    sim = week_results.simulation
    for run in (sim.ballast, sim.baseline):
        f = run.frame
        # import positive: import + renewables used on site = loads (ai + miners)
        np.testing.assert_allclose(f["import_mw"].clip(lower=0) + f["renewable_used_mw"],
                                   f["ai_load_mw"] + f["miner_mw"], atol=1e-6)
        assert (f["export_mw"] >= 0).all() and (f["renewable_curtailed_mw"] >= -1e-9).all()
        assert (f["import_mw"] <= sim.config.import_limit_mw + 1e-6).all()
        np.testing.assert_allclose(run.group_power_mw.sum(axis=1), f["miner_mw"], atol=1e-6)


def test_baseline_runs_every_miner_wherever_the_limit_allows(week_results):
    sim = week_results.simulation
    base = sim.baseline
    full = sim.config.groups.count
    headroom = sim.config.import_limit_mw + base.frame["renewable_mw"] - base.frame["ai_load_mw"]
    room = headroom >= float(sim.config.groups.full_power_mw.sum())
    np.testing.assert_array_equal(base.group_running[room].to_numpy(),
                                  np.broadcast_to(full, base.group_running[room].shape))


def test_ballast_curtails_in_price_spikes_and_beats_baseline(week_results):
    sim = week_results.simulation
    price = sim.inputs.frame["price_usd_per_mwh"]
    hp = sim.inputs.frame["hashprice_usd_per_ph_day"]
    worst = int(sim.config.groups.merit[-1])  # least efficient group
    name = sim.config.groups.names[worst]
    breakeven = hp * sim.config.groups.breakeven_per_hashprice[worst]
    expensive = price > breakeven + 50
    assert expensive.any(), "the test week should contain price spikes"
    # ballast sleeps the least efficient group in (nearly all) spike intervals; min-on can delay
    share_off = (sim.ballast.group_running.loc[expensive, name] == 0).mean()
    assert share_off > 0.8
    k = week_results.kpis
    assert k.loc["energy_cost_usd", "delta"] < 0
    # No net-margin claim for this week: its spikes mostly last one interval, and a controller
    # that decides on the last settled price (markets.price.decision_delay) sleeps after them,
    # measured -2.0 k USD against the baseline (+3.2 k with the interval's own price, i.e.
    # with look-ahead). The margin claim is on real scarcity, below.


def test_ballast_beats_baseline_through_real_scarcity_spikes(scenario_dict):
    """2024-08-19..22, ERCOT's August scarcity prices: deciding on the last settled price
    only, Ballast still nets far more than running every miner (measured +0.93 M USD)."""
    scenario_dict["markets"]["bitcoin"] = {"fees": "share"}
    scenario_dict["run"].update({"start": "2024-08-19T00:00:00Z", "end": "2024-08-22T00:00:00Z"})
    k = Results.from_simulation(simulate(parse_scenario(scenario_dict))).kpis
    assert k.loc["net_margin_usd", "delta"] > 0
    assert k.loc["mining_revenue_usd", "delta"] < 0  # it did sleep miners to get there
    assert k.loc["btc_mined", "ballast"] < k.loc["btc_mined", "baseline"]


def test_kpis_match_hand_sums(week_results):
    sim = week_results.simulation
    k = week_results.kpis
    dt = step_hours(sim.inputs.index)
    assert dt == 0.25
    f = sim.ballast.frame
    assert k.loc["ai_energy_mwh", "ballast"] == pytest.approx(130.0 * 24 * 7)  # 100 MW x PUE 1.3
    assert k.loc["peak_import_mw", "ballast"] == pytest.approx(f["import_mw"].max())
    ci = sim.inputs.frame["carbon_intensity_g_per_kwh"]
    assert k.loc["co2_t", "ballast"] == pytest.approx((f["import_mw"].clip(lower=0) * ci * dt).sum() / 1000)
    assert k.loc["water_m3", "ballast"] == pytest.approx(100 * 24 * 7 * 0.5)
    assert k.loc["lease_revenue_usd", "ballast"] == pytest.approx(1_450_000 * 100 * 7 / 365)
    margin = (k.loc["lease_revenue_usd", "ballast"] + k.loc["mining_revenue_usd", "ballast"]
              - k.loc["energy_cost_usd", "ballast"])
    assert k.loc["net_margin_usd", "ballast"] == pytest.approx(margin)
    # BTC: running miners x TH/s x BTC per TH-day x days, net of pool fee
    g = sim.config.groups
    btc = (sim.ballast.group_running.to_numpy() * g.hashrate_th_s
           * sim.inputs.frame["btc_per_th_day"].to_numpy()[:, None] * dt / 24 * (1 - g.pool_fee_share)).sum()
    assert k.loc["btc_mined", "ballast"] == pytest.approx(btc)
    assert len(week_results.events) > 0
    assert set(week_results.events["action"]) <= {"start", "stop", "curtail", "raise"}


@pytest.mark.parametrize("resolution", ["5min", "1min"])
def test_finer_resolutions_run_and_agree_roughly(scenario_dict, resolution, week_results):
    scenario_dict["run"]["resolution"] = resolution
    scenario_dict["markets"]["bitcoin"] = {"fees": "share"}  # as week_results
    fine = Results.from_simulation(simulate(parse_scenario(scenario_dict)))
    assert len(fine.simulation.inputs.index) == 7 * 24 * 60 // int(resolution[0])
    coarse = week_results.kpis
    # same prices held over finer steps: energy and money agree within a few percent
    for kpi in ("ai_energy_mwh", "miner_energy_mwh", "energy_cost_usd", "btc_mined"):
        assert fine.kpis.loc[kpi, "ballast"] == pytest.approx(coarse.loc[kpi, "ballast"], rel=0.05)


def test_renewable_surplus_is_absorbed_not_curtailed(scenario_dict):
    scenario_dict["ai"]["it_load_mw"] = 5
    scenario_dict["site"]["export_limit_mw"] = 0
    scenario_dict["renewables"][0]["capacity_mw"] = 200
    res = Results.from_simulation(simulate(parse_scenario(scenario_dict)))
    k = res.kpis
    # the baseline runs every miner anyway; ballast absorbs as much wind, up to whole miners
    # (at most one miner's step per group and interval: 3.5 kW x 3 groups x 672 x 0.25 h)
    assert k.loc["renewable_curtailed_mwh", "ballast"] <= k.loc["renewable_curtailed_mwh", "baseline"] + 1.8
    assert "renewable_absorption" in set(res.simulation.ballast.frame["binding_rule"].astype(str))
    # without the rule, economics alone would let more wind go to waste in price spikes
    scenario_dict["control"] = {"absorb_renewable_surplus": False}
    off = Results.from_simulation(simulate(parse_scenario(scenario_dict))).kpis
    assert off.loc["renewable_curtailed_mwh", "ballast"] > k.loc["renewable_curtailed_mwh", "ballast"]


def test_seeded_noise_is_reproducible(scenario_dict):
    scenario_dict["ai"]["noise_share"] = 0.05
    a = simulate(parse_scenario(scenario_dict)).inputs.frame["ai_load_mw"]
    b = simulate(parse_scenario(scenario_dict)).inputs.frame["ai_load_mw"]
    np.testing.assert_array_equal(a, b)
    scenario_dict["run"]["seed"] = 1
    c = simulate(parse_scenario(scenario_dict)).inputs.frame["ai_load_mw"]
    assert not np.array_equal(a, c)
