"""Site physics (``ballast.physics``): hand-worked cases per function, each called from plain
Python and from a numba-compiled wrapper (the two ways the hosts call it)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from ballast import physics as ph


@njit(cache=False)
def _jit2(fn_id, a, b):
    if fn_id == 0:
        return ph.facility_mw(a, b)
    if fn_id == 1:
        return ph.miner_facility_mw(a, b)
    if fn_id == 2:
        return ph.import_mw(a, b)
    if fn_id == 3:
        return ph.within_export_limit_mw(a, b)
    if fn_id == 4:
        return ph.export_curtailed_mw(a, b)
    if fn_id == 5:
        return ph.after_pool_fee(a, b)
    return ph.mining_revenue_usd(a, b)


TWO_ARG = [  # (function, id in _jit2, a, b, expected worked by hand)
    (ph.facility_mw, 0, 100.0, 1.25, 125.0),  # 100 MW IT x PUE 1.25
    (ph.miner_facility_mw, 1, 3500.0, 1.1, 0.00385),  # 3500 W x 1.1 / 1e6 = 0.00385 MW
    (ph.import_mw, 2, 80.0, 30.0, 50.0),  # load 80 - solar 30 = 50 MW imported
    (ph.import_mw, 2, 20.0, 30.0, -10.0),  # load 20 - solar 30 = 10 MW exported
    (ph.within_export_limit_mw, 3, -12.0, 5.0, -5.0),  # 12 MW surplus, limit 5: export 5
    (ph.within_export_limit_mw, 3, -3.0, 5.0, -3.0),  # 3 MW surplus fits the limit
    (ph.within_export_limit_mw, 3, 40.0, 5.0, 40.0),  # import is never clipped
    (ph.export_curtailed_mw, 4, -12.0, 5.0, 7.0),  # 12 - 5 = 7 MW curtailed
    (ph.export_curtailed_mw, 4, -3.0, 5.0, 0.0),  # within the limit: nothing curtailed
    (ph.export_curtailed_mw, 4, 10.0, 0.0, 0.0),  # importing: nothing curtailed
    (ph.after_pool_fee, 5, 0.5, 0.02, 0.49),  # 0.5 BTC x (1 - 0.02)
    (ph.mining_revenue_usd, 6, 0.49, 60000.0, 29400.0),  # 0.49 BTC x 60 000 USD
]


@pytest.mark.parametrize(("fn", "fid", "a", "b", "expected"), TWO_ARG)
def test_two_argument_functions(fn, fid, a, b, expected):
    assert fn(a, b) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert _jit2(fid, a, b) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@njit(cache=False)
def _jit_group(running, count, run_mw, sleep_mw):
    return ph.group_power_mw(running, count, run_mw, sleep_mw)


@njit(cache=False)
def _jit_hashing(power_mw, count, run_mw, sleep_mw):
    return ph.hashing_miners(power_mw, count, run_mw, sleep_mw)


GROUPS = [  # (running, count, run_mw, sleep_mw, group MW worked by hand)
    (1000, 1000, 0.00385, 0.000025, 3.85),  # all on: 1000 x 3.85 kW
    (0, 1000, 0.00385, 0.000025, 0.025),  # all asleep: 1000 x 25 W
    (400, 1000, 0.00385, 0.000025, 1.555),  # 400 x 3.85 kW + 600 x 25 W = 1.54 + 0.015
    (3, 10, 2.0, 0.5, 9.5),  # 3 x 2 + 7 x 0.5
]


@pytest.mark.parametrize(("running", "count", "run_mw", "sleep_mw", "expected"), GROUPS)
def test_group_power_and_its_inverse(running, count, run_mw, sleep_mw, expected):
    assert ph.group_power_mw(running, count, run_mw, sleep_mw) == pytest.approx(expected)
    assert _jit_group(running, count, run_mw, sleep_mw) == pytest.approx(expected)
    assert ph.hashing_miners(expected, count, run_mw, sleep_mw) == pytest.approx(running)
    assert _jit_hashing(expected, count, run_mw, sleep_mw) == pytest.approx(running)


def test_hashing_miners_held_in_range_and_array_shaped():
    # per group (10 miners, 2 MW running, 0.5 asleep): 4 MW is below the 5 MW asleep floor -> 0;
    # 30 MW is above the 20 MW full power -> 10; 12.5 MW -> (12.5 - 5) / 1.5 = 5 hashing
    power = np.array([[4.0, 30.0, 12.5]])
    count = np.array([10, 10, 10])
    run = np.array([2.0, 2.0, 2.0])
    sleep = np.array([0.5, 0.5, 0.5])
    np.testing.assert_allclose(ph.hashing_miners(power, count, run, sleep), [[0.0, 10.0, 5.0]])
    np.testing.assert_allclose(_jit_hashing(power, count, run, sleep), [[0.0, 10.0, 5.0]])
    # running and asleep at the same power: no span, counts as 0 hashing, never a division by 0
    assert ph.hashing_miners(5.0, 10, 0.5, 0.5) == 0.0


@njit(cache=False)
def _jit_export(net):
    return ph.export_mw(net)


@njit(cache=False)
def _jit_imported(net):
    return ph.imported_mw(net)


@pytest.mark.parametrize(
    ("net", "imported", "exported"), [(-4.0, 0.0, 4.0), (0.0, 0.0, 0.0), (6.0, 6.0, 0.0)]
)
def test_imported_and_exported_mw(net, imported, exported):
    assert ph.imported_mw(net) == imported
    assert _jit_imported(net) == imported
    assert ph.export_mw(net) == exported
    assert _jit_export(net) == exported


@njit(cache=False)
def _jit_cost(imp, price, h, share):
    return ph.energy_cost_usd(imp, price, h, share)


COSTS = [  # (import MW, price USD/MWh, interval h, export share, cost USD worked by hand)
    (10.0, 40.0, 1.0, 1.0, 400.0),  # 10 MWh x 40
    (10.0, 40.0, 0.25, 0.5, 100.0),  # 2.5 MWh x 40; the export share does not touch imports
    (-8.0, 40.0, 0.5, 0.5, -80.0),  # 4 MWh exported, paid half of 40: -80
    (-8.0, -20.0, 1.0, 1.0, 160.0),  # exporting at a negative price costs 8 x 20
    (0.0, 99.0, 1.0, 0.0, 0.0),
]


@pytest.mark.parametrize(("imp", "price", "h", "share", "expected"), COSTS)
def test_energy_cost_usd(imp, price, h, share, expected):
    assert float(ph.energy_cost_usd(imp, price, h, share)) == pytest.approx(expected)
    assert float(_jit_cost(imp, price, h, share)) == pytest.approx(expected)


def test_energy_cost_usd_over_arrays():
    imp = np.array([10.0, -8.0])
    price = np.array([40.0, 40.0])
    np.testing.assert_allclose(ph.energy_cost_usd(imp, price, 0.5, 0.5), [200.0, -80.0])
    np.testing.assert_allclose(_jit_cost(imp, price, 0.5, 0.5), [200.0, -80.0])


@njit(cache=False)
def _jit_btc(th_s, btc_per_th_day, h):
    return ph.btc_mined(th_s, btc_per_th_day, h)


BTC = [  # (hashrate TH/s, BTC per TH/s per day, interval h, BTC worked by hand)
    (200.0, 6e-7, 24.0, 1.2e-4),  # 200 TH/s x 6e-7 BTC/TH/day x 1 day
    (200.0, 6e-7, 1.0, 5e-6),  # one hour: 1.2e-4 / 24
    (1e6, 5e-7, 0.25, 5.208333333333333e-3),  # 1 EH/s for 15 min: 0.5 BTC/day / 96
]


@pytest.mark.parametrize(("th_s", "yield_", "h", "expected"), BTC)
def test_btc_mined(th_s, yield_, h, expected):
    assert ph.btc_mined(th_s, yield_, h) == pytest.approx(expected, rel=1e-12)
    assert _jit_btc(th_s, yield_, h) == pytest.approx(expected, rel=1e-12)


def test_money_chain_for_one_hour():
    # 1000 S21-class miners (200 TH/s) for one hour at 6e-7 BTC/TH/day: 0.2 EH/s x 6e-7 / 24
    # = 0.005 BTC; 2 % pool fee leaves 0.0049 BTC; at 60 000 USD that is 294 USD
    btc = ph.btc_mined(1000 * 200.0, 6e-7, 1.0)
    net = ph.after_pool_fee(btc, 0.02)
    assert ph.mining_revenue_usd(net, 60_000.0) == pytest.approx(294.0)
