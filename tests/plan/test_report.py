"""The plan's report.html: written by --out with every section and plotly inlined; the
waterfall adds up to the NPV; the tornado's centre is the strategy's ΔNPV and moves the way
the inputs must move it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ballast.cli import app
from ballast.plan import parse_plan, run_plan
from ballast.plan.sensitivity import subject, tornado
from ballast.report.plan_report import SECTIONS, present_values_usd
from tests.plan.helpers import plan_doc, write_plan

runner = CliRunner()


def test_out_writes_a_self_contained_report_with_every_section(tmp_path):
    path = write_plan(tmp_path, plan_doc(optimize={"scenarios": 10}))
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", str(path), "--out", str(out), "--paths", "20"])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
    assert "<script src=" not in page and "Plotly" in page  # plotly.js inlined, no network
    assert "Optimal schedule" in page and "convert_half" in page
    assert str(out / "report.html") in result.stdout


def test_waterfall_adds_up_to_the_npv():
    result = run_plan(parse_plan(plan_doc(tax_rate=0.21)), paths=False)
    for r in result.strategies:
        pv = present_values_usd(result, r.strategy.name)
        assert sum(pv.values()) == pytest.approx(r.metrics["flat"]["npv_usd"], rel=1e-9)


def test_tornado_centre_and_directions():
    result = run_plan(parse_plan(plan_doc()), paths=False)
    name = subject(result)
    assert name == "convert_half"  # the only strategy that converts
    base, bars = tornado(result, name)
    assert base == pytest.approx(result.strategies[1].metrics["flat"]["delta_npv_usd"], rel=1e-9)
    by = {b.field: b for b in bars}
    assert by["hosting.lease_usd_per_kw_month"].high_usd > base > by["hosting.lease_usd_per_kw_month"].low_usd
    assert by["hosting.capex_usd_per_mw"].high_usd < base < by["hosting.capex_usd_per_mw"].low_usd
    # a dearer BTC makes the mining given up worth more: converting gains less
    assert by["bitcoin.start_price_usd"].high_usd < base
    assert "bitcoin.difficulty_growth_per_yr" not in by  # zero in this plan: no bar
    spreads = [abs(b.high_usd - b.low_usd) for b in bars]
    assert spreads == sorted(spreads, reverse=True)
