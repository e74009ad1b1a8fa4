"""Screening of hourly BA demand before a headroom study: missing, absurd, spikes, drops and
false (erroneous) peaks, then gap filling.

The headroom method of Norris et al. (2025, "Rethinking Load Growth", Duke Nicholas Institute,
hdl.handle.net/10161/32077) depends on each season's peak hour, so one bad hour moves the answer.
The paper cleans EIA-930 demand for spikes, drops and erroneous peaks before the analysis; the
screening rules here follow the same idea as the anomaly screening of Ruggles et al. (2020,
"Developing reliable hourly electricity demand data through screening and imputation", Sci. Data
7:155): a value is judged against its own hours (a few hours either side) and against the same
hour on neighbouring days, so a real heat-wave or cold-snap peak (which rises and falls over
hours and days) is kept, while a one- to three-hour excursion is not. Thresholds are ours and
are parameters (:class:`Screening`). Hand-written: no library screens BA demand this way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FLAG_OK, FLAG_MISSING, FLAG_ABSURD, FLAG_SPIKE, FLAG_DROP = 0, 1, 2, 3, 4
FLAG_NAMES = {FLAG_MISSING: "missing", FLAG_ABSURD: "absurd", FLAG_SPIKE: "spike",
              FLAG_DROP: "drop"}


@dataclass(frozen=True)
class Screening:
    """Screening thresholds [-] and the longest gap [h] filled by interpolation."""

    absurd_ratio: float = 4.0  # value > 4x or < 1/4 of the series median: not a demand
    edge_hours: int = 3  # a spike is judged against the hours this far before and after it
    spike_tolerance: float = 0.25  # > 25 % above both edges and above the same-hour reference
    drop_tolerance: float = 0.25  # > 25 % below both edges and below the same-hour reference
    reference_days: int = 3  # same-hour reference: median of this many days either side
    max_interpolated_h: int = 6  # longer gaps are left out of the study (and counted)


DEFAULT = Screening()


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """x shifted by k samples (x[t-k] at t), NaN where outside."""
    out = np.full_like(x, np.nan)
    if k > 0:
        out[k:] = x[:-k]
    elif k < 0:
        out[:k] = x[-k:]
    else:
        out[:] = x
    return out


def same_hour_reference_mw(power_mw: np.ndarray, days: int) -> np.ndarray:
    """Median of the same hour on the ``days`` days before and after (itself excluded) [MW]."""
    stack = np.vstack([_shift(power_mw, 24 * d) for d in range(-days, days + 1) if d != 0])
    ordered = np.sort(stack, axis=0)  # NaN sort last; median of the finite ones per column
    count = np.isfinite(stack).sum(axis=0)
    lo = np.take_along_axis(ordered, np.maximum(count - 1, 0)[None, :] // 2, axis=0)[0]
    hi = np.take_along_axis(ordered, (count // 2)[None, :], axis=0)[0]
    return np.where(count > 0, 0.5 * (lo + hi), np.nan)


def screen_demand(power_mw: np.ndarray, screening: Screening = DEFAULT) -> np.ndarray:
    """Flag per hour (``FLAG_*``) for an hourly demand array [MW] on a gap-free hourly grid."""
    x = np.asarray(power_mw, dtype="float64").copy()
    flags = np.zeros(len(x), dtype=np.int8)
    bad = ~np.isfinite(x) | (x <= 0)
    flags[bad] = FLAG_MISSING
    x[bad] = np.nan
    median = float(np.nanmedian(x)) if np.isfinite(x).any() else np.nan
    absurd = np.isfinite(x) & ((x > screening.absurd_ratio * median)
                               | (x < median / screening.absurd_ratio))
    flags[absurd] = FLAG_ABSURD
    x[absurd] = np.nan
    k = screening.edge_hours
    before, after = _shift(x, k), _shift(x, -k)
    ref = same_hour_reference_mw(x, screening.reference_days)
    with np.errstate(invalid="ignore"):
        hi_edge = np.fmax(before, after)
        lo_edge = np.fmin(before, after)
        up = 1.0 + screening.spike_tolerance
        down = 1.0 - screening.drop_tolerance
        spike = (x > up * hi_edge) & (x > up * ref)
        drop = (x < down * lo_edge) & (x < down * ref)
    flags[spike & (flags == FLAG_OK)] = FLAG_SPIKE
    flags[drop & (flags == FLAG_OK)] = FLAG_DROP
    return flags


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Length of the True run each element belongs to (0 where False)."""
    out = np.zeros(len(mask), dtype=np.int64)
    if not mask.any():
        return out
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    for s, e in zip(edges[::2], edges[1::2], strict=True):
        out[s:e] = e - s
    return out


@dataclass
class CleanDemand:
    """Screened demand: the series used by the study and the accounting of what changed."""

    demand_mw: pd.Series  # NaN = hour left out of the study
    flags: pd.Series  # FLAG_* per hour of the raw series
    imputed_hours: int  # filled from the bundled imputation (Ruggles et al. MICE)
    interpolated_hours: int  # filled linearly (gaps <= max_interpolated_h)
    excluded_hours: int  # left out (longer gaps)

    def counts(self) -> dict[str, int]:
        values, n = np.unique(self.flags.to_numpy(), return_counts=True)
        found = {FLAG_NAMES[int(v)]: int(c) for v, c in zip(values, n, strict=True) if v}
        return {name: found.get(name, 0) for name in FLAG_NAMES.values()}


def clean_demand(raw_mw: pd.Series, imputed_mw: pd.Series | None = None,
                 screening: Screening = DEFAULT) -> CleanDemand:
    """Screen ``raw_mw`` [MW, hourly UTC index], replace flagged hours by the bundled imputation
    where one exists, interpolate short gaps and leave longer ones out (NaN)."""
    flags = screen_demand(raw_mw.to_numpy(), screening)
    x = raw_mw.to_numpy(dtype="float64").copy()
    bad = flags != FLAG_OK
    x[bad] = np.nan
    n_imputed = 0
    if imputed_mw is not None:
        fill = imputed_mw.to_numpy(dtype="float64")
        use = bad & np.isfinite(fill) & (flags == FLAG_MISSING)
        x[use] = fill[use]
        n_imputed = int(use.sum())
    gap = ~np.isfinite(x)
    short = gap & (_run_lengths(gap) <= screening.max_interpolated_h)
    if short.any():
        filled = pd.Series(x).interpolate(limit_area="inside").to_numpy()
        x[short] = filled[short]
    n_interp = int((short & np.isfinite(x)).sum())
    return CleanDemand(pd.Series(x, index=raw_mw.index, name="demand_mw"),
                       pd.Series(flags, index=raw_mw.index, name="flag"),
                       n_imputed, n_interp, int((~np.isfinite(x)).sum()))
