"""Energy, CO2 and water per year by hand, and the bundled intensity."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.plan import parse_plan, run_plan
from ballast.plan.environment import bundled_intensity_g_per_kwh
from tests.plan.helpers import plan_doc


def test_footprint_by_hand():
    env = {"carbon_intensity_g_per_kwh": 400.0, "carbon_change_per_yr": -0.1, "wue_l_per_kwh": 1.5}
    env["ai_load_factor"] = 0.8
    result = run_plan(parse_plan(plan_doc(environment=env)), paths=False)
    convert = next(r for r in result.strategies if r.strategy.name == "convert_half").cases["flat"]
    # 2027: 50 MW of miners hash all year (uptime 1, mining pays at 40 USD/MWh); 40 MW of IT
    # leased draws 0.8 x 40 MW x PUE 1.25 = 40 MW at the meter
    mining_mwh = 50 * 8766.0
    ai_mwh = 0.8 * 40 * 1.25 * 8766.0
    assert convert["mining_energy_mwh"][2] == pytest.approx(mining_mwh)
    assert convert["ai_energy_mwh"][2] == pytest.approx(ai_mwh)
    assert convert["energy_mwh"][2] == pytest.approx(mining_mwh + ai_mwh)
    assert convert["co2_t"][2] == pytest.approx((mining_mwh + ai_mwh) * 400.0 * 0.9**2 / 1000.0)
    assert convert["water_m3"][2] == pytest.approx(0.8 * 40 * 8766.0 * 1.5)  # IT MWh x L/kWh
    assert convert["water_m3"][0] == 0.0  # nothing leased in 2025


def test_idle_miners_draw_nothing():
    # power at 10,000 USD/MWh: every year idles, so only the AI facility draws
    doc = plan_doc(mining={**plan_doc()["mining"], "power_price_usd_per_mwh": 10_000.0})
    result = run_plan(parse_plan(doc), paths=False)
    keep = result.strategies[0].cases["flat"]
    assert np.all(keep["energy_mwh"] == 0.0) and np.all(keep["co2_t"] == 0.0)


def test_default_intensity_is_the_bundled_2024_mean():
    value = bundled_intensity_g_per_kwh()
    assert 250.0 < value < 350.0  # ERCOT 2024 grid average (docs/sources.md#facilities: about 303)
    result = run_plan(parse_plan(plan_doc()), paths=False)
    keep = result.strategies[0].cases["flat"]
    assert keep["co2_t"][0] == pytest.approx(keep["energy_mwh"][0] * value / 1000.0)
