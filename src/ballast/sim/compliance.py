"""Compliance metrics of a campus import series against a smoothness spec.

Choukse et al. (arXiv 2508.14318; docs/sources.md#grid-smoothness-specs) cite
utility specs as ramp limits [MW/s], a
dynamic power range, a cap on oscillation energy in the 0.1-20 Hz band, and planned-vs-actual
checks over 5-15 min. The metrics read a float32 (or float64) series in place, so a 1-s year
fits in memory; the spectrum is averaged chunk by chunk. Definitions:

- ramp over a window W: the change of the W-long moving average across W, divided by W
  [MW/s] (W = one tick gives the plain tick-to-tick ramp);
- band energy share: Welch PSD (as ``scipy.signal.welch``) of the linearly detrended import;
  power in 0.1-20 Hz, or up to the Nyquist frequency when the sample rate cannot resolve 20 Hz
  (reported), over all power above 0 Hz; and the RMS of that in-band oscillation [MW] (the share can rise when
  smoothing removes slow steps but leaves the fast swing);
- peak-to-peak per scheduling interval: max - min of import within each 5- or 15-min interval,
  i.e. the deviation from a flat plan for that interval;
- minutes in violation: minutes with a window ramp above the limit, or import further than the
  dynamic range from its slow target (an exponential average with the spec's time constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

BAND_HZ = (0.1, 20.0)
RAMP_BINS_MW_PER_S = np.array([0, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 1e9])


@dataclass(frozen=True)
class Spec:
    """Limits the metrics are checked against (from ``SmoothingSpec``)."""

    ramp_up_mw_per_s: float = np.inf
    ramp_down_mw_per_s: float = np.inf
    ramp_window_s: float = 60.0
    dynamic_range_mw: float = np.inf
    target_tau_s: float = 300.0
    band_energy_share_max: float = 1.0


def window_ramp_mw_per_s(power_mw: np.ndarray, dt_s: float, window_s: float) -> np.ndarray:
    """Ramp over ``window_s`` [MW/s] per tick (length n - 2k + 1 with k = window ticks; for a
    one-tick window, the plain difference)."""
    p = np.asarray(power_mw, dtype="float64")
    k = max(1, round(window_s / dt_s))
    if k == 1:
        return np.diff(p) / dt_s
    c = np.concatenate([[0.0], np.cumsum(p)])
    mean = (c[k:] - c[:-k]) / k
    return (mean[k:] - mean[:-k]) / (k * dt_s)


# Speed (issue 17): the metrics of a 1-s year (31.6 M float32 samples) took 25.6 s wall,
# 17.1 s CPU on this 2-core machine (lightly loaded): chunked numpy ramps (1.0 + 1.4 s),
# scipy.signal.lfilter (0.5 s) and scipy.signal.welch (17.7 s: scipy's Welch detrends and
# transforms one 1024-sample segment at a time in Python). Now the ramps and the range check
# are numba single passes that read the series in place (no 31 M-float temporaries; a running
# window sum instead of a cumsum), and Welch is done here in blocks of 64 segments (strided
# view, closed-form linear detrend, one numpy rfft per block): the same estimate as scipy's
# (tests/test_compliance_fast.py checks it against scipy.signal.welch), about 0.5 s for the
# year. All the year's metrics: 1.1-1.2 s CPU (best of three, benchmarks/bench_smoothing.py;
# 2.2 s wall at load average 5 on the 2 cores, 5 s at 8.7). numba rather than numpy for the
# ramps: a vectorised window ramp needs a cumsum and several temporaries of the series' length
# (1.4 s for the 60-s ramps alone); numba has no FFT, so Welch stays numpy.
_RESUM_TICKS = 1 << 16  # recompute the running window sums this often (bounds round-off drift)


@njit(cache=True)
def _window_sum(p, lo, hi):
    s = 0.0
    for i in range(lo, hi):
        s += p[i]
    return s


@njit(cache=True)
def _ramp_pass(p, k, dt_s, limit_up, limit_dn, edges, flags, hist):
    """Ramps over k ticks ending at every tick e >= 2k - 1: (mean of p[e-k+1..e] - mean of
    p[e-2k+1..e-k]) / (k dt) [MW/s] (k = 1: the tick-to-tick difference). Fills the per-minute
    violation ``flags`` and the |ramp| histogram over ``edges`` (numpy's rule: the last bin is
    closed); returns (max up, max down as a positive number)."""
    n = len(p)
    up = 0.0
    dn = 0.0
    nb = len(edges) - 1
    late = 0.0
    early = 0.0
    resum = 2 * k - 1
    for e in range(2 * k - 1, n):
        if e == resum:  # exact sums again (a counter: no modulo per tick)
            late = _window_sum(p, e - k + 1, e + 1)
            early = _window_sum(p, e - 2 * k + 1, e - k + 1)
            resum += _RESUM_TICKS
        else:
            late += np.float64(p[e]) - np.float64(p[e - k])
            early += np.float64(p[e - k]) - np.float64(p[e - 2 * k])
        r = (late / k - early / k) / (k * dt_s)
        if r > up:
            up = r
        if -r > dn:
            dn = -r
        if r > limit_up or -r > limit_dn:
            flags[int(e * dt_s // 60.0)] = True
        a = abs(r)
        if a >= edges[0] and a <= edges[nb]:
            b = nb - 1
            for j in range(nb):
                if a < edges[j + 1]:
                    b = j
                    break
            hist[b] += 1
    return up, dn


@njit(cache=True)
def _range_pass(p, dt_s, a, range_mw, flags):
    """Exponential average y += a (x - y) from y = p[0] (the recursion scipy.signal.lfilter runs
    for b = [a], den = [1, a - 1]); flags the minutes where |p - y| > ``range_mw``."""
    c = -(a - 1.0)
    y = np.float64(p[0])
    for i in range(len(p)):
        x = np.float64(p[i])
        y = a * x + c * y
        if abs(x - y) > range_mw:
            flags[int(i * dt_s // 60.0)] = True


def _as_float_array(power_mw) -> np.ndarray:
    """float32 or float64 as given (read in place), anything else as float64."""
    p = np.asarray(power_mw)
    return p if p.dtype in (np.float32, np.float64) else p.astype(np.float64)


@njit(cache=True)
def _first_non_finite(p):
    """Index of the first NaN or infinite sample, or -1."""
    for i in range(len(p)):
        if not np.isfinite(p[i]):
            return i
    return -1


def _ramp_stats(power_mw, dt_s, window_s, limit_up, limit_dn):
    """(max up, max down (positive), per-minute violation flags, histogram of |ramp|)."""
    n = len(power_mw)
    k = max(1, round(window_s / dt_s))
    flags = np.zeros(int(np.ceil(n * dt_s / 60.0)), dtype=bool)
    hist = np.zeros(len(RAMP_BINS_MW_PER_S) - 1, dtype=np.int64)
    up, dn = _ramp_pass(power_mw, k, float(dt_s), float(limit_up), float(limit_dn),
                        RAMP_BINS_MW_PER_S, flags, hist)
    return up, dn, flags, hist


def band_energy_share(power_mw: np.ndarray, dt_s: float, band_hz=BAND_HZ,
                      segment_s: float = 1024.0, chunk: int = 1 << 22) -> tuple[float, float]:
    """Share of oscillation energy in ``band_hz`` and the upper band edge actually resolved [Hz]
    (Nyquist limits it at coarse sampling). Welch PSD, averaged chunk by chunk."""
    share, top, _rms = band_energy(power_mw, dt_s, band_hz, segment_s, chunk)
    return share, top


def _welch_sum(seg: np.ndarray, win: np.ndarray, block: int = 64) -> np.ndarray:
    """Sum over Welch segments (half overlap, linear detrend, window ``win``) of |rfft|^2.
    Hand-written: scipy.signal.welch gives the same figures but loops over segments in Python."""
    nper = len(win)
    frames = sliding_window_view(seg, nper)[::nper - nper // 2]  # a view: no copy
    tc = np.arange(nper) - (nper - 1) / 2.0
    tc_unit = tc / (tc @ tc)
    acc = np.zeros(nper // 2 + 1)
    for b in range(0, len(frames), block):
        x = frames[b:b + block].astype(np.float64)
        x -= x.mean(axis=1, keepdims=True)
        x -= np.outer(x @ tc_unit, tc)  # least-squares line (what detrend="linear" removes)
        x *= win
        z = np.fft.rfft(x, axis=1)
        acc += (z.real**2 + z.imag**2).sum(axis=0)
    return acc


def band_energy(power_mw: np.ndarray, dt_s: float, band_hz=BAND_HZ, segment_s: float = 1024.0,
                chunk: int = 1 << 22) -> tuple[float, float, float]:
    """(share of oscillation energy in the band, upper band edge resolved [Hz], RMS of the
    in-band oscillation [MW]). Welch PSD (Hann, half overlap, linear detrend, density scaling
    as ``scipy.signal.welch``) per chunk of ``chunk`` samples, chunks weighted by length."""
    fs = 1.0 / dt_s
    n = len(power_mw)
    nper = int(min(n, max(16, round(segment_s * fs))))
    if n < 16:
        return float("nan"), min(band_hz[1], fs / 2), float("nan")
    win = signal.get_window("hann", nper)
    scale = np.full(nper // 2 + 1, 2.0 / (fs * (win * win).sum()))  # one-sided density
    scale[0] /= 2.0
    if nper % 2 == 0:
        scale[-1] /= 2.0  # the Nyquist bin has no mirror
    acc = None
    weight = 0
    for s in range(0, n, chunk):
        seg = _as_float_array(power_mw[s:s + chunk])
        if len(seg) < nper:
            continue
        nseg = (len(seg) - nper) // (nper - nper // 2) + 1
        pxx = _welch_sum(seg, win) * scale / nseg
        acc = pxx * len(seg) if acc is None else acc + pxx * len(seg)
        weight += len(seg)
    if acc is None:
        return float("nan"), min(band_hz[1], fs / 2), float("nan")
    pxx = acc / weight
    f = np.fft.rfftfreq(nper, dt_s)
    top = min(band_hz[1], fs / 2)
    pos = f > 0
    total = float(pxx[pos].sum())
    inband = float(pxx[(f >= band_hz[0]) & (f <= top)].sum())
    rms = float(np.sqrt(inband * (f[1] - f[0])))
    return (inband / total if total > 0 else 0.0), top, rms


def interval_peak_to_peak_mw(power_mw: np.ndarray, dt_s: float, interval_s: float) -> np.ndarray:
    """max - min of power within each whole interval [MW]."""
    k = max(1, round(interval_s / dt_s))
    m = len(power_mw) // k
    if m == 0:
        return np.zeros(0)
    out = np.empty(m)
    step = max(1, (1 << 22) // k)
    for s in range(0, m, step):
        block = np.asarray(power_mw[s * k:min(m, s + step) * k]).reshape(-1, k)
        out[s:s + len(block)] = block.max(axis=1) - block.min(axis=1)
    return out


def range_violation_minutes(power_mw: np.ndarray, dt_s: float, tau_s: float, range_mw: float,
                            chunk: int = 1 << 22) -> np.ndarray:
    """Per-minute flags: import further than ``range_mw`` from its exponential average
    (time constant ``tau_s``, started at the first sample). ``chunk`` is not used (one pass)."""
    n = len(power_mw)
    flags = np.zeros(int(np.ceil(n * dt_s / 60.0)), dtype=bool)
    if not np.isfinite(range_mw) or n == 0:
        return flags
    _range_pass(_as_float_array(power_mw), float(dt_s), min(1.0, dt_s / tau_s), float(range_mw), flags)
    return flags


def compliance(power_mw: np.ndarray, dt_s: float, spec: Spec,
               chunk: int = 1 << 22) -> dict[str, float]:
    """All metrics of one import series [MW] sampled every ``dt_s`` [s]. A NaN or infinite
    sample is refused (ValueError naming the tick). ``chunk`` has no effect any more (the ramps
    and the range check are single passes; the spectrum uses ``band_energy``'s default)."""
    power_mw = _as_float_array(power_mw)
    bad = _first_non_finite(power_mw)
    if bad >= 0:
        raise ValueError(f"compliance: import sample {bad} (t = {bad * dt_s:g} s) is "
                         f"{power_mw[bad]}; the metrics need a finite import at every tick")
    one_s = max(dt_s, 1.0)  # 1-s ramps (tick-to-tick when the tick is 1 s)
    up1, dn1, _f1, hist1 = _ramp_stats(power_mw, dt_s, one_s, np.inf, np.inf)
    upw, dnw, flags, _h = _ramp_stats(power_mw, dt_s, spec.ramp_window_s, spec.ramp_up_mw_per_s,
                                      spec.ramp_down_mw_per_s)
    rng_flags = range_violation_minutes(power_mw, dt_s, spec.target_tau_s, spec.dynamic_range_mw)
    share, top, rms = band_energy(power_mw, dt_s)
    out = {
        "max_ramp_up_1s_mw_per_s": up1,
        "max_ramp_down_1s_mw_per_s": dn1,
        "max_ramp_up_window_mw_per_s": upw,
        "max_ramp_down_window_mw_per_s": dnw,
        "band_energy_share": share,
        "band_rms_mw": rms,
        "band_hz_resolved_max": top,
    }
    for minutes in (5, 15):
        ptp = interval_peak_to_peak_mw(power_mw, dt_s, minutes * 60.0)
        out[f"max_peak_to_peak_{minutes}min_mw"] = float(ptp.max()) if len(ptp) else 0.0
    out["minutes_ramp_violation"] = float(flags.sum())
    out["minutes_range_violation"] = float(rng_flags.sum())
    out["minutes_in_violation"] = float((flags | rng_flags[:len(flags)]).sum())
    out["band_energy_violation"] = float(share > spec.band_energy_share_max)
    out["_ramp_hist_1s"] = hist1  # counts per RAMP_BINS_MW_PER_S bin (not a scalar KPI)
    return out
