"""Synthetic grid-frequency events and the under-frequency relay.

SYNTHETIC: no measured ERCOT frequency series is available (docs/sources.md#frequency-data). The shapes are
documented textbook forms, not recordings: a step loss of generation (fast fall at a constant
rate of change of frequency to a nadir, partial recovery by primary response to a settling
value, then slow return to 60 Hz) and a slow decline (frequency sags for minutes as supply
falls behind load; the Uri narrative of ~59.3 Hz on 2021-02-15 is not reproduced as data).
``scripts/bundle_frequency_events.py`` writes them to ``bundled:frequency_events_synthetic``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NOMINAL_HZ = 60.0
SHAPES = ("step_loss_of_generation", "slow_decline", "shallow_dip")
SAMPLE_S = 0.1
DURATION_S = 900.0


def step_loss_of_generation_hz(t_s: np.ndarray, nadir_hz: float = 59.55,
                               time_to_nadir_s: float = 8.0, settle_hz: float = 59.82,
                               settle_s: float = 30.0, recovery_s: float = 600.0) -> np.ndarray:
    """Frequency [Hz] after a step loss of generation at t = 0 [s]."""
    t = np.asarray(t_s, dtype="float64")
    f = np.full(t.shape, NOMINAL_HZ)
    fall = (t >= 0) & (t < time_to_nadir_s)
    f[fall] = NOMINAL_HZ - (NOMINAL_HZ - nadir_hz) * t[fall] / time_to_nadir_s
    rise = (t >= time_to_nadir_s) & (t < time_to_nadir_s + settle_s)
    x = (t[rise] - time_to_nadir_s) / settle_s
    f[rise] = nadir_hz + (settle_hz - nadir_hz) * (1 - np.exp(-4 * x)) / (1 - np.exp(-4))
    back = t >= time_to_nadir_s + settle_s
    y = np.clip((t[back] - time_to_nadir_s - settle_s) / recovery_s, 0, 1)
    f[back] = settle_hz + (NOMINAL_HZ - settle_hz) * y
    return f


def slow_decline_hz(t_s: np.ndarray, low_hz: float = 59.62, decline_s: float = 420.0,
                    hold_s: float = 120.0, recovery_s: float = 300.0) -> np.ndarray:
    """Frequency [Hz] sagging linearly to ``low_hz`` over ``decline_s``, held, then recovering."""
    t = np.asarray(t_s, dtype="float64")
    f = np.full(t.shape, NOMINAL_HZ)
    down = (t >= 0) & (t < decline_s)
    f[down] = NOMINAL_HZ - (NOMINAL_HZ - low_hz) * t[down] / decline_s
    held = (t >= decline_s) & (t < decline_s + hold_s)
    f[held] = low_hz
    up = t >= decline_s + hold_s
    y = np.clip((t[up] - decline_s - hold_s) / recovery_s, 0, 1)
    f[up] = low_hz + (NOMINAL_HZ - low_hz) * y
    return f


def frequency_shape_hz(shape: str, t_s: np.ndarray) -> np.ndarray:
    """A named synthetic shape [Hz] on offsets ``t_s`` [s] from the event start."""
    if shape == "step_loss_of_generation":
        return step_loss_of_generation_hz(t_s)
    if shape == "slow_decline":
        return slow_decline_hz(t_s)
    if shape == "shallow_dip":  # a small unit trip: primary response holds it above 59.70
        return step_loss_of_generation_hz(t_s, nadir_hz=59.80, settle_hz=59.90)
    raise ValueError(f"unknown frequency shape {shape!r}; known: {SHAPES}")


def synthetic_events_frame() -> pd.DataFrame:
    """All shapes on a 0.1-s grid over 15 min (long format: shape, offset_s, frequency_hz)."""
    t = np.arange(0.0, DURATION_S, SAMPLE_S)
    return pd.concat([pd.DataFrame({"shape": s, "offset_s": t, "frequency_hz": frequency_shape_hz(s, t)})
                      for s in SHAPES], ignore_index=True)


def load_frequency_shape(shape: str) -> tuple[np.ndarray, np.ndarray]:
    """The bundled synthetic shape: (offset [s], frequency [Hz])."""
    from ballast.data.loaders import bundled_path, read_table

    frame = read_table(bundled_path("frequency_events_synthetic"))
    rows = frame[frame["shape"] == shape]
    if rows.empty:
        raise ValueError(f"unknown frequency shape {shape!r}; known: {sorted(frame['shape'].unique())}")
    return rows["offset_s"].to_numpy(), rows["frequency_hz"].to_numpy()


def ufr_trip_time_s(t_s: np.ndarray, frequency_hz: np.ndarray, pickup_hz: float = 59.70,
                    delay_s: float = 0.333) -> float:
    """Definite-time under-frequency relay: the first time [s] frequency has stayed below
    ``pickup_hz`` for ``delay_s``; NaN if it never trips. Hand-written (a relay is a few lines)."""
    t = np.asarray(t_s, dtype="float64")
    below = np.asarray(frequency_hz) < pickup_hz
    if not below.any():
        return float("nan")
    # start time of the current run of 'below' samples, at every sample
    starts = np.where(below & ~np.concatenate(([False], below[:-1])), t, np.nan)
    run_start = pd.Series(starts).ffill().to_numpy()
    ok = below & (t - run_start >= delay_s - 1e-9)
    hits = np.flatnonzero(ok)
    return float(t[hits[0]]) if hits.size else float("nan")


def read_frequency_event(source: str, base_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """A recorded frequency event: (offset [s], frequency [Hz]) from a CSV/Parquet file with
    columns ``offset_s`` and ``frequency_hz``; errors name the file, the column and the row."""
    from ballast.data.errors import DataError
    from ballast.data.loaders import read_table, resolve_source

    frame = read_table(resolve_source(source, base_dir))
    for col in ("offset_s", "frequency_hz"):
        if col not in frame.columns:
            raise DataError(source, f"missing column; columns are {list(frame.columns)}",
                            column=col)
    t = pd.to_numeric(frame["offset_s"], errors="coerce").to_numpy(dtype="float64")
    f = pd.to_numeric(frame["frequency_hz"], errors="coerce").to_numpy(dtype="float64")
    bad_f = ~((f > 45.0) & (f < 65.0))  # also catches NaN; a 60-Hz grid, not mHz or deviation
    if bad_f.any():
        row = int(np.argmax(bad_f))
        raise DataError(source, f"frequency {frame['frequency_hz'].iloc[row]} is not a grid "
                        "frequency in Hz (45-65)", row=row + 1, column="frequency_hz")
    bad_t = ~np.isfinite(t) | (np.diff(t, prepend=-np.inf) <= 0)
    if bad_t.any():
        row = int(np.argmax(bad_t))
        raise DataError(source, "offsets must be numbers, increasing", row=row + 1,
                        column="offset_s")
    return t, f
