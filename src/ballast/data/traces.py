"""A measured power trace (seconds from its start against MW): read, validate and sample it.

Used by the backtest's ``ai.profile: replay`` (``ballast.sim.fine_ai``) and by
``ballast emulate meter|dcgm --ai-trace`` (``ballast.live.emulators.cli``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ballast.data.errors import DataError
from ballast.data.loaders import read_table, resolve_source
from ballast.data.validate import check_values


def read_trace(
    source: str, time_column: str, power_column: str, base_dir: Path | None
) -> tuple[np.ndarray, np.ndarray]:
    """A measured trace: seconds from start [s] and facility power [MW], validated."""
    path = resolve_source(source, base_dir)
    frame = read_table(path)
    label = str(path)
    for col in (time_column, power_column):
        if col not in frame.columns:
            raise DataError(label, f"no column {col!r}; columns are {list(frame.columns)}", column=col)
    t = pd.to_numeric(frame[time_column], errors="coerce").to_numpy(dtype="float64")
    p = pd.to_numeric(frame[power_column], errors="coerce").to_numpy(dtype="float64")
    check_values(t, label, time_column, minimum=0.0)
    check_values(p, label, power_column, minimum=0.0, maximum=1e5)
    if len(t) < 2:
        raise DataError(label, "a trace needs at least two rows")
    bad = np.flatnonzero(np.diff(t) <= 0)
    if len(bad):
        raise DataError(
            label,
            f"time does not increase ({t[bad[0]]:g} then {t[bad[0] + 1]:g})",
            row=int(bad[0]) + 2,
            column=time_column,
        )
    return t - t[0], p


def replay_mw(elapsed_s: np.ndarray | float, trace_t_s: np.ndarray, trace_mw: np.ndarray) -> np.ndarray:
    """The trace at ``elapsed_s`` [s] from its start, linearly interpolated and repeated when
    ``elapsed_s`` runs past its last row [MW]."""
    return np.interp(np.asarray(elapsed_s, dtype="float64") % trace_t_s[-1], trace_t_s, trace_mw)
