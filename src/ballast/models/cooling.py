"""Cooling: the site's water use from its water use effectiveness (WUE).

The water KPI (``sim.kpis``) calls ``water_m3``. PUE and WUE are constants per scenario
(``ai.pue``, ``ai.wue_l_per_kwh``, ``miners[].pue``): no scenario carries an ambient temperature,
so the temperature-dependent PUE/WUE functions this module once had were removed (issue 17:
dead code); bring them back together with a temperature input.
"""

from __future__ import annotations

import numpy as np


def water_m3(it_energy_mwh, wue_l_per_kwh):
    """Site water use [m3] = WUE [L/kWh] x IT energy [MWh] (1 L/kWh x 1 MWh = 1 m3)."""
    return np.asarray(it_energy_mwh) * np.asarray(wue_l_per_kwh)
