"""Cooling: PUE and WUE against ambient temperature, water from IT energy (scalar, array, Series)."""

import numpy as np
import pandas as pd
import pytest

from ballast.models.cooling import pue_at_temperature, water_m3, wue_at_temperature


def test_pue_rises_with_heat_and_has_a_floor():
    assert pue_at_temperature(25.0, 1.3) == pytest.approx(1.3)
    assert pue_at_temperature(35.0, 1.3, pue_per_c=0.01) == pytest.approx(1.4)
    assert pue_at_temperature(-40.0, 1.1) == pytest.approx(1.03)  # never below pue_min


def test_wue_array_and_series_never_negative():
    temps = np.array([-20.0, 25.0, 40.0])
    np.testing.assert_allclose(wue_at_temperature(temps, 0.5), [0.0, 0.5, 0.95])
    series = pd.Series(temps)
    np.testing.assert_allclose(wue_at_temperature(series, 0.5), wue_at_temperature(temps, 0.5))


def test_water_is_wue_times_it_energy():
    # 1 L/kWh x 1 MWh = 1,000 L = 1 m3
    assert water_m3(1.0, 1.0) == pytest.approx(1.0)
    np.testing.assert_allclose(water_m3(np.array([100.0, 200.0]), 0.5), [50.0, 100.0])
