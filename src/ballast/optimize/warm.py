"""The warm start of the perfect-foresight LP (``model.solve``) from windows cut out of the run's
own LP: the same three-week windows as ``rolling.warm_start_point``, without building a
problem or an LP per window.

A window's LP has the run's per-interval columns and rows for its intervals, in the layout of
``lp.build_lp``; only its battery differs (it starts at the state of charge the kept part of
the last window left and ends at least at the run's floor). So its costs, bounds and right-hand
sides are slices of the run's LP (``window_map``), and its matrix is the same for every window:
HiGHS holds one window model, is handed only what changed, and starts each window from the last
one's basis. The last window is moved back to end with the run, so it keeps that shape too.
Columns fixed in every window (curtailment at night, imports moved into their rows by
``presolve.substitute_imports``) leave the window model; their activity moves into the row
bounds. Used when every window's matrix is the same: no reserve deployments (their rows depend
on the kept dispatch; ``rolling.warm_start_point`` handles them).

Measured on the hourly 2024 West Texas year with its 50 MW / 200 MWh battery (process CPU s,
best of several calls, 2-core machine shared with three other jobs, load average 3-4): the warm
start 0.09-0.11 against 0.11-0.19 with a problem and an LP built per window
(``rolling.solve_rolling``; window iterations 5,198 against 5,439); the whole ``model.solve``
0.16-0.18 against 0.26-0.27 on ``main`` in the same runs. Where that goes: the windows' HiGHS
runs about 0.08 (first window cold, 1,199 iterations; then about 230 each), the final solve
about 0.05 (492 dual simplex iterations; a fresh HiGHS instance costs about 0.03 before its
first iteration even from the optimal basis: allocation, factorisation, KKT check), the rest
(merit bounds, LP build, basis hand-over, reading solutions as Python lists) about 0.04.
Not kept: windows of 2-6 weeks or without overlap (within the noise); the run cut into blocks
whose state of charge is joined afterwards by bound changes in one HiGHS model (the final step
only 300 iterations, but the blocks together need 19,900 cold, or 4,620 from the first
window's basis tiled over them at twice the cost per iteration of the small window model);
Dantzig, steepest edge or no scaling in the final solve (within the noise).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import highspy
import numpy as np

from ballast.optimize.lp import Layout, LpData, build_lp, layout, pass_lp
from ballast.optimize.model import DispatchProblem, _highs
from ballast.optimize.rolling import WARM_COMMIT_H, WARM_WINDOW_H, interval_index, peak_demand_mw, window


@dataclass(frozen=True)
class WindowMap:
    """Where a window's columns and rows sit in the run's LP: a window starting at interval
    ``s`` has column ``j`` at run column ``col0[j] + s * col_step[j]`` and row ``i`` at run row
    ``row0[i] + s``; ``col_t``/``row_t`` are each one's interval within the window."""

    col0: np.ndarray
    col_step: np.ndarray
    col_t: np.ndarray
    row0: np.ndarray
    row_t: np.ndarray


