"""Pareto fronts and tornado sensitivities on tables whose answers are worked out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ballast.sweep.analysis import pareto_mask, tornado


def test_pareto_front_keeps_runs_no_other_beats_on_margin_and_cost():
    #                 A    B    C    D    E    F (no margin)
    gain = np.array([10., 8., 7., 10., 12., np.nan])
    cost = np.array([5., 3., 4., 6., 9., 1.])
    # C loses to B (less margin, more cost); D to A (same margin, more cost)
    assert pareto_mask(gain, cost).tolist() == [True, True, False, False, True, False]


def test_tornado_on_a_grid_moves_one_parameter_at_a_time():
    rows = [{"a": a, "b": b, "c": "x", "kpi": 3 * a - 2 * b}
            for a, b in itertools.product([0, 1, 2], [10, 20])]
    table, method = tornado(pd.DataFrame(rows), ["a", "b", "c"], "kpi", base={"a": 1})
    assert method == "one at a time"
    t = table.set_index("param")
    # a from 0 to 2 with b held at its middle level (10): 3*0-20, 3*2-20; base a=1: 3-20
    assert t.loc["a", ["low", "high", "kpi_low", "kpi_high", "kpi_base"]].tolist() == \
        [0, 2, -20, -14, -17]
    # b from 10 to 20 with a held at the base scenario's value 1
    assert t.loc["b", ["kpi_low", "kpi_high", "kpi_base"]].tolist() == [-17, -37, -17]
    assert "c" not in t.index  # text columns are not sensitivities


def test_tornado_on_samples_uses_a_linear_fit():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 10, 50), rng.uniform(100, 200, 50)
    runs = pd.DataFrame({"a": a, "b": b, "kpi": 5.0 * a - 0.5 * b + 7.0})
    table, method = tornado(runs, ["a", "b"], "kpi")
    assert method == "linear fit"
    t = table.set_index("param")
    assert t.loc["a", "kpi_high"] - t.loc["a", "kpi_low"] == pytest.approx(5.0 * (a.max() - a.min()))
    assert t.loc["b", "kpi_high"] - t.loc["b", "kpi_low"] == pytest.approx(-0.5 * (b.max() - b.min()))
