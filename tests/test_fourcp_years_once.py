"""A run's 4CP years (``costs.fourcp_years``: which local years carry a charge, the year each
interval accrues at, the notes) are computed once for its Ballast run and its baseline, which
share the index and the calendar; another index or calendar is computed afresh."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from ballast import costs
from ballast.costs import fourcp_calendar, fourcp_years, transmission_usd
from ballast.scenario import parse_scenario
from ballast.sim import simulate
from ballast.sim.kpis import interval_money
from ballast.sim.results import kpis_of
from tests.test_margin_identity import CHARGE_USD, RATE, _imports, _load_csv, _scenario


@pytest.fixture
def counted(monkeypatch) -> list[pd.DatetimeIndex]:
    """The indexes ``costs._fourcp_years`` computes for, from an empty memo."""
    calls: list[pd.DatetimeIndex] = []
    compute = costs._fourcp_years

    def counting(index, calendar):
        calls.append(index)
        return compute(index, calendar)

    monkeypatch.setattr(costs, "_fourcp_years", counting)
    costs._YEARS_MEMO.clear()
    return calls


def test_a_run_and_its_baseline_share_one_computation(scenario_dict, counted):
    # ten days holding two of 2024's 4CP peak hours (June 30 and July 1, 22:00 UTC)
    scenario_dict["run"].update(start="2024-06-25T00:00:00Z", end="2024-07-05T00:00:00Z")
    scenario_dict["costs"] = {"transmission_usd_per_kw_year": 60}
    sim = simulate(parse_scenario(scenario_dict))
    counted.clear()
    kpis = kpis_of(sim)
    assert len(counted) == 1
    assert kpis.loc["transmission_cost_usd", "ballast"] > 0
    # each run's money as a fresh computation of the years gives it
    for run in (sim.ballast, sim.baseline):
        shared = interval_money(run, sim.inputs, sim.config, sim.scenario)
        costs._YEARS_MEMO.clear()
        fresh = interval_money(run, sim.inputs, sim.config, sim.scenario)
        pd.testing.assert_frame_equal(shared, fresh, check_exact=True)
        assert shared.attrs["notes"] == fresh.attrs["notes"]


def test_another_index_or_calendar_is_computed_afresh(tmp_path, scenario_dict, counted):
    doc = copy.deepcopy(scenario_dict)
    cal = fourcp_calendar(_scenario(scenario_dict, {"transmission_usd_per_kw_year": RATE,
                                                    "transmission_load_source": _load_csv(tmp_path)}))
    year = _imports("2030-01-01 06:00", "2031-01-01 06:00")  # the local year 2030: settled
    longer = _imports("2030-01-01 00:00", "2031-01-01 06:00")  # and 6 h of local 2029 before it
    for imp, charge_usd, n_notes in [(year, CHARGE_USD, 0), (longer, CHARGE_USD * 8766 / 8760, 1),
                                     (year, CHARGE_USD, 0)]:
        per_interval, notes = transmission_usd(imp, cal, RATE)
        assert per_interval.sum() == pytest.approx(charge_usd)
        assert len(notes) == n_notes
    assert len(counted) == 3
    transmission_usd(year.copy(deep=True), cal, RATE)  # an equal index: the same years
    assert len(counted) == 3
    # the same load in another file: another calendar, computed again on the same index
    (tmp_path / "other").mkdir()
    other = fourcp_calendar(_scenario(doc, {"transmission_usd_per_kw_year": RATE,
                                            "transmission_load_source": _load_csv(tmp_path / "other")}))
    assert other is not cal
    assert transmission_usd(year, other, RATE)[0].sum() == pytest.approx(CHARGE_USD)
    assert len(counted) == 4


def test_the_shared_years_cannot_be_written(tmp_path, scenario_dict):
    cal = fourcp_calendar(_scenario(scenario_dict, {"transmission_usd_per_kw_year": RATE,
                                                    "transmission_load_source": _load_csv(tmp_path)}))
    years = fourcp_years(_imports("2030-01-01 06:00", "2031-01-01 06:00").index, cal)
    with pytest.raises(ValueError, match="read-only"):
        years.accrue_year[0] = -1
    assert (years.accrue_year == 2030).all() and np.isin(2030, list(years.peaks))
