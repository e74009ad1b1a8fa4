"""Strategies by hand and by construction: schedules, cash flows, which strategy must win,
and the risk figures over price paths."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.plan import load_plan, parse_plan, run_plan
from ballast.plan.model import schedule
from tests.plan.helpers import plan_doc

YEARS = np.arange(2025, 2031)


def by_name(result):
    return {r.strategy.name: r for r in result.strategies}


def test_schedule_by_hand():
    plan = parse_plan(plan_doc())
    s = schedule(plan, plan.strategies[1])  # 50 grid MW converted in 2026, built in a year
    assert list(s.years) == list(YEARS)
    assert list(s.converted_mw) == [0, 50, 50, 50, 50, 50]
    assert list(s.mining_mw) == [100, 50, 50, 50, 50, 50]
    assert list(s.it_mw) == [0, 0, 40, 40, 40, 40]  # 50 MW / PUE 1.25, lease 2027-2030
    assert list(s.lease_revenue_usd) == pytest.approx([0, 0, *[40 * 100 * 1000 * 12] * 4])
    assert list(s.capex_usd) == [0, 40e6, 0, 0, 0, 0]
    assert list(s.placed_in_service_usd) == [0, 0, 40e6, 0, 0, 0]


def test_lease_term_escalator_and_capex_over_two_build_years():
    plan = parse_plan(
        plan_doc(horizon_years=8, hosting={"term_years": 3, "build_years": 2, "lease_escalator_per_yr": 0.1})
    )
    s = schedule(plan, plan.strategies[1])  # built 2026-2027, leased 2028-2030
    rate = 40 * 100 * 1000 * 12
    assert list(s.lease_revenue_usd) == pytest.approx([0, 0, 0, rate, rate * 1.1, rate * 1.21, 0, 0])
    assert list(s.capex_usd) == [0, 20e6, 20e6, 0, 0, 0, 0, 0]


def test_keep_mining_first_year_cash_flow_by_hand():
    result = run_plan(parse_plan(plan_doc()), paths=False)
    keep = by_name(result)["keep"].cases["flat"]
    blocks_per_ph_day = 1e15 * 86400 / (1e14 * 2**32)
    hashprice = blocks_per_ph_day * 3.125 / (1 - 0.03) * 100_000  # fees 3 % of revenue
    revenue = hashprice * (100e6 / 20 / 1000) * 365.25  # 5,000 PH/s all year
    energy = 100 * 8766 * 40.0
    assert keep["mining_revenue_usd"][0] == pytest.approx(revenue)
    assert keep["energy_cost_usd"][0] == pytest.approx(energy)
    assert keep["cash_flow_usd"][0] == pytest.approx(revenue - energy)  # no tax, no O&M


def test_conversion_wins_when_the_lease_dwarfs_mining_and_capex_is_free():
    plan = parse_plan(plan_doc(hosting={"lease_usd_per_kw_month": 1000.0, "capex_usd_per_mw": 0.0}))
    result = run_plan(plan, paths=False)
    assert result.best == "convert_half" and result.baseline == "keep"
    m = by_name(result)["convert_half"].metrics["flat"]
    assert m["delta_npv_usd"] > 0 and m["irr"] > plan.discount_rate
    assert 1 < m["simple_payback_years"] <= m["discounted_payback_years"] < 6


def test_conversion_loses_when_the_lease_is_tiny_and_capex_huge():
    plan = parse_plan(plan_doc(hosting={"lease_usd_per_kw_month": 1.0, "capex_usd_per_mw": 1e7}))
    result = run_plan(plan, paths=False)
    assert result.best == "keep"
    m = by_name(result)["convert_half"].metrics["flat"]
    assert m["delta_npv_usd"] < 0
    assert m["irr"] is None or m["irr"] < plan.discount_rate
    assert m["simple_payback_years"] is None


def test_delta_npv_and_irr_agree_on_the_bundled_plan():
    plan = load_plan("conversion_500mw")
    result = run_plan(plan, paths=False)
    for r in result.strategies:
        for case, m in r.metrics.items():
            if m["irr"] is not None:  # conventional flows: NPV > 0 exactly when IRR > rate
                assert (m["delta_npv_usd"] > 0) == (m["irr"] > plan.discount_rate), (r, case)


def test_hybrid_ballast_value_and_ballast_mining():
    strategies = [
        {"name": "keep", "kind": "keep_mining"},
        {"name": "convert", "kind": "convert", "phases": [{"year": 2026, "mw": 50.0}]},
        {
            "name": "valued",
            "kind": "hybrid",
            "phases": [{"year": 2026, "mw": 50.0}],
            "ballast_mw": 20.0,
            "ballast_uptime": 0.0,
            "ballast_value_usd_per_mw_yr": 1000.0,
        },
        {
            "name": "mining",
            "kind": "hybrid",
            "phases": [{"year": 2026, "mw": 50.0}],
            "ballast_mw": 50.0,
            "ballast_uptime": 1.0,
        },
    ]
    result = run_plan(parse_plan(plan_doc(strategies=strategies)), paths=False)
    s = by_name(result)
    gain = s["valued"].metrics["flat"]["npv_usd"] - s["convert"].metrics["flat"]["npv_usd"]
    assert gain == pytest.approx(sum(20 * 1000.0 / 1.1 ** (t + 1) for t in range(1, 6)))
    # 50 MW of ballast hashing all year beside the AI mine what the 100 MW site mined
    assert s["mining"].cases["flat"]["mining_revenue_usd"] == pytest.approx(
        s["keep"].cases["flat"]["mining_revenue_usd"]
    )


def test_a_year_that_does_not_pay_its_energy_is_idled():
    result = run_plan(parse_plan(plan_doc(mining={"power_price_usd_per_mwh": 1e5})), paths=False)
    keep = by_name(result)["keep"]
    assert not keep.cases["flat"]["mining_revenue_usd"].any()
    assert not keep.cases["flat"]["energy_cost_usd"].any()
    assert keep.metrics["flat"]["npv_usd"] == 0.0


def test_tax_uses_macrs_depreciation_of_the_conversion():
    plan = parse_plan(plan_doc(tax_rate=0.21))
    conv = by_name(run_plan(plan, paths=False))["convert_half"].cases["flat"]
    assert conv["depreciation_usd"][2] == pytest.approx(40e6 * 0.05)  # 15-year MACRS, year 1
    assert conv["depreciation_usd"][3] == pytest.approx(40e6 * 0.095)
    assert conv["tax_usd"] == pytest.approx(0.21 * (conv["ebitda_usd"] - conv["depreciation_usd"]))


def test_a_missing_keep_mining_baseline_is_added():
    doc = plan_doc(strategies=[{"name": "c", "kind": "convert", "phases": [{"year": 2026, "mw": 10}]}])
    result = run_plan(parse_plan(doc), paths=False)
    assert [r.strategy.name for r in result.strategies] == ["keep_mining", "c"]
    assert result.baseline == "keep_mining"


def test_paths_without_volatility_reproduce_the_flat_case():
    doc = plan_doc()
    doc["bitcoin"]["paths"] = {"n": 5, "seed": 3, "log_drift_per_yr": 0.0, "volatility_per_yr": 1e-12}
    result = run_plan(parse_plan(doc))
    for r in result.strategies:
        assert r.path_npv_usd == pytest.approx(np.full(5, r.metrics["flat"]["npv_usd"]), rel=1e-9)
        assert r.risk["prob_npv_negative"] == 0.0


def test_risk_over_paths_is_ordered_and_seeded():
    plan = parse_plan(plan_doc())
    a = run_plan(plan, n_paths=300, seed=5)
    b = run_plan(plan, n_paths=300, seed=5)
    for ra, rb in zip(a.strategies, b.strategies, strict=True):
        assert np.array_equal(ra.path_npv_usd, rb.path_npv_usd)
        q = ra.risk["npv_usd"]
        assert q["p10"] <= q["p50"] <= q["p90"]
        assert ra.risk["prob_npv_negative"] == np.mean(ra.path_npv_usd < 0)
    keep = by_name(a)["keep"]
    assert keep.risk["npv_usd"]["p90"] > keep.risk["npv_usd"]["p10"]  # price risk is real
    c = run_plan(plan, n_paths=300, seed=6)
    assert not np.array_equal(by_name(c)["keep"].path_npv_usd, keep.path_npv_usd)


def test_a_bull_market_makes_mining_worth_more():
    result = run_plan(parse_plan(plan_doc()), paths=False)
    keep = by_name(result)["keep"].metrics
    assert keep["bull"]["npv_usd"] > keep["flat"]["npv_usd"]


def test_salvage_at_book_value_in_the_last_year():
    doc = plan_doc(hosting={"salvage_fraction_of_book_value": 0.5})
    conv = by_name(run_plan(parse_plan(doc), paths=False))["convert_half"].cases["flat"]
    plain = by_name(run_plan(parse_plan(plan_doc()), paths=False))["convert_half"].cases["flat"]
    # 40 M placed in 2027 (15-year MACRS): 5.00 + 9.50 + 8.55 + 7.70 % taken by 2030
    book = 40e6 * (1 - (0.05 + 0.095 + 0.0855 + 0.077))
    assert conv["salvage_usd"][-1] == pytest.approx(0.5 * book) and not conv["salvage_usd"][:-1].any()
    assert conv["cash_flow_usd"] - plain["cash_flow_usd"] == pytest.approx([0, 0, 0, 0, 0, 0.5 * book])


def test_ballast_under_spare_interconnect_hashes_all_year():
    # 20 MW of spare grid connection: 20 of the 50 ballast MW hash like the fleet, the other 30
    # only in the AI's headroom (uptime 0 here)
    strategies = [
        {"name": "keep", "kind": "keep_mining"},
        {
            "name": "h",
            "kind": "hybrid",
            "phases": [{"year": 2026, "mw": 50.0}],
            "ballast_mw": 50.0,
            "ballast_uptime": 0.0,
        },
    ]
    doc = plan_doc(site={"interconnect_mw": 120.0}, strategies=strategies)
    s = by_name(run_plan(parse_plan(doc), paths=False))
    assert list(s["h"].schedule.ballast_firm_mw) == [0, 20, 20, 20, 20, 20]
    keep_rev = s["keep"].cases["flat"]["mining_revenue_usd"]  # 100 MW mining
    assert s["h"].cases["flat"]["mining_revenue_usd"][1:] == pytest.approx(keep_rev[1:] * 70 / 100)
