"""AI/HPC IT load profiles [MW], as pure functions of a UTC index.

Simple shapes for backtests (hourly to minute resolution): flat, diurnal inference, and
maintenance windows. Sub-second training swings belong to the smoothing models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.physics import facility_mw


def flat_it_load_mw(index: pd.DatetimeIndex, it_load_mw: float) -> pd.Series:
    """Constant IT load [MW]."""
    return pd.Series(np.full(len(index), float(it_load_mw)), index=index, name="ai_it_load_mw")


def diurnal_inference_it_load_mw(index: pd.DatetimeIndex, it_load_mw: float,
                                 amplitude_share: float = 0.2, peak_hour_local: float = 15.0,
                                 timezone: str = "America/Chicago", noise_share: float = 0.0,
                                 seed: int = 0) -> pd.Series:
    """Inference load [MW]: peaks at ``peak_hour_local`` at ``it_load_mw``; trough is
    ``it_load_mw x (1 - amplitude_share)``; optional seeded Gaussian noise (share of IT load)."""
    local = index.tz_convert(timezone)
    hour = local.hour + local.minute / 60.0 + local.second / 3600.0
    shape = 0.5 * (1.0 + np.cos(2 * np.pi * (hour - peak_hour_local) / 24.0))
    load = it_load_mw * (1.0 - amplitude_share * (1.0 - shape))
    if noise_share > 0:
        rng = np.random.default_rng(seed)
        load = load + rng.normal(0.0, noise_share * it_load_mw, len(index))
    return pd.Series(np.clip(load, 0.0, it_load_mw), index=index, name="ai_it_load_mw")


def apply_maintenance_windows(load_mw: pd.Series,
                              windows: list[tuple[pd.Timestamp, pd.Timestamp, float]]) -> pd.Series:
    """Scale load to ``share`` of itself inside each [start, end) window (UTC)."""
    out = load_mw.copy()
    for start, end, share in windows:
        mask = (out.index >= start) & (out.index < end)
        out[mask] = out[mask] * share
    return out


def facility_load_mw(it_load_mw, pue):
    """Facility power [MW] = IT power x PUE."""
    return facility_mw(np.asarray(it_load_mw), np.asarray(pue))
