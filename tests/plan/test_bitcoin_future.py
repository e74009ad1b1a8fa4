"""Bitcoin futures: halvings against the bundled chain data, subsidy by hand, price paths
against the history they are calibrated on, hashprice against the market command."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ballast.data.loaders import bundled_path, read_table
from ballast.market import market_day
from ballast.plan import bitcoin_future as bf
from ballast.plan.model import BITCOIN_HISTORY, HISTORY_WINDOW


@pytest.fixture(scope="module")
def schedule_csv():
    return read_table(bundled_path("bitcoin_block_subsidy_schedule"))


def test_halvings_match_the_chain_and_project_2028_and_2032(schedule_csv):
    got = bf.halving_times_utc(2033)
    known = schedule_csv[schedule_csv["status"] == "historical"].iloc[1:]  # epoch 0 is genesis
    observed = got[~got["projected"]]
    assert list(observed["height"]) == list(known["start_height"])
    assert list(observed["subsidy_btc"]) == list(known["subsidy_btc"])
    assert list(observed["time_utc"]) == list(pd.to_datetime(known["start_block_time_utc"]))
    h2024 = got[got["height"] == 840_000].iloc[0]
    assert h2024["time_utc"].date() == date(2024, 4, 20) and h2024["subsidy_btc"] == 3.125
    future = got[got["projected"]]
    assert list(future["height"]) == [1_050_000, 1_260_000]
    assert [t.year for t in future["time_utc"]] == [2028, 2032]
    assert list(future["subsidy_btc"]) == [1.5625, 0.78125]


def test_projecting_from_the_2020_halving_lands_the_2024_one_within_three_weeks(schedule_csv):
    row = schedule_csv[schedule_csv["start_height"] == 630_000].iloc[0]
    anchor = pd.Timestamp(row["start_block_time_utc"])
    projected = bf.projected_time_utc(840_000, anchor_height=630_000, anchor_time_utc=anchor)[0]
    actual = pd.Timestamp("2024-04-20T00:09:27Z")
    assert pd.Timedelta(0) < projected - actual < pd.Timedelta(days=21)  # blocks ran fast
    # the interval actually observed over that epoch puts it on the block
    observed_s = (actual - anchor).total_seconds() / 210_000
    exact = bf.projected_time_utc(840_000, observed_s, 630_000, anchor)[0]
    assert abs(exact - actual) < pd.Timedelta(seconds=1)


def test_mean_subsidy_over_the_2024_halving_year_by_hand():
    start, halving = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-04-20T00:09:27Z")
    end = pd.Timestamp("2025-01-01", tz="UTC")
    before = (halving - start) / (end - start)
    got = bf.mean_subsidy_btc([2023, 2024, 2025])
    assert got == pytest.approx([6.25, 6.25 * before + 3.125 * (1 - before), 3.125])
    y2028 = bf.mean_subsidy_btc([2028])[0]
    assert 1.5625 < y2028 < 3.125


def test_price_cases_compound():
    assert bf.price_case_usd(100.0, 0.1, 3) == pytest.approx([100.0, 110.0, 121.0])


def test_calibration_is_the_mean_and_sd_of_daily_log_returns():
    prices = pd.Series([100.0, 110.0, 99.0, 120.0])
    r = np.log(prices).diff().dropna()
    drift, vol = bf.calibrate_log_gbm(prices)
    assert drift == pytest.approx(r.mean() * 365.25)
    assert vol == pytest.approx(r.std() * np.sqrt(365.25))
    with pytest.raises(ValueError, match="positive"):
        bf.calibrate_log_gbm(pd.Series([1.0, -1.0, 2.0]))


def test_paths_reproduce_the_calibrated_history_within_sampling_error():
    from ballast.data.loaders import read_series

    history = read_series(BITCOIN_HISTORY, "btc_price_usd", window=HISTORY_WINDOW)
    history = history[history.index < HISTORY_WINDOW[1]]
    daily = np.log(history).diff().dropna()
    drift, vol = bf.calibrate_log_gbm(history)
    assert drift == pytest.approx(daily.mean() * 365.25)
    n_paths, n_years = 20_000, 11
    paths = bf.gbm_paths_usd(50_000.0, drift, vol, n_years, n_paths, seed=3)
    assert paths.shape == (n_paths, n_years) and np.all(paths[:, 0] == 50_000.0)
    steps = np.diff(np.log(paths), axis=1).ravel()
    n = steps.size
    assert abs(steps.mean() - drift) < 4 * vol / np.sqrt(n)
    assert abs(steps.std(ddof=1) - vol) < 4 * vol / np.sqrt(2 * n)


def test_same_seed_same_paths_other_seed_other_paths():
    a = bf.gbm_paths_usd(1.0, 0.0, 0.5, 5, 10, seed=7)
    assert np.array_equal(a, bf.gbm_paths_usd(1.0, 0.0, 0.5, 5, 10, seed=7))
    assert not np.array_equal(a, bf.gbm_paths_usd(1.0, 0.0, 0.5, 5, 10, seed=8))


def test_hashprice_of_the_first_year_matches_the_market_command():
    day = market_day(date(2025, 1, 1), "share")  # the flat fee share, as the plan uses
    subsidy = bf.mean_subsidy_btc([2025])
    got = bf.hashprice_path(
        np.array([[day["btc_price_usd"]]]), np.array([[day["difficulty"]]]), subsidy, 0.03
    )
    assert got[0, 0] == pytest.approx(day["hashprice_usd_per_ph_day"], rel=1e-12)
    assert 40 < got[0, 0] < 70  # early-2025 hashprice, docs/sources.md#hashprice-range


def test_difficulty_that_tracks_price_leaves_hashprice_alone():
    price = np.array([[100.0, 200.0, 50.0]])
    diff = bf.difficulty_path(1e14, 0.0, 3, price / 100.0, price_elasticity=1.0)
    hp = bf.hashprice_path(price, diff, np.full(3, 3.125), 0.03)
    assert hp[0] == pytest.approx(np.full(3, hp[0, 0]))
    grown = bf.difficulty_path(1e14, 0.25, 3)
    assert grown == pytest.approx([1e14, 1.25e14, 1.5625e14])


def test_a_fee_series_scales_each_year_by_hand(tmp_path):
    """Issue 12 part 2, fees as a series: miner revenue per block is subsidy / (1 - share), so a
    year with a 50 % fee share pays twice the hashprice of the same year without fees, and a
    year with 0 % the same; everything else (price, difficulty, subsidy) is unchanged."""
    from ballast.plan.document import load_plan
    from ballast.plan.model import bitcoin_years
    from tests.plan.helpers import plan_doc, write_plan

    series = [0.0, 0.5, 0.0, 0.5, 0.0, 0.5]  # the test plan's six years
    none = load_plan(write_plan(tmp_path, plan_doc(bitcoin={"fee_share_of_revenue": 0.0}), "a.yaml"))
    some = load_plan(write_plan(tmp_path, plan_doc(bitcoin={"fee_share_by_year": series}), "b.yaml"))
    price = np.full((1, 6), 60_000.0)
    ratio = (bitcoin_years(some, price).hashprice_usd_per_ph_day
             / bitcoin_years(none, price).hashprice_usd_per_ph_day)
    np.testing.assert_allclose(ratio[0], [1.0, 2.0, 1.0, 2.0, 1.0, 2.0], rtol=1e-12)
