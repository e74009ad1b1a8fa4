"""Miner plant: latency, sleep and wake ramps, power-target ramps and steps (table cases)."""

import numpy as np
import pytest

from ballast.models.miner_dynamics import MinerDynamics, group_response_mw, quantize_profile

RUN_MW, SLEEP_MW, COUNT = 0.0035, 0.000025, 1000
FULL, ASLEEP = COUNT * RUN_MW, COUNT * SLEEP_MW


@pytest.mark.parametrize(("dyn", "dt_s", "cmd", "start", "first_change", "done", "final"), [
    # sleep 400 miners at tick 10: latency 1 s, 5-s ramp -> first change at 12, done at 16
    (MinerDynamics(latency_s=1, sleep_s=5), 1.0, (10, 600, 1.0), FULL, 12, 16,
     600 * RUN_MW + 400 * SLEEP_MW),
    # no latency: the first change is the next tick
    (MinerDynamics(latency_s=0, sleep_s=5), 1.0, (10, 600, 1.0), FULL, 11, 15,
     600 * RUN_MW + 400 * SLEEP_MW),
    # wake is slower than sleep: 10-s ramp after a 2-s latency
    (MinerDynamics(latency_s=2, wake_s=10), 1.0, (10, 1000, 1.0), ASLEEP, 13, 22, FULL),
    # 100 ms ticks: 1 s latency = 10 ticks, 5 s = 50 ticks
    (MinerDynamics(latency_s=1, sleep_s=5), 0.1, (10, 0, 1.0), FULL, 21, 70, ASLEEP),
    # power target to 80 %: full-range (40 %) move takes 120 s, so 20 % takes 60 s
    (MinerDynamics(latency_s=1, profile_ramp_s=120, min_power_share=0.6), 1.0, (10, 1000, 0.8),
     FULL, 12, 71, 0.8 * FULL),
])
def test_latency_and_ramps(dyn, dt_s, cmd, start, first_change, done, final):
    awake0 = COUNT if start == FULL else 0
    p = group_response_mw([cmd], 200 if dt_s == 1.0 else 300, dt_s, COUNT, RUN_MW, SLEEP_MW,
                          dyn, awake0=awake0)
    assert np.allclose(p[:first_change], start)
    assert p[first_change] != pytest.approx(start)
    assert p[done] == pytest.approx(final) and p[done - 1] != pytest.approx(final)
    assert np.allclose(p[done:], final)
    steps = np.diff(p[first_change - 1:done + 1])
    assert np.allclose(steps, steps[0])  # linear ramp


def test_sleep_is_faster_than_a_power_target_move_of_the_same_size():
    dyn = MinerDynamics()
    target = 0.6 * FULL
    slept = group_response_mw([(0, 600, 1.0)], 200, 1.0, COUNT, RUN_MW, SLEEP_MW, dyn)
    tuned = group_response_mw([(0, 1000, 0.6)], 200, 1.0, COUNT, RUN_MW, SLEEP_MW, dyn)
    t_sleep = np.argmax(slept <= target + 400 * SLEEP_MW + 1e-9)
    t_tune = np.argmax(tuned <= target + 1e-9)
    assert t_sleep < t_tune


def test_commands_superpose_like_single_miners():
    dyn = MinerDynamics(latency_s=1, sleep_s=5, wake_s=10)
    both = group_response_mw([(0, 500, 1.0), (3, 800, 1.0)], 40, 1.0, COUNT, RUN_MW, SLEEP_MW,
                             dyn)
    assert both[-1] == pytest.approx(800 * RUN_MW + 200 * SLEEP_MW)
    assert both.min() >= ASLEEP - 1e-12 and both.max() <= FULL + 1e-12


@pytest.mark.parametrize(("share", "expected"), [(1.2, 1.0), (0.3, 0.6), (0.83, 0.8),
                                                 (0.85, 0.85), (0.6, 0.6)])
def test_power_target_is_clipped_and_stepped(share, expected):
    assert quantize_profile(share, 0.6, 0.05) == pytest.approx(expected)


def test_a_wake_reversed_by_a_sleep_lands_exactly_asleep():
    # wake all at tick 0 (10-s ramp), sleep all one tick later (1-s ramp): the miners stay at
    # the sleep floor and end there (clipping must not leave the rest of the wake ramp behind)
    dyn = MinerDynamics(latency_s=0, sleep_s=1, wake_s=10)
    p = group_response_mw([(0, COUNT, 1.0), (1, 0, 1.0)], 40, 1.0, COUNT, RUN_MW, SLEEP_MW, dyn,
                          awake0=0)
    assert p.max() <= ASLEEP + 0.1 * (FULL - ASLEEP) + 1e-12
    assert np.allclose(p[15:], ASLEEP)


@pytest.mark.parametrize(("latency_s", "sleep_s"), [(0, 20), (1, 20), (2, 5)])
def test_reversal_never_overshoots_where_it_was_heading(latency_s, sleep_s):
    # wake 500 (10-s ramp), then put them back to sleep 3 ticks later with a slower ramp:
    # after the latency the power turns down from where it is, never above that
    dyn = MinerDynamics(latency_s=latency_s, sleep_s=sleep_s, wake_s=10)
    p = group_response_mw([(0, 500, 1.0), (3, 0, 1.0)], 80, 1.0, COUNT, RUN_MW, SLEEP_MW, dyn,
                          awake0=0)
    peak = 3 + latency_s  # the old schedule runs on through the latency
    assert p.max() == pytest.approx(p[peak])
    assert p[peak] < ASLEEP + 500 * (RUN_MW - SLEEP_MW)  # the wake never completed
    assert np.all(np.diff(p[peak:]) <= 1e-12)
    assert np.allclose(p[peak + sleep_s:], ASLEEP)


def test_advance_clips_the_superposed_power_to_the_group_range():
    """``plant_advance`` picks up the due rates, moves the unclipped sum and clips it per group
    (below the floor, above the ceiling, inside, NaN passed through), clearing the due row."""
    from ballast.models.miner_dynamics import plant_advance

    raw = np.array([1.0, 5.0, 3.0, np.nan, 2.0])
    rate = np.array([-2.0, 1.0, 0.0, 0.0, 0.5])
    due = np.array([[0.5, 0.0, 0.25, 1.0, -0.5], [9.0, 9.0, 9.0, 9.0, 9.0]])
    lo, hi = np.full(5, 0.5), np.full(5, 4.0)
    power = np.zeros(5)
    assert plant_advance(due, 0, rate, raw, power, lo, hi) == 1
    assert rate.tolist() == [-1.5, 1.0, 0.25, 1.0, 0.0]
    assert raw[[0, 1, 2, 4]].tolist() == [-0.5, 6.0, 3.25, 2.0]
    assert power[[0, 1, 2, 4]].tolist() == [0.5, 4.0, 3.25, 2.0]
    assert np.isnan(raw[3]) and np.isnan(power[3])
    assert not due[0].any() and (due[1] == 9.0).all()
