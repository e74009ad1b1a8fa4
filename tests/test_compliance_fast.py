"""The fast compliance passes (numba ramps and range check, blocked Welch) against slow,
obviously-correct references written from the definitions, and hand-checked cases."""

import numpy as np
import pytest
from scipy import signal

from ballast.sim.compliance import RAMP_BINS_MW_PER_S, Spec, compliance


def slow_ramps(p, dt_s, window_s):
    """{end tick: ramp [MW/s]}: (mean of the last k samples - mean of the k before) / (k dt)."""
    k = max(1, round(window_s / dt_s))
    return {
        e: (sum(p[e - k + 1 : e + 1]) / k - sum(p[e - 2 * k + 1 : e - k + 1]) / k) / (k * dt_s)
        for e in range(2 * k - 1, len(p))
    }


def slow_minutes(ticks, dt_s, n):
    flags = [False] * int(np.ceil(n * dt_s / 60.0))
    for e in ticks:
        flags[int(e * dt_s // 60)] = True
    return flags


def slow_range_minutes(p, dt_s, tau_s, range_mw):
    a, y, bad = min(1.0, dt_s / tau_s), p[0], []
    for i, x in enumerate(p):
        y = y + a * (x - y)
        if abs(x - y) > range_mw:
            bad.append(i)
    return slow_minutes(bad, dt_s, len(p))


def slow_histogram(values):
    counts = [0] * (len(RAMP_BINS_MW_PER_S) - 1)
    for v in values:
        for j in range(len(counts)):
            lo, hi = RAMP_BINS_MW_PER_S[j], RAMP_BINS_MW_PER_S[j + 1]
            if lo <= v < hi or (j == len(counts) - 1 and v == hi):
                counts[j] += 1
                break
    return counts


def slow_band(p, dt_s):
    """scipy.signal.welch on 2**22-sample chunks, chunks weighted by length."""
    fs = 1.0 / dt_s
    nper = int(min(len(p), max(16, round(1024.0 * fs))))
    acc, weight = 0.0, 0
    for s in range(0, len(p), 1 << 22):
        seg = np.asarray(p[s : s + (1 << 22)], dtype="float64")
        f, pxx = signal.welch(seg, fs=fs, nperseg=nper, detrend="linear")
        acc, weight = acc + pxx * len(seg), weight + len(seg)
    pxx = acc / weight
    top = min(20.0, fs / 2)
    inband = pxx[(f >= 0.1) & (f <= top)].sum()
    return inband / pxx[f > 0].sum(), np.sqrt(inband * (f[1] - f[0]))


def slow_compliance(p, dt_s, spec):
    p = [float(x) for x in p]
    one = slow_ramps(p, dt_s, max(dt_s, 1.0))
    win = slow_ramps(p, dt_s, spec.ramp_window_s)
    over = [e for e, r in win.items() if r > spec.ramp_up_mw_per_s or -r > spec.ramp_down_mw_per_s]
    ramp_min = slow_minutes(over, dt_s, len(p))
    range_min = slow_range_minutes(p, dt_s, spec.target_tau_s, spec.dynamic_range_mw)
    share, rms = slow_band(p, dt_s)
    out = {
        "max_ramp_up_1s_mw_per_s": max([0.0, *one.values()]),
        "max_ramp_down_1s_mw_per_s": max([0.0, *(-r for r in one.values())]),
        "max_ramp_up_window_mw_per_s": max([0.0, *win.values()]),
        "max_ramp_down_window_mw_per_s": max([0.0, *(-r for r in win.values())]),
        "band_energy_share": share,
        "band_rms_mw": rms,
        "minutes_ramp_violation": sum(ramp_min),
        "minutes_range_violation": sum(range_min),
        "minutes_in_violation": sum(a or b for a, b in zip(ramp_min, range_min, strict=True)),
    }
    for minutes in (5, 15):
        k = round(minutes * 60 / dt_s)
        out[f"max_peak_to_peak_{minutes}min_mw"] = max(
            [0.0, *(max(p[i : i + k]) - min(p[i : i + k]) for i in range(0, len(p) - k + 1, k))]
        )
    return out, slow_histogram([abs(r) for r in one.values()])


@pytest.mark.parametrize(
    ("n", "dt_s", "dtype", "window_s", "limit", "seed"),
    [
        (4000, 1.0, np.float32, 60.0, 0.08, 0),
        (4000, 1.0, np.float64, 1.0, 1.0, 1),
        (3000, 0.1, np.float64, 30.0, 0.08, 2),
        (2500, 1.0, np.float32, 300.0, 0.01, 3),
    ],
)
def test_fast_metrics_equal_the_slow_reference_on_a_random_series(n, dt_s, dtype, window_s, limit, seed):
    rng = np.random.default_rng(seed)
    p = (
        100
        + np.cumsum(rng.normal(0, 0.5, n))
        + 3 * np.sin(np.arange(n) * 0.9 * dt_s)
        + 25 * (rng.random(n) < 0.002)
    ).astype(dtype)
    spec = Spec(
        ramp_up_mw_per_s=limit,
        ramp_down_mw_per_s=0.75 * limit,
        ramp_window_s=window_s,
        dynamic_range_mw=4.0,
        target_tau_s=120.0,
    )
    fast = compliance(p, dt_s, spec)
    slow, hist = slow_compliance(p, dt_s, spec)
    assert fast["minutes_ramp_violation"] > 0 and fast["minutes_range_violation"] > 0  # exercised
    for key, want in slow.items():
        assert fast[key] == pytest.approx(want, rel=1e-9, abs=1e-12), key
    assert list(fast["_ramp_hist_1s"]) == hist


def test_hand_checked_step():
    # a 4 MW step at tick 4: 1-s ramps 0,0,0,4,0,0,0; 2-s window ramps end at ticks 3..7 and are
    # (mean of the last 2 - mean of the 2 before) / 2 s = 0, 1, 2, 1, 0 MW/s
    p = np.array([0, 0, 0, 0, 4, 4, 4, 4], dtype=np.float32)
    m = compliance(p, 1.0, Spec(ramp_up_mw_per_s=1.5, ramp_window_s=2.0))
    assert m["max_ramp_up_1s_mw_per_s"] == 4.0 and m["max_ramp_down_1s_mw_per_s"] == 0.0
    assert m["max_ramp_up_window_mw_per_s"] == 2.0 and m["max_ramp_down_window_mw_per_s"] == 0.0
    assert m["minutes_ramp_violation"] == 1.0  # only the 2 MW/s ramp, in minute 0
    assert list(m["_ramp_hist_1s"]) == [6, 0, 0, 1, 0, 0, 0, 0, 0, 0]  # six 0s, one 4 in [2, 5)
    down = compliance(p[::-1].copy(), 1.0, Spec(ramp_window_s=2.0))
    assert down["max_ramp_down_window_mw_per_s"] == 2.0 and down["max_ramp_up_1s_mw_per_s"] == 0


def test_hand_checked_range_and_minutes():
    # 0 MW for 61 s, then 10 MW: with a = dt / tau = 0.5 the average is 5 MW at tick 61, 7.5 at
    # tick 62, 8.75 at 63: 5 and 2.5 MW away, then 1.25, all in minute 1
    p = np.r_[np.zeros(61), np.full(59, 10.0)]
    m = compliance(p, 1.0, Spec(dynamic_range_mw=2.0, target_tau_s=2.0))
    assert m["minutes_range_violation"] == 1.0 and m["minutes_in_violation"] == 1.0
    assert (
        compliance(p, 1.0, Spec(dynamic_range_mw=5.0, target_tau_s=2.0))["minutes_range_violation"] == 0.0
    )  # 5 MW away is not further than 5 MW
    assert m["max_peak_to_peak_5min_mw"] == 0.0  # no whole 5-min interval in 120 s


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_import_is_refused_naming_the_tick(bad):
    p = np.full(600, 50.0)
    p[123] = bad
    with pytest.raises(ValueError, match=r"sample 123 \(t = 123 s\)"):
        compliance(p, 1.0, Spec())


def test_any_numeric_series_gives_the_float64_figures():
    p = [100, 100, 104, 104, 101, 99, 99, 110, 100, 100] * 30  # whole MW, as a list
    spec = Spec(ramp_up_mw_per_s=3.0, ramp_window_s=2.0, dynamic_range_mw=5.0, target_tau_s=10.0)
    want = compliance(np.asarray(p, dtype=np.float64), 1.0, spec)
    for series in (p, np.asarray(p, dtype=np.int32), np.asarray(p, dtype=np.float16)):
        got = compliance(series, 1.0, spec)
        for key, value in want.items():
            assert np.array_equal(got[key], value, equal_nan=True), key
