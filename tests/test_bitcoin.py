"""Bitcoin economics against hand calculations from the published formulas
(docs/sources.md#bitcoin-economics)."""

import numpy as np
import pandas as pd
import pytest

from ballast.models import bitcoin

# A day like 2024-04-21: difficulty 86.39 T, BTC 64,926.64 USD, subsidy 3.125 BTC.
DIFFICULTY = 86_388_558_925_171.25
BTC_USD = 64_926.64


def test_blocks_per_day_per_ph_hand_calculation():
    # 1e15 * 86400 / (86.388558925e12 * 4294967296) = 2.32861e-4 blocks/day
    expected = 1e15 * 86400 / (DIFFICULTY * 4294967296)
    assert bitcoin.blocks_per_day_per_ph(DIFFICULTY) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(2.32861e-4, rel=1e-5)


def test_hashprice_hand_calculation_no_fees():
    hp = bitcoin.hashprice_usd_per_ph_day(BTC_USD, DIFFICULTY, 3.125)
    # 2.32861e-4 blocks/day * 3.125 BTC * 64,926.64 USD = 47.247 USD/PH/day
    assert hp == pytest.approx(2.32861e-4 * 3.125 * BTC_USD, rel=1e-5)
    assert hp == pytest.approx(47.247, abs=0.01)
    assert 35 <= hp <= 60  # post-halving range (docs/sources.md#hashprice-range)


def test_fees_as_share_of_revenue():
    fees = bitcoin.fees_btc_per_block(3.125, 0.2)
    assert fees == pytest.approx(3.125 * 0.2 / 0.8)
    assert fees / (3.125 + fees) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="fee_share_of_revenue"):
        bitcoin.fees_btc_per_block(3.125, 1.0)


def test_btc_per_th_day_matches_hashprice():
    btc = bitcoin.btc_per_th_day(DIFFICULTY, 3.125, 0.1)
    hp = bitcoin.hashprice_usd_per_ph_day(BTC_USD, DIFFICULTY, 3.125, 0.1)
    assert btc * 1000 * BTC_USD == pytest.approx(hp)


def test_breakeven_hand_calculation():
    # 1000 * 50 / (24 * 17.5) = 119.05 USD/MWh for an S21 at 50 USD/PH/day
    assert bitcoin.breakeven_price_usd_per_mwh(50.0, 17.5) == pytest.approx(119.047619, rel=1e-6)


@pytest.mark.parametrize(
    ("height", "subsidy"),
    [(0, 50.0), (209_999, 50.0), (210_000, 25.0), (630_000, 6.25), (839_999, 6.25),
     (840_000, 3.125), (1_050_000, 1.5625)],
)
def test_subsidy_by_height(height, subsidy):
    assert float(bitcoin.block_subsidy_btc(height)) == subsidy


def test_subsidy_by_date_around_2024_halving():
    times = pd.DatetimeIndex(["2024-04-20T00:09:26Z", "2024-04-20T00:09:27Z", "2024-12-31T00:00Z"])
    np.testing.assert_array_equal(bitcoin.block_subsidy_btc_at(times), [6.25, 3.125, 3.125])
    assert bitcoin.block_subsidy_btc_at(pd.Timestamp("2021-02-15", tz="UTC")) == 6.25


def test_functions_accept_scalar_array_and_series():
    diff = pd.Series([DIFFICULTY, 2 * DIFFICULTY])
    arr = diff.to_numpy()
    hp_series = bitcoin.hashprice_usd_per_ph_day(BTC_USD, diff, 3.125)
    hp_array = bitcoin.hashprice_usd_per_ph_day(BTC_USD, arr, 3.125)
    np.testing.assert_allclose(np.asarray(hp_series), hp_array)
    assert hp_array[1] == pytest.approx(hp_array[0] / 2)
    be = bitcoin.breakeven_price_usd_per_mwh(hp_array, np.array([17.5, 29.5]))
    assert be.shape == (2,)
