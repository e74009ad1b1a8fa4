"""Fleet ageing against the network and repowering, against hand calculations
(docs/plan.md#fleet)."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.plan import parse_plan, run_plan
from ballast.plan.document import PlanError
from ballast.plan.finance import macrs_rates
from ballast.plan.output import plan_document
from ballast.plan.sensitivity import tornado
from ballast.report.plan_report import render_plan_report
from tests.plan.helpers import BASE, plan_doc

# the helpers' plan: difficulty 1e14, 100,000 USD, fees 3 % of revenue, 3.125 BTC in 2025-2027
HASHPRICE_0 = 1e15 * 86400 / (1e14 * 2**32) * 3.125 / (1 - 0.03) * 100_000  # USD/PH/day
ENERGY_USD = 100 * 8766 * 40.0  # 100 MW all year at 40 USD/MWh


def network_bitcoin(power_growth: float, efficiency_change: float, **more) -> dict:
    return {  # plan_doc merges the section: the difficulty's own growth is set to null
        "difficulty_growth_per_yr": None,
        "network_power_growth_per_yr": power_growth,
        "network_efficiency_change_per_yr": efficiency_change,
        **more,
    }


def by_name(result):
    return {r.strategy.name: r for r in result.strategies}


def test_difficulty_grows_with_network_power_over_its_j_per_th():
    plan = parse_plan(plan_doc(bitcoin=network_bitcoin(0.2, -0.1)))
    result = run_plan(plan, paths=False)
    expected = 1e14 * (1.2 / 0.9) ** np.arange(6)  # hash rate = power / (J/TH)
    np.testing.assert_allclose(result.case_bitcoin["flat"].difficulty[0], expected, rtol=1e-12)
    assert plan_document(result)["fleet"]["difficulty_growth_per_yr"] == pytest.approx(1.2 / 0.9 - 1)
    bars = {bar.field: bar for bar in tornado(result, "convert_half")[1]}
    assert "bitcoin.difficulty_growth_per_yr" not in bars  # not given: the network's power is
    power = bars["bitcoin.network_power_growth_per_yr"]
    assert (power.low_value, power.high_value) == pytest.approx((0.16, 0.24))
    assert power.high_usd > power.low_usd  # a faster network makes the miners kept worth less


def test_a_fixed_fleet_loses_margin_as_the_network_hashes_more_cheaply():
    # the network's power stays, its J/TH falls 20 % a year: difficulty x 1.25 a year, so the
    # fleet's revenue per TH falls to 0.8^t while its energy per TH stays (20 J/TH)
    plan = parse_plan(plan_doc(bitcoin=network_bitcoin(0.0, -0.2, network_efficiency_j_per_th=25.0)))
    result = run_plan(plan, paths=False)
    keep = by_name(result)["keep"].cases["flat"]
    revenue_0 = HASHPRICE_0 * 5000 * 365.25  # 100 MW / 20 J/TH = 5,000 PH/s
    for t in range(3):  # 2025-2027, before the 2028 halving
        assert keep["mining_revenue_usd"][t] == pytest.approx(revenue_0 * 0.8**t)
        assert keep["energy_cost_usd"][t] == pytest.approx(ENERGY_USD)
    doc = plan_document(result)["fleet"]
    assert doc["network_efficiency_j_per_th"][:3] == pytest.approx([25.0, 20.0, 16.0])
    margins = [1 - 24 * 40.0 * 20.0 / (1000 * HASHPRICE_0 * 0.8**t) for t in range(3)]
    assert doc["margin"][:3] == pytest.approx(margins)
    assert margins[0] > margins[1] > margins[2]
    assert doc["repower_year"] is None


def test_repowering_in_a_given_year_by_hand():
    mining = {
        **BASE["mining"],
        "repower": {"efficiency_j_per_th": 10.0, "capex_usd_per_th_s": 15.0, "year": 2027},
    }
    plan = parse_plan(plan_doc(mining=mining, tax_rate=0.21))
    result = run_plan(plan, paths=False)
    keep, half = by_name(result)["keep"], by_name(result)["convert_half"]
    capex = 100e6 / 10.0 * 15.0  # 100 MW / 10 J/TH = 1e7 TH/s at 15 USD
    assert list(keep.schedule.repower_capex_usd) == [0, 0, capex, 0, 0, 0]
    assert list(half.schedule.repower_capex_usd) == [0, 0, capex / 2, 0, 0, 0]  # 50 MW left mining
    assert list(keep.schedule.efficiency_j_per_th) == [20, 20, 10, 10, 10, 10]
    flat = keep.cases["flat"]
    revenue_old = HASHPRICE_0 * 5000 * 365.25
    assert flat["mining_revenue_usd"][2] == pytest.approx(2 * revenue_old)  # twice the hash rate
    dep = capex * macrs_rates(5)[:4]  # 5-year MACRS from 2027: 20 %, 32 %, 19.2 %, 11.52 %
    np.testing.assert_allclose(flat["depreciation_usd"], [0, 0, *dep], rtol=1e-12)
    ebitda = 2 * revenue_old - ENERGY_USD
    assert flat["cash_flow_usd"][2] == pytest.approx(ebitda - 0.21 * (ebitda - dep[0]) - capex)
    assert flat["repower_capex_usd"][2] == capex
    doc = plan_document(result)
    assert doc["fleet"]["repower_year"] == 2027
    assert doc["fleet"]["efficiency_j_per_th"] == [20, 20, 10, 10, 10, 10]
    assert {s["name"]: s["repower_capex_usd"] for s in doc["strategies"]} == {
        "keep": capex,
        "convert_half": capex / 2,
    }
    page = render_plan_report(result, doc)
    assert "<h2>The fleet against the network</h2>" in page and "repowered 2027 to 10 J" in page


def test_repowering_when_the_margin_falls_below_a_threshold():
    # margins by hand: 2025 0.70, 2026 0.63, 2027 0.54 (see the test above): below 0.6 in 2027
    margins = [1 - 24 * 40.0 * 20.0 / (1000 * HASHPRICE_0 * 0.8**t) for t in range(3)]
    assert margins[1] > 0.6 > margins[2]
    repower = {"efficiency_j_per_th": 12.0, "capex_usd_per_th_s": 10.0, "margin_below": 0.6}
    plan = parse_plan(
        plan_doc(mining={**BASE["mining"], "repower": repower}, bitcoin=network_bitcoin(0.0, -0.2))
    )
    result = run_plan(plan, paths=False)
    keep = by_name(result)["keep"]
    assert plan_document(result)["fleet"]["repower_year"] == 2027
    assert list(keep.schedule.repower_capex_usd) == pytest.approx([0, 0, 100e6 / 12.0 * 10.0, 0, 0, 0])
    # a still network: the margin stays 0.70 until the 2028 halving halves the subsidy (0.41 after)
    never = {**repower, "margin_below": 0.3}
    plan = parse_plan(
        plan_doc(mining={**BASE["mining"], "repower": never}, bitcoin=network_bitcoin(0.0, 0.0))
    )
    assert plan_document(run_plan(plan, paths=False))["fleet"]["repower_year"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bitcoin": {"network_power_growth_per_yr": 0.1}}, "give exactly one"),
        (
            {"mining": {"repower": {"efficiency_j_per_th": 10, "capex_usd_per_th_s": 15}}},
            "give either year or margin_below",
        ),
        (
            {"mining": {"repower": {"efficiency_j_per_th": 10, "capex_usd_per_th_s": 15, "year": 2040}}},
            "mining.repower.year: 2040 is outside the plan's years 2025-2030",
        ),
        (
            {"mining": {"repower": {"efficiency_j_per_th": 25, "capex_usd_per_th_s": 15, "year": 2027}}},
            "mining.repower.efficiency_j_per_th: 25 J/TH is no better",
        ),
    ],
)
def test_bad_fleet_inputs_are_named(change, message):
    doc = plan_doc(**{k: {**BASE[k], **v} for k, v in change.items()})
    with pytest.raises(PlanError, match=r"^plan\.yaml: ") as info:
        parse_plan(doc, "plan.yaml")
    assert message in str(info.value)


def test_a_strategy_may_keep_its_old_fleet_to_compare():
    repower = {"efficiency_j_per_th": 10.0, "capex_usd_per_th_s": 15.0, "year": 2027}
    strategies = [*BASE["strategies"], {"name": "keep_old", "kind": "keep_mining", "repower": False}]
    plan = parse_plan(plan_doc(mining={**BASE["mining"], "repower": repower}, strategies=strategies))
    result = run_plan(plan, paths=False)
    old, new = by_name(result)["keep_old"], by_name(result)["keep"]
    assert list(old.schedule.efficiency_j_per_th) == [20.0] * 6
    assert not old.schedule.repower_capex_usd.any()
    gained = new.cases["flat"]["mining_revenue_usd"] - old.cases["flat"]["mining_revenue_usd"]
    assert gained[:2] == pytest.approx([0, 0]) and gained[2] == pytest.approx(HASHPRICE_0 * 5000 * 365.25)
    doc = {s["name"]: s for s in plan_document(result)["strategies"]}
    assert doc["keep_old"]["efficiency_j_per_th"] == [20.0] * 6 and doc["keep_old"]["repower_capex_usd"] == 0
