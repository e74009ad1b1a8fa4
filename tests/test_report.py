"""The HTML report: self-contained (no network), with the sections users look for."""

import re

from ballast.report.html import render_report
from ballast.scenario import parse_scenario
from ballast.sim import Results, simulate


def test_report_is_self_contained_with_sections(scenario_dict):
    scenario_dict["run"]["start"] = "2024-04-15T00:00:00Z"
    scenario_dict["run"]["end"] = "2024-04-25T00:00:00Z"
    res = Results.from_simulation(simulate(parse_scenario(scenario_dict)))
    page = render_report(res)
    # no external scripts, stylesheets or fonts: it must open offline
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=\"?https?:", page)
    for heading in ("Key figures", "Campus power", "Economics", "Against the baseline",
                    "Monthly", "All KPIs"):
        assert f"<h2>{heading}</h2>" in page
    assert "halving" in page  # the 2024-04-20 halving falls in this window
    assert page.count("Plotly.newPlot") == 4
    assert "breakeven s21" in page and "import limit" in page
