"""A sweep keeps only the KPI table (``sim.results.kpis_of``): it must be the table the full
results document carries, for a plain run and for one with grid programs settled."""

from __future__ import annotations

import pandas as pd
import pytest

import ballast
from ballast.sim.results import kpis_of


@pytest.mark.parametrize(("example", "start", "end"), [
    ("west_texas_2024", "2024-08-01T05:00:00Z", "2024-08-15T05:00:00Z"),
    ("west_texas_2024_programs", "2024-08-01T05:00:00Z", "2024-08-08T05:00:00Z"),
])
def test_kpis_of_is_the_results_kpi_table(example, start, end):
    results = ballast.simulate(example, start=start, end=end, baselines=False)
    full = results.kpis
    only = kpis_of(results.simulation)
    assert len(only) > 10
    pd.testing.assert_frame_equal(only, full)
