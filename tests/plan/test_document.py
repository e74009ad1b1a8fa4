"""Bad plan input: one test each, the message names the file, the field and the problem."""

from __future__ import annotations

import pytest

from ballast.plan.document import PlanError, load_plan, parse_plan
from tests.plan.helpers import plan_doc, write_plan


def error_of(doc: dict, tmp_path) -> str:
    with pytest.raises(PlanError) as info:
        load_plan(write_plan(tmp_path, doc))
    return str(info.value)


def test_the_test_plan_is_valid(tmp_path):
    plan = load_plan(write_plan(tmp_path, plan_doc()))
    assert plan.hosting.depreciation.method == "macrs"


def test_negative_capex_names_the_field(tmp_path):
    msg = error_of(plan_doc(hosting={"capex_usd_per_mw": -5.0}), tmp_path)
    assert str(tmp_path / "plan.yaml") in msg
    assert "hosting.capex_usd_per_mw" in msg and "greater than or equal to 0" in msg


def test_a_lease_longer_than_the_horizon(tmp_path):
    msg = error_of(plan_doc(hosting={"term_years": 7}), tmp_path)
    assert "hosting.term_years: a 7-year lease is longer than the 6-year horizon" in msg


def test_conversion_beyond_the_site(tmp_path):
    doc = plan_doc(
        strategies=[
            {"name": "big", "kind": "convert", "phases": [{"year": 2025, "mw": 80}, {"year": 2026, "mw": 40}]}
        ]
    )
    msg = error_of(doc, tmp_path)
    assert "strategies[0] (big).phases: converts 120 MW in total, more than site.mining_mw (100 MW)" in msg


@pytest.mark.parametrize("rate", [0, 1, 1.5, -0.1])
def test_a_discount_rate_of_0_or_1_or_outside(tmp_path, rate):
    msg = error_of(plan_doc(discount_rate=rate), tmp_path)
    assert "discount_rate" in msg


def test_a_path_count_of_zero(tmp_path):
    doc = plan_doc()
    doc["bitcoin"]["paths"]["n"] = 0
    assert "bitcoin.paths.n" in error_of(doc, tmp_path)


def test_a_phase_outside_the_years_and_one_that_cannot_start_its_lease(tmp_path):
    doc = plan_doc(
        strategies=[
            {
                "name": "late",
                "kind": "convert",
                "phases": [{"year": 2040, "mw": 10}, {"year": 2030, "mw": 10}],
            }
        ]
    )
    msg = error_of(doc, tmp_path)
    assert "strategies[0] (late).phases[0].year: 2040 is outside the plan's years 2025-2030" in msg
    assert "strategies[0] (late).phases[1].year: built 2030+1 (hosting.build_years)" in msg


def test_ballast_miners_beyond_what_was_converted(tmp_path):
    doc = plan_doc(
        strategies=[{"name": "h", "kind": "hybrid", "ballast_mw": 60, "phases": [{"year": 2026, "mw": 50}]}]
    )
    assert "strategies[0] (h).ballast_mw: 60 MW of ballast miners, more than the 50 MW" in (
        error_of(doc, tmp_path)
    )


def test_a_strategy_of_the_wrong_shape(tmp_path):
    doc = plan_doc(strategies=[{"name": "c", "kind": "convert"}])
    msg = error_of(doc, tmp_path)
    assert "strategies.0: phases: a convert strategy needs at least one conversion phase" in msg
    doc = plan_doc(strategies=[{"name": "k", "kind": "keep_mining", "ballast_mw": 5}])
    assert "strategies.0: ballast_mw: only a hybrid strategy keeps ballast miners" in error_of(doc, tmp_path)


def test_unknown_field_unknown_base_case_and_macrs_period(tmp_path):
    assert "mining.colour: Extra inputs are not permitted" in error_of(
        plan_doc(mining={"colour": "red"}), tmp_path
    )
    assert "base_case 'crash' is not one of cases ['bull', 'flat']" in error_of(
        plan_doc(bitcoin={"base_case": "crash"}), tmp_path
    )
    doc = plan_doc()
    doc["hosting"]["depreciation"] = {"method": "macrs", "recovery_years": 39}
    assert "hosting.depreciation: recovery_years 39: MACRS (Pub 946 Table A-1) has" in error_of(doc, tmp_path)


def test_several_problems_are_listed_together(tmp_path):
    msg = error_of(plan_doc(discount_rate=0, tax_rate=2), tmp_path)
    assert "(2 problems)" in msg and "discount_rate" in msg and "tax_rate" in msg


def test_not_a_mapping_a_missing_file_and_an_unknown_name(tmp_path):
    with pytest.raises(PlanError, match="must be a mapping"):
        parse_plan([1, 2], "x.yaml")
    with pytest.raises(PlanError, match="file not found"):
        load_plan(tmp_path / "nope.yaml")
    with pytest.raises(PlanError, match="no bundled plan of that name; bundled: conversion_500mw"):
        load_plan("nope")


def test_the_bundled_plan_loads_by_name():
    plan = load_plan("conversion_500mw")
    assert plan.site.mining_mw == 500 and plan.hosting.term_years == 12


def test_cross_field_problems_are_listed_one_per_line(tmp_path):
    doc = plan_doc(strategies=[{"name": "c", "kind": "convert", "phases": [{"year": 2030, "mw": 500}]}])
    lines = error_of(doc, tmp_path).splitlines()
    assert lines[0] == f"{tmp_path / 'plan.yaml'}: invalid plan (2 problems)"
    assert lines[1].startswith("  - strategies[0] (c).phases[0].year: built 2030+1")
    assert lines[2] == (
        "  - strategies[0] (c).phases: converts 500 MW in total, more than site.mining_mw (100 MW)"
    )


def test_fee_series_needs_one_share_per_year(tmp_path):
    msg = error_of(plan_doc(bitcoin={"fee_share_by_year": [0.03, 0.04]}), tmp_path)
    assert "bitcoin.fee_share_by_year: 2 values for a 6-year horizon" in msg


def test_fee_series_shares_must_be_below_one(tmp_path):
    msg = error_of(plan_doc(bitcoin={"fee_share_by_year": [0.03, 1.0, 0, 0, 0, 0]}), tmp_path)
    assert "fee_share_by_year[1]: 1.0 is not a share in [0, 1)" in msg
