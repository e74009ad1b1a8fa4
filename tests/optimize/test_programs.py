"""Grid programs in the optimum: the 4CP charge on the year's real peak intervals and reserves
sold from running miners, on hand-known cases and on real ERCOT data."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.costs import FourCpLinear, fourcp_calendar, transmission_usd
from ballast.optimize import compare
from ballast.optimize.forecast import coincident_peak_alert, flagged_peak_charge, forecast_problem
from ballast.optimize.model import BatteryParams, Reserves, solve
from ballast.optimize.rolling import peak_charge_usd, solve_rolling, window_peaks
from ballast.scenario import parse_scenario
from tests.conftest import BASE_SCENARIO
from tests.optimize.test_hand_cases import problem


def one_peak(usd_per_mw: float, members: list[int]) -> FourCpLinear:
    """One peak averaged over one bucket of the given intervals."""
    return FourCpLinear(np.array([usd_per_mw]), np.array([0]), [np.array(members)], [])


def test_the_optimum_curtails_in_a_4cp_interval():
    # AI 1 MW; 10 miners of 0.1 MW each earning 5 USD per hour (50 USD/MWh); 20 USD/MWh in
    # both hours. Hour 1 is a 4CP interval charged 100 USD per MW of import.
    # Hour 0: all run, -2 x 20 + 50 = 10. Hour 1: a running MW nets 50 - 20 - 100 < 0, all
    # asleep: -1 x 20 - 1 MW x 100 = -120. Optimum = -110 USD, demand 1 MW.
    p = problem([20.0, 20.0], [1.0, 1.0], counts=[10], run_mw=[0.1], value_usd=[[5.0], [5.0]])
    assert solve(p).objective_usd == pytest.approx(20.0, abs=1e-6)  # without the charge
    s = solve(replace(p, peak_charge=one_peak(100.0, [1])))
    assert s.objective_usd == pytest.approx(-110.0, abs=1e-6)
    np.testing.assert_allclose(s.running[:, 0], [10.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(s.peak_demand_mw, [1.0], atol=1e-6)
    # a charge below the miners' net value (30 USD per MW) leaves them running: 20 - 2 x 25 = -30
    s = solve(replace(p, peak_charge=one_peak(25.0, [1])))
    assert s.objective_usd == pytest.approx(-30.0, abs=1e-6)
    np.testing.assert_allclose(s.running[:, 0], [10.0, 10.0], atol=1e-6)


def test_a_battery_shaves_the_4cp_interval():
    # AI 1 MW at 20 USD/MWh, no miners; battery 0.5 MW / 0.5 MWh, lossless, empty, must end
    # empty or fuller. Hour 0 charges 0.5 MW (-10), hour 1 discharges it: import 0.5 MW there,
    # so the 100 USD/MW charge is 50, not 100. Optimum = -30 - 10 - 50 = -90 USD.
    b = BatteryParams(power_mw=0.5, energy_mwh=0.5, efficiency=1.0, initial_soc_mwh=0.0)
    p = problem([20.0, 20.0], [1.0, 1.0], battery=b, peak_charge=None)
    s = solve(replace(p, peak_charge=one_peak(100.0, [1])))
    assert s.objective_usd == pytest.approx(-90.0, abs=1e-6)
    np.testing.assert_allclose(s.import_mw, [1.5, 0.5], atol=1e-6)


def test_a_reserve_offer_is_limited_by_the_running_miners():
    # One hour, AI 1 MW; 10 miners of 0.1 MW each earning 1 USD (10 USD/MWh); RRS offered
    # 2 MW at 25 USD/MW-h. At 30 USD/MWh a running MW earns 10 - 30 + 25 = 5: all 1 MW run
    # and 1 MW of reserve is sold (not the 2 MW offered: only running miners can be curtailed).
    # Optimum = -30 + 5 = -25 USD. At 40 USD/MWh a running MW loses 5: none run, none sold: -40.
    rrs = Reserves(("responsive_reserve",), np.array([2.0]), np.array([[25.0]]))
    p = problem([30.0], [1.0], counts=[10], run_mw=[0.1], value_usd=[[1.0]], reserves=rrs)
    s = solve(p)
    assert s.objective_usd == pytest.approx(-25.0, abs=1e-6)
    assert s.running[0, 0] == pytest.approx(10.0, abs=1e-6)
    assert s.reserve_mw[0, 0] == pytest.approx(1.0, abs=1e-6)
    s = solve(replace(p, import_cost_usd_per_mw=np.array([40.0]), export_cost_usd_per_mw=np.array([-40.0])))
    assert s.objective_usd == pytest.approx(-40.0, abs=1e-6)
    assert s.reserve_mw[0, 0] == pytest.approx(0.0, abs=1e-6)


def summer(doc: dict) -> dict:
    """June-September 2024 (Central time), hourly: the run holds all four 2024 4CP peaks."""
    doc["run"] = {"start": "2024-06-01T05:00:00Z", "end": "2024-10-01T05:00:00Z", "resolution": "1h"}
    doc["costs"] = {"transmission_usd_per_kw_year": 60}
    return doc


def test_the_optimum_pays_the_backtests_4cp_charge_and_beats_the_rules():
    doc = summer(copy.deepcopy(BASE_SCENARIO))
    doc["battery"] = {"power_mw": 40, "energy_mwh": 160}
    scn = parse_scenario(doc)
    c = compare(scn)
    opt = c.optimum
    p, s = opt.problem, opt.solution
    assert p.peak_charge is not None and len(p.peak_charge.usd_per_mw) == 4
    # the LP's charge is the backtest's: costs.transmission_usd on the optimum's import
    imp = opt.run.frame["import_mw"]
    charged, _ = transmission_usd(imp, fourcp_calendar(scn), 60.0)
    lp_charge = float(p.peak_charge.usd_per_mw @ s.peak_demand_mw)
    assert lp_charge == pytest.approx(charged.sum(), rel=1e-6)
    k = opt.kpis["value"]
    assert k["transmission_cost_usd"] == pytest.approx(lp_charge, rel=1e-6)
    assert k["mining_revenue_usd"] - k["energy_cost_usd"] - k["transmission_cost_usd"] == pytest.approx(
        s.objective_usd, rel=1e-6
    )
    # it curtails at the peaks: its demand there is below the import limit the rules leave free
    assert (s.peak_demand_mw < scn.site.import_limit_mw - 1.0).all()
    assert c.regret_usd >= -1e-6 * abs(k["net_margin_usd"])
    # and the optimum without the charge in its objective pays more transmission
    free = solve(replace(p, peak_charge=None))
    free_imp = pd.Series(free.import_mw, index=p.index)
    assert transmission_usd(free_imp, fourcp_calendar(scn), 60.0)[0].sum() > lp_charge


def test_reserves_in_a_real_week_come_from_running_miners():
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["programs"] = {"responsive_reserve": {"offer_mw": 30, "price_usd_per_mw_h": 12.0}}
    scn = parse_scenario(doc)
    c = compare(scn)
    opt = c.optimum
    s, p = opt.solution, opt.problem
    running_flex_mw = (s.running * (p.run_mw - p.sleep_mw)).sum(axis=1)
    assert (s.reserve_mw[:, 0] <= running_flex_mw + 1e-6).all()
    assert (s.reserve_mw[:, 0] <= 30 + 1e-9).all()
    assert s.reserve_mw.sum() > 0
    paid = float((s.reserve_mw[:, 0] * 12.0 * p.step_h).sum())
    assert opt.kpis.loc["reserve_availability_usd", "value"] == pytest.approx(paid)
    assert any("reserves" in n for n in opt.notes)
    assert c.to_json()["optimum_notes"] == list(opt.notes)
    # the regret adds reserve availability to both sides, and the optimum still wins
    assert c.regret_usd >= -1e-6 * abs(float(opt.kpis.loc["net_margin_usd", "value"]))


def test_rolling_windows_pay_the_4cp_charge_of_the_peaks_inside_them():
    # AI 1 MW; 10 miners of 0.1 MW each earning 5 USD per hour (50 USD/MWh); 20 USD/MWh; hour
    # 3 is a 4CP interval charged 100 USD per MW. Per hour off the peak: 50 - 20 x 2 = 10 USD;
    # at the peak a running MW nets 50 - 20 - 100 < 0: all asleep, -20 - 100 = -120 USD.
    # Two-hour windows committing one hour see the peak from hour 2's window on and sleep the
    # miners in hour 3, as the perfect optimum does: 3 x 10 - 120 = -90 USD.
    p = problem([20.0] * 4, [1.0] * 4, counts=[10], run_mw=[0.1], value_usd=[[5.0]] * 4)
    p = replace(p, peak_charge=one_peak(100.0, [3]))
    assert solve(p).objective_usd == pytest.approx(-90.0, abs=1e-6)
    r = solve_rolling(p, window_h=2.0, commit_h=1.0)
    assert r.objective_usd == pytest.approx(-90.0, abs=1e-6)
    np.testing.assert_allclose(r.running[:, 0], [10.0, 10.0, 10.0, 0.0], atol=1e-6)
    # a forecast that flags no peak runs all miners and pays the real charge on 2 MW:
    # 4 x 10 - 200 = -160 USD
    blind = solve_rolling(p, window_h=2.0, commit_h=1.0, forecast=replace(p, peak_charge=None))
    assert blind.objective_usd == pytest.approx(-160.0, abs=1e-6)


def test_window_peaks_keeps_the_buckets_wholly_inside():
    pc = FourCpLinear(
        np.array([7.0, 9.0]), np.array([0, 0, 1]), [np.array([1, 2]), np.array([5]), np.array([8])], []
    )
    w = window_peaks(pc, 2, 9)  # bucket [1, 2] straddles the start: left out
    np.testing.assert_array_equal(w.usd_per_mw, [7.0, 9.0])
    np.testing.assert_array_equal(w.bucket_peak, [0, 1])
    assert [m.tolist() for m in w.members] == [[3], [6]]
    assert window_peaks(pc, 9, 12) is None


def test_a_forecast_sees_the_4cp_charge_on_the_flagged_intervals():
    # real peak: July 2024 hour 17:00 UTC at 50 USD/MW; the alert flags two July hours and one
    # August hour (August has no real peak in this charge: nothing to pay there)
    idx = pd.date_range("2024-07-01", periods=24 * 62, freq="1h", tz="UTC")
    real = FourCpLinear(np.array([50.0]), np.array([0]), [np.array([17])], [])
    alert = np.zeros(len(idx), dtype=bool)
    alert[[40, 41, 24 * 40 + 15]] = True
    seen = flagged_peak_charge(real, alert, idx, "America/Chicago")
    np.testing.assert_array_equal(seen.usd_per_mw, [50.0])
    np.testing.assert_array_equal(seen.bucket_peak, [0, 0])
    assert [m.tolist() for m in seen.members] == [[40], [41]]
    assert flagged_peak_charge(real, np.zeros(len(idx), dtype=bool), idx, "America/Chicago") is None


def test_rolling_names_how_its_windows_see_the_4cp_charge():
    doc = summer(copy.deepcopy(BASE_SCENARIO))
    doc["run"]["end"] = "2024-06-04T05:00:00Z"  # no peak in the run: no charge to note
    c = compare(parse_scenario(doc), horizon="rolling")
    assert not any("4CP" in n for n in c.optimum.notes)
    doc = summer(copy.deepcopy(BASE_SCENARIO))
    scn = parse_scenario(doc)
    rolling = compare(scn, horizon="rolling")
    assert any("4CP charge on the year's real peak" in n for n in rolling.optimum.notes)
    k = rolling.optimum.kpis["value"]
    # the rolling objective pays the real charge the KPIs charge
    assert k["mining_revenue_usd"] - k["energy_cost_usd"] - k["transmission_cost_usd"] == pytest.approx(
        rolling.optimum.solution.objective_usd, rel=1e-6
    )
    perfect = compare(scn)
    blind = solve_rolling(replace(perfect.optimum.problem, peak_charge=None))
    # seeing the real peaks, the windows pay less transmission than windows blind to them,
    # and never beat the perfect optimum
    assert k["transmission_cost_usd"] < peak_charge_usd(perfect.optimum.problem.peak_charge, blind.import_mw)
    assert rolling.optimum.solution.objective_usd <= perfect.optimum.solution.objective_usd + 1e-6
    # no coincident_peak program: a price forecast flags no peak, and says so
    dam = compare(scn, horizon="rolling", forecast="persistence")
    assert any("no coincident_peak program" in n for n in dam.optimum.notes)


@settings(max_examples=8, deadline=None)
@given(
    rrs_mw=st.floats(1, 80),
    rrs_price=st.floats(0, 40),
    ecrs_mw=st.sampled_from([None, 10.0, 60.0]),
    battery=st.booleans(),
    day=st.integers(0, 360),
)
def test_with_reserves_the_optimum_never_earns_less_than_the_rules(rrs_mw, rrs_price, ecrs_mw, battery, day):
    doc = copy.deepcopy(BASE_SCENARIO)
    start = np.datetime64("2024-01-01") + np.timedelta64(day, "D")
    doc["run"] = {"start": f"{start}T00:00:00Z", "end": f"{start + np.timedelta64(2, 'D')}T00:00:00Z",
                  "resolution": "15min"}  # fmt: skip
    doc["programs"] = {"responsive_reserve": {"offer_mw": rrs_mw, "price_usd_per_mw_h": rrs_price}}
    if ecrs_mw is not None:
        doc["programs"]["ecrs"] = {"offer_mw": ecrs_mw}
    if battery:
        doc["battery"] = {"power_mw": 20, "energy_mwh": 60}
    c = compare(parse_scenario(doc))
    s, p = c.optimum.solution, c.optimum.problem
    scale = 1.0 + abs(float(c.table.loc["net_margin_usd", "rules"]))
    assert c.regret_usd >= -1e-7 * scale
    running_flex_mw = (s.running * (p.run_mw - p.sleep_mw)).sum(axis=1)
    assert (s.reserve_mw.sum(axis=1) <= running_flex_mw + 1e-6).all()
    assert c.monthly["regret_usd"].sum() == pytest.approx(c.regret_usd, rel=1e-9, abs=1e-6)


def test_a_warm_start_keeps_the_4cp_optimum():
    # five weeks hourly with one peak in the middle: solve() starts from the weekly windows
    # (which leave the charge out) and must still reach the cold optimum that pays it
    from ballast.optimize.lp import build_lp, pass_lp
    from ballast.optimize.model import _highs, run_highs, warm_start_pays

    rng = np.random.default_rng(3)
    n = 5 * 168
    b = BatteryParams(power_mw=1.0, energy_mwh=4.0, efficiency=0.95, initial_soc_mwh=2.0)
    p = problem(
        rng.uniform(10.0, 60.0, n), np.full(n, 2.0), counts=[100], run_mw=[0.01],
        value_usd=rng.uniform(0.2, 0.6, (n, 1)), import_limit_mw=5.0, battery=b,
        peak_charge=one_peak(500.0, [400]),
    )  # fmt: skip
    assert warm_start_pays(p)
    h = _highs()
    pass_lp(h, build_lp(p))
    cold = run_highs(h)[1]
    s = solve(p)
    assert s.objective_usd == pytest.approx(cold, rel=1e-9)
    # 500 USD per MW of peak demand: the battery covers the AI load's 1 MW it can, miners off
    assert s.peak_demand_mw[0] == pytest.approx(1.0, abs=1e-6)


def test_non_spin_competes_with_rrs_for_the_same_running_miners():
    # One hour, AI 1 MW; 10 miners of 0.1 MW each earning 4 USD (40 USD/MWh) at 30 USD/MWh: all
    # run (+10 per MW). RRS offered 1 MW at 5 USD/MW-h, Non-Spin 1 MW at 8: only 1 MW of miners
    # runs, so 1 MW of reserve is sold in all, the dearer Non-Spin. Optimum = -30 - 30 + 40 + 8
    # = -12 USD.
    both = Reserves(("responsive_reserve", "non_spin"), np.array([1.0, 1.0]), np.array([[5.0, 8.0]]))
    p = problem([30.0], [1.0], counts=[10], run_mw=[0.1], value_usd=[[4.0]], reserves=both)
    s = solve(p)
    assert s.objective_usd == pytest.approx(-12.0, abs=1e-6)
    np.testing.assert_allclose(s.reserve_mw[0], [0.0, 1.0], atol=1e-6)


def test_the_optimum_sells_non_spin_from_the_scenario_field():
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["run"]["end"] = "2024-05-03T00:00:00Z"
    doc["programs"] = {
        "ecrs": {"offer_mw": 10},
        "non_spin": {"offer_mw": 40, "price_usd_per_mw_h": 3.0},
    }
    c = compare(parse_scenario(doc))
    s, p = c.optimum.solution, c.optimum.problem
    assert p.reserves.names == ("ecrs", "non_spin")
    np.testing.assert_allclose(p.reserves.value_usd_per_mw[:, 1], 3.0 * p.step_h)
    running_flex_mw = (s.running * (p.run_mw - p.sleep_mw)).sum(axis=1)
    assert (s.reserve_mw.sum(axis=1) <= running_flex_mw + 1e-6).all()
    assert (s.reserve_mw[:, 1] <= 40 + 1e-9).all() and s.reserve_mw[:, 1].sum() > 0
    paid = float((s.reserve_mw * p.reserves.value_usd_per_mw).sum())
    assert c.optimum.kpis.loc["reserve_availability_usd", "value"] == pytest.approx(paid)
    assert any("Non-Spin" in n for n in c.optimum.notes)
    assert c.regret_usd >= -1e-6 * abs(float(c.optimum.kpis.loc["net_margin_usd", "value"]))


def test_a_price_forecast_sees_the_coincident_peak_alert():
    doc = summer(copy.deepcopy(BASE_SCENARIO))
    doc["programs"] = {"coincident_peak": {}}
    scn = parse_scenario(doc)
    c = compare(scn, horizon="rolling", forecast="persistence")
    assert any("the coincident-peak alert flags" in n for n in c.optimum.notes)
    k = c.optimum.kpis["value"]
    assert k["mining_revenue_usd"] - k["energy_cost_usd"] - k["transmission_cost_usd"] == pytest.approx(
        c.optimum.solution.objective_usd, rel=1e-6
    )
    # the schedule's alert is the backtest's own (programs.plan), recomputed from the scenario
    alert = coincident_peak_alert(scn, c.simulation.inputs.index)
    np.testing.assert_array_equal(alert, c.simulation.programs.fourcp_alert)
    assert alert.any()
    # the windows pay less transmission than windows that see no peak at all
    p = c.optimum.problem
    price = c.simulation.inputs.frame["price_usd_per_mwh"].to_numpy()
    blind = solve_rolling(
        p, forecast=forecast_problem(p, "persistence", price, scn.markets.export_price_share)
    )
    assert k["transmission_cost_usd"] < peak_charge_usd(p.peak_charge, blind.import_mw)


def test_a_warm_start_with_reserves_keeps_the_optimum():
    # five weeks hourly, a battery, RRS and Non-Spin and one 4CP peak: solve() starts from the
    # three-week windows' dispatch and duals (rolling.interval_index maps the reserve columns and
    # rows too) and must reach the cold optimum
    from ballast.optimize.lp import build_lp, pass_lp
    from ballast.optimize.model import _highs, run_highs, warm_start_pays

    rng = np.random.default_rng(5)
    n = 5 * 168
    b = BatteryParams(power_mw=1.0, energy_mwh=4.0, efficiency=0.95, initial_soc_mwh=2.0)
    res = Reserves(("responsive_reserve", "non_spin"), np.array([0.3, 0.5]), rng.uniform(0.0, 8.0, (n, 2)))
    p = problem(
        rng.uniform(-10.0, 60.0, n), np.full(n, 2.0), counts=[100], run_mw=[0.01],
        value_usd=rng.uniform(0.2, 0.6, (n, 1)), import_limit_mw=5.0, export_limit_mw=1.0,
        battery=b, reserves=res, peak_charge=one_peak(300.0, [500]),
    )  # fmt: skip
    assert warm_start_pays(p)
    h = _highs()
    pass_lp(h, build_lp(p))
    cold = run_highs(h)[1]
    s = solve(p)
    assert s.objective_usd == pytest.approx(cold, rel=1e-9)
    assert s.reserve_mw.sum() > 0
    running_flex_mw = (s.running * (p.run_mw - p.sleep_mw)).sum(axis=1)
    assert (s.reserve_mw.sum(axis=1) <= running_flex_mw + 1e-6).all()
    # the stitched start is a feasible point of the whole run's LP: the mapping put every
    # window's columns where the run's LP has them
    from ballast.optimize.rolling import warm_start_point

    full = build_lp(p)
    x0, col_dual, row_dual = warm_start_point(p)
    assert len(x0) == len(col_dual) == full.num_col and len(row_dual) == full.num_row
    col = np.repeat(np.arange(full.num_col), np.diff(full.start))
    activity = np.bincount(full.index, weights=full.value * x0[col], minlength=full.num_row)
    assert (activity >= full.row_lower - 1e-6).all() and (activity <= full.row_upper + 1e-6).all()
    assert (x0 >= full.lower - 1e-6).all() and (x0 <= full.upper + 1e-6).all()
    start_usd = float(full.cost @ x0)  # a feasible point earns at most the optimum, here nearly it
    assert cold - 0.01 * abs(cold) <= start_usd <= cold + 1e-6
