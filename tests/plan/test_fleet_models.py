"""A mixed miner fleet (``mining.models``) against hand calculations (docs/plan.md#fleet): each
model earns, pays and idles on its own, and a conversion takes the least efficient first."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ballast.cli import app
from ballast.plan import parse_plan, run_plan
from ballast.plan.document import PlanError
from ballast.plan.output import plan_document
from ballast.report.plan_report import render_plan_report
from tests.plan.helpers import BASE, plan_doc, write_plan

# the helpers' plan: difficulty 1e14, 100,000 USD, fees 3 % of revenue, 3.125 BTC in 2025-2027
HASHPRICE_0 = 1e15 * 86400 / (1e14 * 2**32) * 3.125 / (1 - 0.03) * 100_000  # ~64.8 USD/PH/day
ENERGY_USD_PER_MW = 8766 * 40.0  # one MW all year at 40 USD/MWh
# the network's power stays and its J/TH falls 10 % a year: hashprice x 0.9 a year
NETWORK = {
    "difficulty_growth_per_yr": None,
    "network_power_growth_per_yr": 0.0,
    "network_efficiency_change_per_yr": -0.1,
}
OLD, NEW = 56.0, 15.0  # J/TH; 40 MW and 60 MW
MODELS = [
    {"name": "new", "share": 0.6, "efficiency_j_per_th": NEW},
    {"name": "old", "share": 0.4, "efficiency_j_per_th": OLD},
]


def revenue_usd(mw: float, j_per_th: float, t: int) -> float:
    """A year t <= 2 (before the 2028 halving): MW / (J/TH) x 1000 PH/s per MW x hashprice."""
    return mw * 1000.0 / j_per_th * HASHPRICE_0 * 0.9**t * 365.25


def mixed_plan(**changes):
    mining = {**BASE["mining"], "efficiency_j_per_th": None, "models": MODELS, **changes.pop("mining", {})}
    return parse_plan(plan_doc(mining=mining, bitcoin=NETWORK, **changes))


def by_name(result):
    return {r.strategy.name: r for r in result.strategies}


def test_hand_calculation_is_what_the_test_assumes():
    # the old model's breakeven hashprice is 0.96 x 56 = 53.8 USD/PH/day: above 2027's
    # 64.8 x 0.81 = 52.5, below 2026's 58.3; the new one's (14.4) is below every year's
    assert revenue_usd(1, OLD, 1) > ENERGY_USD_PER_MW > revenue_usd(1, OLD, 2)
    assert revenue_usd(1, NEW, 2) * 0.5 * 0.9**3 > ENERGY_USD_PER_MW  # 2030, after the halving


def test_the_older_model_idles_from_the_year_its_margin_turns_negative():
    result = run_plan(mixed_plan(), paths=False)
    keep = by_name(result)["keep"].cases["flat"]
    for t in range(2):  # 2025-2026: both hash
        assert keep["mining_revenue_usd"][t] == pytest.approx(
            revenue_usd(40, OLD, t) + revenue_usd(60, NEW, t)
        )
        assert keep["energy_cost_usd"][t] == pytest.approx(100 * ENERGY_USD_PER_MW)
    # 2027: the old model is switched off; the new keeps hashing
    assert keep["mining_revenue_usd"][2] == pytest.approx(revenue_usd(60, NEW, 2))
    assert keep["energy_cost_usd"][2] == pytest.approx(60 * ENERGY_USD_PER_MW)
    models = {md["name"]: md for md in plan_document(result)["fleet"]["models"]}
    assert [md["name"] for md in plan_document(result)["fleet"]["models"]] == ["old", "new"]
    assert models["old"]["strategies"]["keep"]["idle_years"] == [2027, 2028, 2029, 2030]
    assert models["new"]["strategies"]["keep"]["idle_years"] == []
    assert models["old"]["strategies"]["keep"]["mining_revenue_usd"][:3] == pytest.approx(
        [revenue_usd(40, OLD, 0), revenue_usd(40, OLD, 1), 0.0]
    )
    assert models["old"]["margin"][2] == pytest.approx(1 - ENERGY_USD_PER_MW / revenue_usd(1, OLD, 2))
    assert models["old"]["margin"][2] < 0 < models["old"]["margin"][1]
    assert models["old"]["mw"] == pytest.approx(40.0)


def test_each_model_idling_on_its_own_beats_one_average_fleet():
    # the same hash rate as one fleet: 100 MW / (40 / 56 + 60 / 15) J/TH hashes every year,
    # the old miners' loss inside it; the mixed fleet switches them off
    average = 100.0 / (40 / OLD + 60 / NEW)
    mining = {**BASE["mining"], "efficiency_j_per_th": average}
    one = by_name(run_plan(parse_plan(plan_doc(mining=mining, bitcoin=NETWORK)), paths=False))["keep"]
    mixed = by_name(run_plan(mixed_plan(), paths=False))["keep"]
    one_flat, mixed_flat = one.cases["flat"], mixed.cases["flat"]
    np.testing.assert_allclose(one_flat["ebitda_usd"][:2], mixed_flat["ebitda_usd"][:2], rtol=1e-12)
    old_loss = ENERGY_USD_PER_MW * 40 - revenue_usd(40, OLD, 2)
    assert mixed_flat["ebitda_usd"][2] - one_flat["ebitda_usd"][2] == pytest.approx(old_loss)


def test_a_conversion_takes_the_least_efficient_model_first():
    strategies = [
        {"name": "keep", "kind": "keep_mining"},
        {"name": "convert_30", "kind": "convert", "phases": [{"year": 2026, "mw": 30.0}]},
        {"name": "convert_half", "kind": "convert", "phases": [{"year": 2026, "mw": 50.0}]},
    ]
    result = run_plan(mixed_plan(strategies=strategies), paths=False)
    models = {md["name"]: md["strategies"] for md in plan_document(result)["fleet"]["models"]}
    assert models["old"]["convert_30"]["mining_mw"] == [40, 10, 10, 10, 10, 10]
    assert models["new"]["convert_30"]["mining_mw"] == [60] * 6
    assert models["old"]["convert_half"]["mining_mw"] == [40, 0, 0, 0, 0, 0]
    assert models["new"]["convert_half"]["mining_mw"] == [60, 50, 50, 50, 50, 50]
    assert models["old"]["convert_half"]["idle_years"] == []  # converted before it would idle
    half = by_name(result)["convert_half"].cases["flat"]
    assert half["mining_revenue_usd"][1] == pytest.approx(revenue_usd(50, NEW, 1))
    thirty = by_name(result)["convert_30"].cases["flat"]
    assert thirty["mining_revenue_usd"][1] == pytest.approx(revenue_usd(10, OLD, 1) + revenue_usd(60, NEW, 1))
    assert thirty["mining_revenue_usd"][2] == pytest.approx(revenue_usd(60, NEW, 2))  # old idled


def test_hybrid_ballast_keeps_the_best_of_the_converted_miners():
    strategies = [
        {"name": "keep", "kind": "keep_mining"},
        {
            "name": "hybrid",
            "kind": "hybrid",
            "phases": [{"year": 2026, "mw": 50.0}],
            "ballast_mw": 20.0,
            "ballast_uptime": 0.5,
        },
    ]
    result = run_plan(mixed_plan(strategies=strategies), paths=False)
    s = by_name(result)["hybrid"].schedule
    assert s.models == ("old", "new")
    np.testing.assert_allclose(s.model_ballast_mw[:, 1], [10.0, 10.0])  # converted: old 40, new 10
    np.testing.assert_allclose(s.model_mining_mw[:, 1], [0.0, 50.0])
    flat = by_name(result)["hybrid"].cases["flat"]
    expected = revenue_usd(50, NEW, 1) + 0.5 * (revenue_usd(10, NEW, 1) + revenue_usd(10, OLD, 1))
    assert flat["mining_revenue_usd"][1] == pytest.approx(expected)


def test_one_model_is_the_single_fleet():
    mining = {
        **BASE["mining"],
        "efficiency_j_per_th": None,
        "models": [{"name": "only", "mw": 100.0, "efficiency_j_per_th": 20.0}],
    }
    single = run_plan(parse_plan(plan_doc()), paths=False)
    one = run_plan(parse_plan(plan_doc(mining=mining)), paths=False)
    for a, b in zip(single.strategies, one.strategies, strict=True):
        np.testing.assert_array_equal(a.cases["flat"]["cash_flow_usd"], b.cases["flat"]["cash_flow_usd"])


def test_a_repowering_replaces_every_model():
    repower = {"efficiency_j_per_th": 10.0, "capex_usd_per_th_s": 15.0, "year": 2027}
    result = run_plan(mixed_plan(mining={"repower": repower}), paths=False)
    keep = by_name(result)["keep"]
    np.testing.assert_array_equal(keep.schedule.model_efficiency_j_per_th[:, 2:], 10.0)
    assert keep.cases["flat"]["mining_revenue_usd"][2] == pytest.approx(revenue_usd(100, 10.0, 2))
    assert keep.schedule.repower_capex_usd[2] == pytest.approx(100e6 / 10.0 * 15.0)


def test_mixed_fleet_over_price_paths_and_in_the_report():
    result = run_plan(mixed_plan(), paths=True)
    assert result.strategies[0].path_npv_usd.shape == (50,)
    html = render_plan_report(result, plan_document(result))
    assert "old (56 J/TH, 40 MW)" in html
    assert "idled in 2027, 2028, 2029, 2030" in html


@pytest.mark.parametrize(
    ("mining", "message"),
    [
        ({"models": [{**MODELS[0], "share": 0.5}, MODELS[1]]}, "mining.models: the shares sum to 0.9, not 1"),
        ({"models": [MODELS[0], {**MODELS[1], "name": "new"}]}, "mining.models: duplicate names ['new']"),
        ({"efficiency_j_per_th": 20.0}, "mining.efficiency_j_per_th, mining.models: give exactly one"),
        ({"models": None}, "mining.efficiency_j_per_th, mining.models: give exactly one"),
        (
            {"models": [{**MODELS[0], "share": None, "mw": 60.0}, {**MODELS[1], "share": None, "mw": 30.0}]},
            "mining.models: the models' mw sum to 90 MW, not site.mining_mw (100 MW)",
        ),
        (
            {"models": [{**MODELS[0], "share": None, "mw": 60.0}, MODELS[1]]},
            "mining.models: give every model a share or every model its mw",
        ),
        ({"models": [{**MODELS[0], "mw": 60.0}, MODELS[1]]}, "give either share or mw (exactly one)"),
        (
            {"repower": {"efficiency_j_per_th": 16.0, "capex_usd_per_th_s": 15.0, "year": 2027}},
            "mining.repower.efficiency_j_per_th: 16 J/TH is no better than the best of mining.models (15)",
        ),
    ],
)
def test_bad_models_are_named(mining, message):
    with pytest.raises(PlanError) as err:
        mixed_plan(mining=mining)
    assert message in str(err.value)


def test_the_optimum_of_a_mixed_fleet_joins_the_table_with_its_models(tmp_path):
    optimize = {"block_mw": 25.0, "scenarios": 10, "allow_ballast": False}
    result = run_plan(mixed_plan(optimize=optimize), n_paths=10)
    opt = by_name(result)[result.optimum.strategy.name]
    base = opt.cases["flat"]["cash_flow_usd"]
    assert base.shape == (6,)
    doc = plan_document(result)
    models = {md["name"]: md["strategies"] for md in doc["fleet"]["models"]}
    converted = opt.schedule.converted_mw
    old_left = np.clip(40.0 - converted, 0.0, None)  # the old model's MW go first
    assert models["old"][opt.strategy.name]["mining_mw"] == pytest.approx(list(old_left))
    assert doc["optimize"]["milp"]["integer_columns"] > 2 * 6  # a binary per block and year


def test_the_cli_writes_a_mixed_fleets_models(tmp_path):
    mining = {**BASE["mining"], "efficiency_j_per_th": None, "models": MODELS}
    path = write_plan(tmp_path, plan_doc(mining=mining, bitcoin=NETWORK))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["plan", str(path), "--out", str(out), "--paths", "10"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "plan.json").read_text())
    old = doc["fleet"]["models"][0]
    assert (old["name"], old["strategies"]["keep"]["idle_years"]) == ("old", [2027, 2028, 2029, 2030])
    assert "idled in 2027, 2028, 2029, 2030" in (out / "report.html").read_text()
