"""Renewables by true capacity factor: fleet MW / ERCOT's installed MW in force (issue 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ballast.data.loaders import bundled_path
from ballast.inputs import build_inputs
from ballast.models import renewables
from ballast.scenario import parse_scenario
from ballast.sim import Results, simulate


def _fleet(name: str, column: str) -> pd.Series:
    frame = pd.read_parquet(bundled_path(name))
    return frame.set_index("interval_start_utc")[column]


def _installed(column: str) -> pd.Series:
    frame = pd.read_parquet(bundled_path("ercot_wind_solar_installed_capacity_2023_2025"))
    return frame.set_index("interval_start_utc")[column]


def test_installed_capacity_normalisation_against_a_hand_calculation():
    installed = pd.Series([1000.0, 2000.0], index=pd.DatetimeIndex(
        ["2023-01-01T00:00Z", "2023-01-01T10:00Z"]))
    fleet = pd.Series([500.0, 750.0, 1000.0, 1500.0, -5.0], index=pd.DatetimeIndex(
        ["2022-12-31T00:00Z", "2023-01-01T05:00Z", "2023-01-01T10:00Z", "2023-01-02T00:00Z",
         "2023-01-01T02:00Z"]))
    cf = renewables.capacity_factor_by_installed(fleet, installed)
    # before the first figure: 500/1000; halfway (1500 MW installed): 750/1500; at the second
    # figure 1000/2000; after the last: 1500/2000; negative output clipped to 0
    assert cf.to_numpy() == pytest.approx([0.5, 0.5, 0.5, 0.75, 0.0])


@pytest.mark.parametrize("year", [2023, 2024])
def test_ercot_wind_capacity_factor_matches_published_figures(year):
    """ERCOT wind by installed capacity lands at about a third, as published.

    EIA: ERCOT wind generated about 108,000 GWh in 2023 (EIA Today in Energy, "ERCOT set
    new records for wind and solar output in 2023", via dailyenergyinsider.com); ERCOT reported
    36.9-37.7 GW of wind installed through 2023 (its Hourly Aggregated Wind and Solar Output
    workbook, "Total Wind Installed, MW"): 108,000 GWh / (37.3 GW x 8,760 h) = 33 %. The old
    year-max normalisation gave 46-47 %.
    """
    fleet = _fleet("ercot_system_hourly_2023_2024", "ercot_wind_mw")
    year_fleet = fleet[fleet.index.year == year]
    cf = renewables.capacity_factor_by_installed(year_fleet, _installed("ercot_wind_installed_mw"))
    assert 0.31 <= cf.mean() <= 0.35
    old = renewables.capacity_factor_by_year_max(year_fleet)
    assert 0.44 <= old.mean() <= 0.48


def _full_year_2024(normalisation: str | None):
    doc = {
        "version": 1, "name": "cf-2024", "site": {"name": "t", "import_limit_mw": 280},
        "renewables": [{"name": "wind", "kind": "wind", "capacity_mw": 150}],
        "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
        "run": {"start": "2024-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z",
                "resolution": "15min"},
    }
    if normalisation is not None:
        doc["renewables"][0]["normalisation"] = normalisation
    return parse_scenario(doc)


def test_default_is_installed_capacity_and_year_max_keeps_the_old_value():
    fleet = _fleet("ercot_system_hourly_2023_2024", "ercot_wind_mw")
    fleet24 = fleet[fleet.index.year == 2024]
    # hand calculations on the raw bundled files (hourly, so each hour holds 4 quarter-hours)
    cap = np.interp(fleet24.index.as_unit("ns").asi8,
                    _installed("ercot_wind_installed_mw").index.as_unit("ns").asi8,
                    _installed("ercot_wind_installed_mw").to_numpy())
    want_new = float((fleet24.to_numpy() / cap).mean())
    want_old = float((fleet24 / fleet24.max()).mean())
    assert want_old == pytest.approx(0.46, abs=0.005)  # the 46 %
    new = build_inputs(_full_year_2024(None)).frame["renewable_wind_mw"].mean() / 150.0
    old = build_inputs(_full_year_2024("year_max")).frame["renewable_wind_mw"].mean() / 150.0
    assert new == pytest.approx(want_new, rel=1e-9)
    assert old == pytest.approx(want_old, rel=1e-9)


def test_year_max_uses_the_whole_year_even_for_a_short_run(scenario_dict):
    """The year's maximum hour is of the whole year, not of the run's window."""
    scenario_dict["renewables"][0]["normalisation"] = "year_max"
    frame = build_inputs(parse_scenario(scenario_dict)).frame
    fleet = _fleet("ercot_system_hourly_2023_2024", "ercot_wind_mw")
    year_max = fleet[fleet.index.year == 2024].max()
    hour = pd.Timestamp("2024-05-03T10:00Z")
    assert frame.loc[hour, "renewable_wind_mw"] == pytest.approx(
        150.0 * fleet.loc[hour] / year_max)


def test_capacity_factor_kpi_is_reported(scenario_dict):
    result = Results.from_simulation(simulate(parse_scenario(scenario_dict)))
    row = result.kpis.loc["capacity_factor_pct[wind]"]
    assert row["unit"] == "%"
    expected = 100.0 * result.simulation.inputs.frame["renewable_wind_mw"].mean() / 150.0
    assert row["ballast"] == pytest.approx(expected)
    assert 5.0 < row["ballast"] < 80.0


def test_bad_normalisation_is_refused(scenario_dict):
    scenario_dict["renewables"][0]["normalisation"] = "peak"
    with pytest.raises(ValueError, match="normalisation"):
        parse_scenario(scenario_dict)
