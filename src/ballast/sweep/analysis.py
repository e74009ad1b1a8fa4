"""Reading a sweep's table: Pareto fronts and one-at-a-time sensitivities (pure functions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ("param", "low", "high", "kpi_low", "kpi_high", "kpi_base")


def pareto_mask(gain: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """True where no other point has at least the gain at no more cost, better in one.
    Hand-written: a sort and one pass (O(n log n)) for two objectives."""
    gain = np.asarray(gain, dtype="float64")
    cost = np.asarray(cost, dtype="float64")
    ok = np.isfinite(gain) & np.isfinite(cost)
    mask = np.zeros(len(gain), dtype=bool)
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((-gain[idx], cost[idx]))]  # cost ascending, then gain descending
    best = -np.inf
    for i in order:
        if gain[i] > best:
            mask[i] = True
            best = gain[i]
    return mask


def numeric_params(runs: pd.DataFrame, params: list[str]) -> list[str]:
    """Varied parameters with numbers and more than one value (bools count as numbers)."""
    out = []
    for p in params:
        if p not in runs or p == "run.seed":
            continue
        col = runs[p].dropna()
        if (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)) \
                and len(col) and (col != col.iloc[0]).any():
            out.append(p)
    return out


def tornado(runs: pd.DataFrame, params: list[str], kpi: str,
            base: dict[str, object] | None = None) -> tuple[pd.DataFrame, str]:
    """KPI at the low and high value of each numeric parameter, the others held.

    A grid gives it exactly (one at a time, others at the base scenario's value when it is a
    level of the grid, else their middle level); sampled sweeps get a linear least-squares
    estimate of the same swing. Returns (rows param, low, high, kpi_low, kpi_high, kpi_base;
    method), kpi_base being the KPI with every parameter at its centre (the fit's mean)."""
    cols = numeric_params(runs, params)
    if not cols or kpi not in runs:
        return pd.DataFrame(columns=[*COLUMNS]), "none"
    data = runs[[*cols, kpi]].astype("float64").dropna()
    levels = {p: np.sort(data[p].unique()) for p in cols}
    centre = {}
    for p in cols:
        b = (base or {}).get(p)
        lv = levels[p]
        centre[p] = float(b) if b is not None and np.isclose(lv, float(b)).any() \
            else float(lv[(len(lv) - 1) // 2])
    rows = []
    for p in cols:
        others = np.ones(len(data), dtype=bool)
        for q in cols:
            if q != p:
                others &= np.isclose(data[q].to_numpy(), centre[q])
        line = data[others]
        lo, hi = levels[p][0], levels[p][-1]
        at_lo, at_hi, at_c = (line.loc[np.isclose(line[p], v), kpi] for v in (lo, hi, centre[p]))
        if at_lo.empty or at_hi.empty or at_c.empty:
            break
        rows.append((p, lo, hi, float(at_lo.mean()), float(at_hi.mean()), float(at_c.mean())))
    else:
        return pd.DataFrame(rows, columns=[*COLUMNS]), "one at a time"
    x = data[cols].to_numpy()
    design = np.column_stack([np.ones(len(x)), x])
    coef, *_ = np.linalg.lstsq(design, data[kpi].to_numpy(), rcond=None)
    mid = float(data[kpi].mean())
    rows = []
    for j, p in enumerate(cols):
        lo, hi = float(x[:, j].min()), float(x[:, j].max())
        half = coef[j + 1] * (hi - lo) / 2.0
        rows.append((p, lo, hi, mid - half, mid + half, mid))
    return pd.DataFrame(rows, columns=[*COLUMNS]), "linear fit"
