"""The 1-s loop's merit order from a table of the wish's whole-group sheds
(``rules.merit_order_from_wish``, ``rules.wish_shed_steps``) against the plain merit order
(``rules.merit_order_from``): the same miners per group and the same total bit for bit, for any
wish and target, including targets exactly at a group's edge (issue 17: speed-ups must not change
a number)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.control.rules import merit_order_from, merit_order_from_wish, wish_shed_steps
from ballast.physics import group_power_mw


def fleet(draw):
    n = draw(st.integers(1, 8))
    count = np.array(draw(st.lists(st.integers(0, 400), min_size=n, max_size=n)), np.int64)
    run_mw = np.array(draw(st.lists(st.floats(0.0005, 0.01), min_size=n, max_size=n)))
    # sleep power at or above run power is a group with no step: the merit order skips it
    sleep_mw = np.array(draw(st.lists(st.sampled_from([0.0, 0.0001, 0.02]), min_size=n, max_size=n)))
    merit = np.array(draw(st.permutations(range(n))), np.int64)
    wish = np.array([draw(st.sampled_from([0, c])) for c in count], np.int64)
    return count, run_mw, sleep_mw, merit, wish


def both(target_mw, count, run_mw, sleep_mw, merit, wish):
    desired_mw = 0.0
    for g in range(len(count)):  # summed group by group in order, as stack.economic_wish does
        desired_mw += group_power_mw(wish[g], count[g], run_mw[g], sleep_mw[g])
    plain = wish.copy()
    total = merit_order_from(target_mw, desired_mw, count, run_mw, sleep_mw, merit, plain)
    entry_mw, group_mw = np.empty(len(count) + 1), np.empty(len(count))
    wish_shed_steps(wish, desired_mw, run_mw, sleep_mw, merit, entry_mw, group_mw)
    table = wish.copy()
    total_t = merit_order_from_wish(
        target_mw, desired_mw, count, run_mw, sleep_mw, merit, table, entry_mw, group_mw
    )
    return (total, plain), (total_t, table), entry_mw


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_table_merit_order_is_the_plain_one(data):
    count, run_mw, sleep_mw, merit, wish = fleet(data.draw)
    (total, plain), _, entry_mw = both(0.0, count, run_mw, sleep_mw, merit, wish)
    # targets anywhere, and exactly at (and one ulp around) each total the table holds
    edges = [float(e) for e in entry_mw if np.isfinite(e)]
    targets = [data.draw(st.floats(-1.0, 5.0)), np.nan, np.inf, -np.inf]
    targets += edges + [np.nextafter(e, np.inf) for e in edges] + [np.nextafter(e, -np.inf) for e in edges]
    for target in targets:
        (total, plain), (total_t, table), _ = both(target, count, run_mw, sleep_mw, merit, wish)
        assert np.array_equal(plain, table), target
        assert total_t == total or (np.isnan(total) and np.isnan(total_t)), target
        assert np.float64(total_t).tobytes() == np.float64(total).tobytes(), target


def test_partial_group_then_the_rest_untouched():
    # three groups of 10 miners at 1 MW per miner (sleep 0), merit order 0, 1, 2: group 2 goes
    # first; a target of 12.5 MW sheds group 2 whole (30 -> 20) and 8 of group 1 (20 -> 12)
    count = np.array([10, 10, 10], np.int64)
    run_mw = np.ones(3)
    sleep_mw = np.zeros(3)
    merit = np.array([0, 1, 2], np.int64)
    (total, plain), (total_t, table), entry_mw = both(12.5, count, run_mw, sleep_mw, merit, count.copy())
    assert list(entry_mw) == [10.0, 20.0, 30.0, 0.0]  # on reaching merit positions 0, 1, 2; all shed
    assert list(table) == [10, 2, 0] == list(plain)
    assert total_t == total == 12.0
