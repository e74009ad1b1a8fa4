"""Finance functions against IRS Pub 946 and hand calculations written here."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.plan import finance


def macrs_by_the_rule(n: int) -> list[float]:
    """MACRS GDS percentages rebuilt from the method Pub 946 states (not from the table):
    declining balance (200 % for 3-10 years, 150 % for 15-20) switching to straight line over the
    remaining life when larger, half-year convention (half a year in the first and last)."""
    rate = (2.0 if n <= 10 else 1.5) / n
    remaining, out = 100.0, []
    for year in range(1, n + 2):
        if year == 1:
            d = 100.0 * rate / 2
        elif year == n + 1:
            d = remaining
        else:
            life_left = n + 1.5 - year  # years of recovery left at the start of this year
            d = max(remaining * rate, remaining / life_left)
        out.append(d)
        remaining -= d
    return out


@pytest.mark.parametrize("n", [3, 5, 7, 10, 15, 20])
def test_macrs_table_sums_to_100_percent(n):
    rates = finance.macrs_rates(n)
    assert len(rates) == n + 1
    assert rates.sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("n", [3, 5, 7, 10, 15, 20])
def test_macrs_table_matches_the_pub_946_method_to_its_rounding(n):
    table = finance.macrs_rates(n) * 100
    rule = np.array(macrs_by_the_rule(n))
    decimals = 3 if n == 20 else 2  # Table A-1 prints 20-year property to three decimals
    # rounding to the printed decimals, and Pub 946 alternates .x1/.x2 to keep the sum at 100
    assert np.max(np.abs(table - rule)) <= 1.01 * 10.0**-decimals


def test_macrs_rows_as_printed_in_pub_946():
    # Table A-1 rows typed from IRS Publication 946 (2024), Appendix A
    assert list(finance.macrs_rates(5) * 100) == pytest.approx([20.00, 32.00, 19.20, 11.52, 11.52, 5.76])
    seven = finance.macrs_rates(7) * 100
    assert (seven[0], seven[3], seven[7]) == pytest.approx((14.29, 12.49, 4.46))
    fifteen = finance.macrs_rates(15) * 100
    assert (fifteen[0], fifteen[1], fifteen[15]) == pytest.approx((5.00, 9.50, 2.95))


def test_macrs_refuses_a_period_not_in_the_table():
    with pytest.raises(ValueError, match="not in IRS Pub 946 Table A-1"):
        finance.macrs_rates(39)


def test_depreciation_of_two_vintages_by_hand():
    placed = np.array([100.0, 0.0, 200.0, 0.0, 0.0])
    dep = finance.depreciation_usd(placed, finance.macrs_rates(3))
    # 3-year: 33.33 44.45 14.81 7.41 %
    expected = [33.33, 44.45, 14.81 + 66.66, 7.41 + 88.90, 29.62]
    assert dep == pytest.approx(expected)
    assert finance.book_value_usd(placed, dep) == pytest.approx(300 - sum(expected))
    sl = finance.depreciation_usd(placed, finance.straight_line_rates(4))
    assert sl == pytest.approx([25, 25, 75, 75, 50])


def test_npv_of_an_annuity():
    # 5 end-of-year payments of 100 at 10 %: 100 x (1 - 1.1^-5) / 0.1
    assert finance.npv(0.10, [100.0] * 5) == pytest.approx(100 * (1 - 1.1**-5) / 0.1)
    two = finance.npv(0.10, np.array([[100.0] * 5, [0.0, 0.0, 0.0, 0.0, 161.051]]))
    assert two == pytest.approx([379.0787, 100.0], abs=1e-4)


def test_irr_of_a_two_year_loan():
    # -100 then 60 and 60: x = 1/(1+r) solves 60x^2 + 60x - 100 = 0
    x = (-60 + np.sqrt(60**2 + 4 * 60 * 100)) / (2 * 60)
    assert finance.irr([-100.0, 60.0, 60.0]) == pytest.approx(1 / x - 1)
    assert finance.npv(finance.irr([-100.0, 60.0, 60.0]), [-100.0, 60.0, 60.0]) == pytest.approx(
        0.0, abs=1e-9
    )


def test_irr_without_a_sign_change_is_nan():
    assert np.isnan(finance.irr([10.0, 10.0, 10.0]))
    assert np.isnan(finance.irr([0.0, 0.0]))


def test_simple_payback_crossing_mid_year():
    # cumulative -100, -70, -40, +20: the year-3 flow of 60 needs 40 of it -> 3 + 2/3
    assert finance.simple_payback_years([-100.0, 30.0, 30.0, 60.0]) == pytest.approx(3 + 40 / 60)


def test_discounted_payback_by_hand():
    cf = [-100.0, 60.0, 60.0, 60.0]
    d = [c / 1.1 ** (t + 1) for t, c in enumerate(cf)]  # -90.91, 49.59, 45.08, 40.98
    short = -(d[0] + d[1])  # still owed after year 1
    assert finance.discounted_payback_years(cf, 0.10) == pytest.approx(2 + short / d[2])


def test_payback_counts_the_last_time_under_water_and_none_when_never():
    assert finance.simple_payback_years([-100.0, 150.0, -100.0, 100.0]) == pytest.approx(3.5)
    assert np.isnan(finance.simple_payback_years([-100.0, 10.0, 10.0]))
    assert np.isnan(finance.simple_payback_years([5.0, 5.0]))


def test_tax_and_cash_flow():
    ebitda = np.array([100.0, 100.0])
    dep = np.array([150.0, 0.0])
    tax = finance.tax_usd(ebitda, dep, 0.2)
    assert tax == pytest.approx([-10.0, 20.0])  # a loss year gives a benefit
    cf = finance.after_tax_cash_flow_usd(ebitda, tax, np.array([300.0, 0.0]), salvage_usd=7.0)
    assert cf == pytest.approx([100 + 10 - 300, 100 - 20 + 7])
