"""Price forecasts for the rolling horizon: the bundled ERCOT day-ahead price, persistence, and
the rolling optimum that follows them."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from ballast.optimize import OptimizeError, compare
from ballast.optimize.forecast import dam_price_usd_per_mwh, forecast_problem
from ballast.scenario import parse_scenario
from tests.conftest import BASE_SCENARIO
from tests.optimize.test_hand_cases import problem


def test_dam_price_is_the_hours_day_ahead_price():
    # ERCOT DAM HB_HUBAVG, hour starting 2021-01-01 00:00 CST (06:00 UTC): 18.26 USD/MWh, the
    # next hour 17.65 (the source file's first rows, checked against ERCOT's DAMLZHBSPP_2021.xlsx;
    # src/ballast/data/bundled/PROVENANCE.md)
    index = pd.date_range("2021-01-01T06:00Z", periods=8, freq="15min")
    np.testing.assert_allclose(dam_price_usd_per_mwh(index), [18.26] * 4 + [17.65] * 4)


def test_dam_price_outside_the_file_names_the_interval():
    index = pd.date_range("2024-12-31T23:00Z", periods=40, freq="15min")
    # the file's last hour starts 2025-01-01 05:00 UTC; the run goes on to 09:45
    with pytest.raises(
        OptimizeError,
        match=r"forecast dam: bundled:ercot_dam_hb_hubavg_hourly_2021_2024: covers .* to "
        r"2025-01-01 06:00:00\+00:00, but the run needs .* to 2025-01-01 09:45",
    ):
        dam_price_usd_per_mwh(index)


def test_persistence_repeats_the_last_settled_day():
    # hourly prices 100..171 over three days; export paid in full (1 MW for 1 h = the price)
    price = np.arange(72.0) + 100.0
    p = problem(price, [0.0] * 72)
    seen_at = forecast_problem(p, "persistence", price, 1.0)
    # the window solved at hour 24 sees hours 0..23 repeated over its 48 h, never its own day
    np.testing.assert_array_equal(seen_at(24, 72).import_cost_usd_per_mw[24:72], np.tile(price[:24], 2))
    # the run's first window has no settled day: it repeats the run's first price
    np.testing.assert_array_equal(seen_at(0, 48).import_cost_usd_per_mw[:48], 100.0)


def _battery_week():
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["battery"] = {"power_mw": 40, "energy_mwh": 160}
    return parse_scenario(doc)


def test_rolling_on_a_forecast_stays_below_the_perfect_optimum():
    scn = _battery_week()
    perfect = compare(scn).optimum.solution.objective_usd
    seen = {}
    for forecast in ("perfect", "dam", "persistence"):
        c = compare(scn, horizon="rolling", forecast=forecast)
        s = c.optimum.solution
        seen[forecast] = s
        # any dispatch is at most the perfect optimum; the limits hold
        assert s.objective_usd <= perfect + 1e-6 * abs(perfect)
        assert c.optimum.run.frame["import_mw"].max() <= scn.site.import_limit_mw + 1e-6
        assert c.to_json()["forecast"] == forecast
        # priced on the realised prices: the KPIs agree with the objective
        k = c.optimum.kpis["value"]
        assert k["mining_revenue_usd"] - k["energy_cost_usd"] == pytest.approx(s.objective_usd, rel=1e-9)
    # the day-ahead price is not the real-time one: the battery is scheduled differently
    assert not np.allclose(seen["dam"].battery_mw, seen["perfect"].battery_mw, atol=1e-3)
    assert seen["dam"].objective_usd < seen["perfect"].objective_usd


def test_a_forecast_needs_the_rolling_horizon():
    with pytest.raises(OptimizeError, match="forecast 'dam': a price forecast needs --horizon rolling"):
        compare(_battery_week(), forecast="dam")
    with pytest.raises(OptimizeError, match="forecast 'oracle': expected one of perfect, dam, persistence"):
        compare(_battery_week(), horizon="rolling", forecast="oracle")
