"""Demand response: the one meaning every host uses (backtest, live runtime, API, OpenADR).

A DR request asks for a **reduction of campus import** (the grid meter, facility MW, import
positive) **below a baseline**, during a window:
- the reduction is given in MW (``reduction_mw``) or as a share of the baseline
  (``reduction_share``, 0-1);
- the baseline is stated (``baseline_mw``) or, when not stated, computed by a named method
  (``programs/baselines.py``): by default the campus import metered in the interval before the
  event starts (the last measured tick; never the future), or ERCOT's like-days "middle 8 of
  10", or a regression on recent like days, per interval;
- the target import is baseline minus reduction. The AI load is inflexible, so the target is
  reached with the miners: they are capped at the target minus the rest of the import (AI, other
  load, minus on-site generation) as metered with the baseline, and never below zero;
- settlement: achieved reduction = baseline - metered import, per interval; shortfall = asked
  reduction - achieved, never below zero.

Pure functions of floats or numpy arrays. No host imports another through this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DrRequest:
    """What a grid party asks for: exactly one of ``reduction_mw`` [MW] or ``reduction_share``
    [-] of the baseline, and optionally a stated ``baseline_mw`` [MW] of campus import."""

    reduction_mw: float | None = None
    reduction_share: float | None = None
    baseline_mw: float | None = None

    def __post_init__(self) -> None:
        if (self.reduction_mw is None) == (self.reduction_share is None):
            raise ValueError("give exactly one of reduction_mw or reduction_share")
        for name in ("reduction_mw", "reduction_share", "baseline_mw"):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
            ):
                raise ValueError(f"{name} is {v!r}, not a finite number")
        if self.reduction_mw is not None and self.reduction_mw <= 0:
            raise ValueError(f"reduction_mw must be > 0, got {self.reduction_mw}")
        if self.reduction_share is not None and not 0 < self.reduction_share <= 1:
            raise ValueError(f"reduction_share must be in (0, 1], got {self.reduction_share}")


@dataclass(frozen=True)
class DrCap:
    """A request turned into a command, from the import and miner power metered before it."""

    baseline_import_mw: float
    reduction_mw: float  # asked [MW]
    target_import_mw: float  # baseline - reduction [MW]
    cap_mw: float  # most the miners may draw [MW]
    expected_shortfall_mw: float  # what the miners cannot deliver even at zero [MW]


def dr_baseline_import_mw(request: DrRequest, import_before_mw: float) -> float:
    """The stated baseline, else the campus import metered before the event [MW]."""
    return float(import_before_mw if request.baseline_mw is None else request.baseline_mw)


def dr_reduction_mw(request: DrRequest, baseline_import_mw: float) -> float:
    """Reduction asked [MW]: the MW given, or the share of the (non-negative) baseline."""
    if request.reduction_mw is not None:
        return float(request.reduction_mw)
    return float(request.reduction_share * max(baseline_import_mw, 0.0))


def dr_miner_cap_mw(target_import_mw: float, import_mw: float, miner_mw: float) -> float:
    """Miner cap that brings the import to ``target_import_mw`` when the rest of the import
    (``import_mw - miner_mw``, metered together) stays as it is [MW]; never below zero."""
    return max(0.0, float(target_import_mw - (import_mw - miner_mw)))


def dr_cap(request: DrRequest, import_before_mw: float, miner_before_mw: float) -> DrCap:
    """The command for a request, from the import and miner power metered in the interval
    before the event (or the first fresh reading in it, live)."""
    base = dr_baseline_import_mw(request, import_before_mw)
    red = dr_reduction_mw(request, base)
    target = base - red
    cap = dr_miner_cap_mw(target, import_before_mw, miner_before_mw)
    short = max(0.0, (import_before_mw - miner_before_mw) - target)
    return DrCap(base, red, target, cap, short)


def dr_achieved_reduction_mw(baseline_import_mw: float | np.ndarray, metered_import_mw):
    """Achieved reduction per interval [MW]: baseline (one, or one per interval) minus metered
    import."""
    return baseline_import_mw - np.asarray(metered_import_mw, dtype=float)


def dr_shortfall_mw(reduction_mw: float | np.ndarray, achieved_reduction_mw):
    """Reduction asked (one, or one per interval) but not achieved per interval [MW], never
    below zero."""
    return np.clip(reduction_mw - np.asarray(achieved_reduction_mw, dtype=float), 0.0, None)