def window_map(win: Layout, run: Layout) -> WindowMap:
    """The ``WindowMap`` of a window laid out as ``win`` in a run laid out as ``run`` (per-interval
    blocks only: no 4CP peaks, no commitment; the run longer than the window)."""
    wc, fc0, wr, fr0 = interval_index(win, run, 0, win.n)
    fc1 = interval_index(win, run, 1, win.n)[1]
    col0, col_step, col_t = (np.empty(win.num_col, dtype=np.int64) for _ in range(3))
    col0[wc], col_step[wc] = fc0, fc1 - fc0
    rows = len(wr)
    row0 = np.empty(rows, dtype=np.int64)
    row0[wr] = fr0
    # the blocks of interval_index list intervals 0..n-1 in turn, each block ``width`` wide
    t = np.arange(win.n)
    widths = [win.groups, 1, 1, 1] + [1, 1, 1] * win.battery + [win.reserves] * bool(win.reserves)
    col_t[wc] = np.concatenate([np.repeat(t, w) for w in widths])
    return WindowMap(col0, col_step, col_t, row0, np.tile(t, rows // win.n))


def sliced_warm_start(
    p: DispatchProblem, full: LpData, time_limit_s: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Primal values, column duals and row duals for ``full`` (``lp.build_lp(p)``, battery
    required, no reserve deployments) from three-week windows keeping 20 days each, each
    window's values for the intervals it keeps; each 4CP peak's demand the largest mean import
    of its buckets (the windows leave the charge out). None where a window has no optimum of
    its own (its end condition can be stricter than the run's) or hits ``time_limit_s``."""
    lay, b = layout(p), p.battery
    n = lay.n
    w = max(1, round(WARM_WINDOW_H / p.step_h))
    c = max(1, round(WARM_COMMIT_H / p.step_h))
    if n <= w:
        raise ValueError(f"sliced_warm_start: the run ({n} intervals) must be longer than a window ({w})")
    first = window(replace(p, peak_charge=None), 0, w, b.initial_soc_mwh)
    wlay = layout(first)
    m = window_map(wlay, lay)
    starts = [min(t, n - w) for t in range(0, n, c)]  # the last window ends with the run
    starts = starts[: starts.index(n - w) + 1]
    # the columns fixed in every window (curtailment at night, the imports moved into their
    # rows, ...) leave the window model: their activity moves into the row bounds
    soc_col = wlay.ch + 2 * w  # the window's first state-of-charge column (its row: w)
    gone = np.ones(wlay.num_col, dtype=bool)
    for s in starts:
        col = m.col0 + s * m.col_step
        gone &= full.lower[col] == full.upper[col]
    gone[soc_col : soc_col + w] = False
    matrix, g_row, g_val, g_col = without(build_lp(first, fix_out_of_reach=False), gone)
    keep = ~gone
    last_soc = int(keep[: soc_col + w].sum()) - 1  # the window's last state of charge, kept
    col_t = m.col_t[keep]
    final_mwh = min(b.initial_soc_mwh if b.final_soc_min_mwh is None else b.final_soc_min_mwh, b.energy_mwh)
    run_soc = lay.ch + 2 * n  # the run's first state-of-charge column
    x, col_dual, row_dual = np.zeros(full.num_col), np.zeros(full.num_col), np.zeros(full.num_row)
    h = _highs()
    h.setOptionValue("simplex_dual_edge_weight_strategy", 0)  # Dantzig (rolling.solve_rolling)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    held: LpData | None = None
    start = 0
    for s in starts:
        every, row = m.col0 + s * m.col_step, m.row0 + s
        x[every[gone]] = full.lower[every[gone]]
        col = every[keep]
        lo, hi = full.lower[col], full.upper[col]
        lo[last_soc] = final_mwh
        fixed = np.bincount(g_row, weights=g_val * full.lower[every[g_col]], minlength=len(row))
        row_lo, row_hi = full.row_lower[row] - fixed, full.row_upper[row] - fixed
        row_lo[w] = row_hi[w] = b.initial_soc_mwh if s == 0 else x[run_soc + s - 1]
        lp = replace(matrix, cost=full.cost[col], lower=lo, upper=hi, row_lower=row_lo, row_upper=row_hi)
        if held is None:
            pass_lp(h, lp)
        else:  # only what changed (rolling.solve_window)
            i = np.flatnonzero(lp.cost != held.cost).astype(np.int32)
            h.changeColsCost(len(i), i, lp.cost[i])
            i = np.flatnonzero((lo != held.lower) | (hi != held.upper)).astype(np.int32)
            h.changeColsBounds(len(i), i, lo[i], hi[i])
            i = np.flatnonzero((row_lo != held.row_lower) | (row_hi != held.row_upper)).astype(np.int32)
            h.changeRowsBounds(len(i), i, row_lo[i], row_hi[i])
        held = lp
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = h.getSolution()
        stop = n if s == starts[-1] else start + c  # the intervals kept: [start, stop)
        kc = (col_t >= start - s) & (col_t < stop - s)
        kr = (m.row_t >= start - s) & (m.row_t < stop - s)
        x[col[kc]] = np.array(sol.col_value)[kc]
        col_dual[col[kc]] = np.array(sol.col_dual)[kc]
        row_dual[row[kr]] = np.array(sol.row_dual)[kr]
        start = stop
    pc = p.peak_charge
    if pc is not None and len(pc.usd_per_mw):
        x[lay.peak : lay.on] = peak_demand_mw(pc, x[lay.imp : lay.imp + n] - x[lay.imp + n : lay.imp + 2 * n])
    return x, col_dual, row_dual


def without(lp: LpData, gone: np.ndarray) -> tuple[LpData, np.ndarray, np.ndarray, np.ndarray]:
    """``lp``'s matrix without the columns ``gone``, and those columns' entries: (row, value,
    column) each, for the row activity of their values."""
    counts = np.diff(lp.start)
    nz_col = np.repeat(np.arange(lp.num_col), counts)
    out = gone[nz_col]
    start = np.zeros(int((~gone).sum()) + 1, dtype=np.int32)
    np.cumsum(counts[~gone], out=start[1:])
    kept = replace(lp, start=start, index=lp.index[~out], value=lp.value[~out], cost=lp.cost[~gone])
    return kept, lp.index[out], lp.value[out], nz_col[out]
