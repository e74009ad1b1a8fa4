"""Compliance metrics of a campus import series against a smoothness spec.

Choukse et al. (arXiv 2508.14318; docs/sources.md#grid-smoothness-specs) cite
utility specs as ramp limits [MW/s], a
dynamic power range, a cap on oscillation energy in the 0.1-20 Hz band, and planned-vs-actual
checks over 5-15 min. All metrics run chunk by chunk on float32 series so a 1-s year fits in
memory. Definitions:

- ramp over a window W: the change of the W-long moving average across W, divided by W
  [MW/s] (W = one tick gives the plain tick-to-tick ramp);
- band energy share: Welch PSD (scipy) of the linearly detrended import; power in 0.1-20 Hz, or
  up to the Nyquist frequency when the sample rate cannot resolve 20 Hz (reported), over all
  power above 0 Hz; and the RMS of that in-band oscillation [MW] (the share can rise when
  smoothing removes slow steps but leaves the fast swing);
- peak-to-peak per scheduling interval: max - min of import within each 5- or 15-min interval,
  i.e. the deviation from a flat plan for that interval;
- minutes in violation: minutes with a window ramp above the limit, or import further than the
  dynamic range from its slow target (an exponential average with the spec's time constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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


def _ramp_stats(power_mw, dt_s, window_s, limit_up, limit_dn, chunk):
    """(max up, max down (positive), per-minute violation flags, histogram of |ramp|)."""
    n = len(power_mw)
    k = max(1, round(window_s / dt_s))
    over = 2 * k  # a chunk needs 2k ticks of history
    minutes = int(np.ceil(n * dt_s / 60.0))
    flags = np.zeros(minutes, dtype=bool)
    hist = np.zeros(len(RAMP_BINS_MW_PER_S) - 1, dtype=np.int64)
    up, dn = 0.0, 0.0
    for s in range(0, n, chunk):
        a = max(0, s - over + (1 if k == 1 else 0))
        seg = power_mw[a:min(n, s + chunk)]
        r = window_ramp_mw_per_s(seg, dt_s, window_s)
        if len(r) == 0:
            continue
        # ramp r[j] ends at tick a + j + (1 if k == 1 else 2k - 1)
        end = a + np.arange(len(r)) + (1 if k == 1 else 2 * k - 1)
        keep = end >= s
        r, end = r[keep], end[keep]
        if len(r) == 0:
            continue
        up = max(up, float(r.max()))
        dn = max(dn, float(-r.min()))
        hist += np.histogram(np.abs(r), RAMP_BINS_MW_PER_S)[0]
        bad = (r > limit_up) | (-r > limit_dn)
        if bad.any():
            flags[(end[bad] * dt_s // 60).astype(np.int64)] = True
    return up, dn, flags, hist


def band_energy_share(power_mw: np.ndarray, dt_s: float, band_hz=BAND_HZ,
                      segment_s: float = 1024.0, chunk: int = 1 << 22) -> tuple[float, float]:
    """Share of oscillation energy in ``band_hz`` and the upper band edge actually resolved [Hz]
    (Nyquist limits it at coarse sampling). Welch PSD, averaged chunk by chunk."""
    share, top, _rms = band_energy(power_mw, dt_s, band_hz, segment_s, chunk)
    return share, top


def band_energy(power_mw: np.ndarray, dt_s: float, band_hz=BAND_HZ, segment_s: float = 1024.0,
                chunk: int = 1 << 22) -> tuple[float, float, float]:
    """(share of oscillation energy in the band, upper band edge resolved [Hz], RMS of the
    in-band oscillation [MW])."""
    fs = 1.0 / dt_s
    n = len(power_mw)
    nper = int(min(n, max(16, round(segment_s * fs))))
    if n < 16:
        return float("nan"), min(band_hz[1], fs / 2), float("nan")
    acc = None
    weight = 0
    for s in range(0, n, chunk):
        seg = np.asarray(power_mw[s:s + chunk], dtype="float64")
        if len(seg) < nper:
            continue
        f, pxx = signal.welch(seg, fs=fs, nperseg=nper, detrend="linear")
        acc = pxx * len(seg) if acc is None else acc + pxx * len(seg)
        weight += len(seg)
    if acc is None:
        return float("nan"), min(band_hz[1], fs / 2), float("nan")
    pxx = acc / weight
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
    """Per-minute flags: import further than ``range_mw`` from its exponential average."""
    n = len(power_mw)
    minutes = int(np.ceil(n * dt_s / 60.0))
    flags = np.zeros(minutes, dtype=bool)
    if not np.isfinite(range_mw):
        return flags
    a = min(1.0, dt_s / tau_s)
    b, den = [a], [1.0, a - 1.0]
    zi = None
    for s in range(0, n, chunk):
        seg = np.asarray(power_mw[s:s + chunk], dtype="float64")
        if zi is None:
            zi = signal.lfiltic(b, den, [seg[0]], [seg[0]])
        ema, zi = signal.lfilter(b, den, seg, zi=zi)
        bad = np.abs(seg - ema) > range_mw
        if bad.any():
            flags[((s + np.flatnonzero(bad)) * dt_s // 60).astype(np.int64)] = True
    return flags


def compliance(power_mw: np.ndarray, dt_s: float, spec: Spec,
               chunk: int = 1 << 22) -> dict[str, float]:
    """All metrics of one import series [MW] sampled every ``dt_s`` [s]."""
    one_s = max(dt_s, 1.0)  # 1-s ramps (tick-to-tick when the tick is 1 s)
    up1, dn1, _f1, hist1 = _ramp_stats(power_mw, dt_s, one_s, np.inf, np.inf, chunk)
    upw, dnw, flags, _h = _ramp_stats(power_mw, dt_s, spec.ramp_window_s, spec.ramp_up_mw_per_s,
                                      spec.ramp_down_mw_per_s, chunk)
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
