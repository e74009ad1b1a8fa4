"""Cooling: water from IT energy and WUE (scalar and array), and the water KPI that uses it."""

import numpy as np
import pytest

from ballast.models.cooling import water_m3


def test_water_is_wue_times_it_energy():
    # 1 L/kWh x 1 MWh = 1,000 L = 1 m3
    assert water_m3(1.0, 1.0) == pytest.approx(1.0)
    np.testing.assert_allclose(water_m3(np.array([100.0, 200.0]), 0.5), [50.0, 100.0])
