"""Compliance metrics on hand-made series: steps, sines, intervals."""

import numpy as np
import pytest

from ballast.sim.compliance import (
    Spec,
    band_energy_share,
    compliance,
    interval_peak_to_peak_mw,
    window_ramp_mw_per_s,
)


@pytest.mark.parametrize(("dt_s", "window_s", "step_mw", "expected"), [
    (1.0, 1.0, 60.0, 60.0),   # a step is a 60 MW/s one-second ramp
    (1.0, 60.0, 60.0, 1.0),   # ... and 1 MW/s over a minute
    (0.1, 1.0, 30.0, 30.0),
    (0.1, 60.0, 30.0, 0.5),
])
def test_step_ramp_over_windows(dt_s, window_s, step_mw, expected):
    p = np.r_[np.zeros(int(300 / dt_s)), np.full(int(300 / dt_s), step_mw)]
    r = window_ramp_mw_per_s(p, dt_s, window_s)
    assert r.max() == pytest.approx(expected, rel=1e-6) and r.min() == pytest.approx(0, abs=1e-9)


def test_chunked_ramp_stats_match_the_whole_series():
    rng = np.random.default_rng(0)
    p = np.cumsum(rng.normal(0, 1, 50_000)).astype(np.float32)
    spec = Spec(ramp_up_mw_per_s=0.2, ramp_down_mw_per_s=0.2, ramp_window_s=60)
    whole = compliance(p, 1.0, spec, chunk=1 << 22)
    chunked = compliance(p, 1.0, spec, chunk=7_001)
    for key in ("max_ramp_up_window_mw_per_s", "max_ramp_down_1s_mw_per_s",
                "minutes_ramp_violation"):
        assert chunked[key] == pytest.approx(whole[key], rel=1e-5)


@pytest.mark.parametrize(("freq_hz", "dt_s", "inside"), [(0.25, 1.0, True), (0.01, 1.0, False),
                                                         (3.0, 0.1, True), (0.05, 0.1, False)])
def test_band_energy_share_of_a_sine(freq_hz, dt_s, inside):
    t = np.arange(0, 7200, dt_s)
    share, top = band_energy_share(100 + 10 * np.sin(2 * np.pi * freq_hz * t), dt_s)
    assert top == pytest.approx(min(20.0, 0.5 / dt_s))  # Nyquist caps the band at coarse rates
    assert (share > 0.9) if inside else (share < 0.1)


def test_peak_to_peak_per_interval_and_violation_minutes():
    p = np.full(1800, 100.0)
    p[400:460] = 40.0  # a one-minute dip of 60 MW in the second 5-min interval
    ptp = interval_peak_to_peak_mw(p, 1.0, 300)
    assert list(ptp) == [0, 60, 0, 0, 0, 0]
    m = compliance(p, 1.0, Spec(ramp_up_mw_per_s=1.2, ramp_down_mw_per_s=1.2, ramp_window_s=60))
    assert m["max_ramp_down_window_mw_per_s"] == pytest.approx(1.0)  # 60 MW within 60 s
    assert m["max_ramp_up_window_mw_per_s"] == pytest.approx(1.0)
    assert m["minutes_ramp_violation"] == 0
    m = compliance(p, 1.0, Spec(ramp_up_mw_per_s=0.8, ramp_down_mw_per_s=0.8, ramp_window_s=60))
    assert 0 < m["minutes_ramp_violation"] <= 3


def test_band_rms_of_a_square_swing():
    from ballast.sim.compliance import band_energy

    t = np.arange(0, 7200, 1.0)
    x = 100 + 10 * np.sign(np.sin(2 * np.pi * 0.25 * t + 0.1))
    _share, _top, rms = band_energy(x, 1.0)
    assert rms == pytest.approx(10.0, rel=0.05)  # a +-10 MW square wave has 10 MW RMS
