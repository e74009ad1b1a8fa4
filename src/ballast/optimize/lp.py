"""The dispatch LP as numpy arrays in HiGHS's column-wise (CSC) form, and its hand-over.

Columns, in order (``n`` intervals, ``g`` miner groups, ``k`` reserve products, ``m`` 4CP
peaks): miners' flexible power ``n*g`` (t-major), import ``n``, export ``n``, curtailment
``n``; with a battery charge ``n``, discharge ``n``, state of charge ``n``; with reserves the
MW sold ``n*k`` (t-major); with a 4CP charge each peak's demand ``m``. Rows: the power balance
per interval; with a battery its state of charge per interval; with reserves, per interval,
reserve sold <= flexible power of the running miners (only running miners can be curtailed
to deliver it); with a 4CP charge, per 15-minute bucket of a peak, the peak's demand >= the
bucket's mean import (``costs.fourcp_linear``); with reserve deployments, per interval of each,
the miners' cap (``optimize.deployments``).

The matrix is assembled from (row, column, value) triplets sorted with numpy: no scipy format
conversions (0.10 s -> 0.03 s on a 15-min year with a battery, shared 2-core machine).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import highspy
import numpy as np

from ballast.optimize import merit
from ballast.optimize.deployments import deployment_rows

if TYPE_CHECKING:
    from ballast.optimize.model import DispatchProblem

INF = highspy.kHighsInf


@dataclass(frozen=True)
class LpData:
    """A maximisation LP in column-wise (CSC) form, as numpy arrays."""

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray  # int32, num_col + 1
    index: np.ndarray  # int32
    value: np.ndarray
    integrality: np.ndarray | None = None  # per column: 0 continuous, 1 integer
    offset: float = 0.0  # objective constant (the fixed columns ``drop_fixed`` took out)

    @property
    def num_col(self) -> int:
        return len(self.cost)

    @property
    def num_row(self) -> int:
        return len(self.row_lower)


@dataclass(frozen=True)
class Layout:
    """Column offsets of ``build_lp``'s blocks."""

    n: int
    groups: int
    reserves: int
    peaks: int
    battery: bool
    commit: bool = False  # integer miners with minimum on/off times: on, start-up, shut-down

    @property
    def imp(self) -> int:
        return self.n * self.groups

    @property
    def ch(self) -> int:
        return self.imp + 3 * self.n

    @property
    def res(self) -> int:
        return self.ch + (3 * self.n if self.battery else 0)

    @property
    def peak(self) -> int:
        return self.res + self.n * self.reserves

    @property
    def on(self) -> int:
        return self.peak + self.peaks

    @property
    def num_col(self) -> int:
        return self.on + (3 * self.n * self.groups if self.commit else 0)


def layout(p: DispatchProblem) -> Layout:
    k = 0 if p.reserves is None else len(p.reserves.offer_mw)
    m = 0 if p.peak_charge is None else len(p.peak_charge.usd_per_mw)
    return Layout(len(p.ai_load_mw), len(p.count), k, m, p.battery is not None, p.min_times is not None)


def free_intervals(p: DispatchProblem) -> np.ndarray:
    """Intervals whose columns the merit order cannot fix: all with reserves (a running miner
    also earns availability there), else those a 4CP bucket averages."""
    n = len(p.ai_load_mw)
    free = np.full(n, p.reserves is not None or p.min_times is not None)
    if p.peak_charge is not None and p.peak_charge.members:
        free[np.concatenate(p.peak_charge.members)] = True
    return free


def build_lp(
    p: DispatchProblem,
    *,
    fix_out_of_reach: bool = True,
    reach: tuple[np.ndarray, np.ndarray] | None = None,
    matrix: bool = True,
) -> LpData:
    """The dispatch LP (maximise). The columns neither the battery nor a program can move are
    fixed at their merit-order values (``merit.reach_bounds``, or ``reach`` when the caller
    has them) unless ``fix_out_of_reach`` is False. ``matrix`` False: the costs, bounds and
    right-hand sides only (the matrix left empty), for a model HiGHS already holds."""
    lay = layout(p)
    n, ng = lay.n, lay.groups
    o_imp, o_ch, o_res, o_peak = lay.imp, lay.ch, lay.res, lay.peak
    o_exp, o_curt = o_imp + n, o_imp + 2 * n
    t = np.arange(n, dtype=np.int64)
    flex_mw = p.run_mw - p.sleep_mw
    lo, hi, cost = np.zeros(lay.num_col), np.empty(lay.num_col), np.zeros(lay.num_col)
    # miner columns in MW of flexible power (running miners x (run - sleep)): coefficients of 1
    # keep the matrix well scaled (per-miner columns would carry 0.003 MW entries)
    hi[:o_imp] = np.tile(p.count * flex_mw, n)
    cost[:o_imp] = (p.value_usd_per_miner / flex_mw).ravel()
    hi[o_imp:o_exp] = p.import_limit_mw
    cost[o_imp:o_exp] = -p.import_cost_usd_per_mw
    hi[o_exp:o_curt] = merit.export_open_mw(p)
    cost[o_exp:o_curt] = -p.export_cost_usd_per_mw
    hi[o_curt:o_ch] = p.renewable_mw
    if fix_out_of_reach:
        free = free_intervals(p)
        if not free.all():
            flo, fhi = merit.reach_bounds(p) if reach is None else reach
            keep = np.concatenate([np.repeat(free, ng), free, free, free])
            lo[:o_ch] = np.where(keep, lo[:o_ch], flo)
            hi[:o_ch] = np.where(keep, hi[:o_ch], fhi)
    rhs = p.renewable_mw - p.ai_load_mw - p.sleep_total_mw
    # balance rows 0..n-1: miners, export, curtailment, charge +1; import, discharge -1
    rows = [np.repeat(t, ng), t, t, t]
    cols = [np.arange(o_imp), o_imp + t, o_exp + t, o_curt + t]
    vals = [np.ones(n * ng), -np.ones(n), np.ones(n), np.ones(n)]
    row_lo, row_hi = [rhs], [rhs]
    nrow = n
    if p.battery is not None:
        b, dt = p.battery, p.step_h
        o_dis, o_soc = o_ch + n, o_ch + 2 * n
        soc_row = n + t
        # soc[t] - soc[t-1] - eta dt ch[t] + dt / eta dis[t] = 0 (soc[-1] the initial state)
        rows += [t, t, soc_row, soc_row, soc_row, soc_row[1:]]
        cols += [o_ch + t, o_dis + t, o_ch + t, o_dis + t, o_soc + t, o_soc + t[:-1]]
        vals += [np.ones(n), -np.ones(n), np.full(n, -b.efficiency * dt), np.full(n, dt / b.efficiency),
                 np.ones(n), -np.ones(n - 1)]  # fmt: skip
        hi[o_ch:o_soc] = b.power_mw
        hi[o_soc:o_res] = b.energy_mwh
        final = b.initial_soc_mwh if b.final_soc_min_mwh is None else b.final_soc_min_mwh
        lo[o_soc + n - 1] = min(final, b.energy_mwh)
        soc_rhs = np.zeros(n)
        soc_rhs[0] = b.initial_soc_mwh
        row_lo.append(soc_rhs)
        row_hi.append(soc_rhs)
        nrow += n
    if p.reserves is not None:
        k = lay.reserves
        r = p.reserves
        # sum_g miners[t, g] - sum_j reserve[t, j] >= 0
        rows += [nrow + np.repeat(t, ng), nrow + np.repeat(t, k)]
        cols += [np.arange(o_imp), o_res + np.arange(n * k)]
        vals += [np.ones(n * ng), -np.ones(n * k)]
        hi[o_res:o_peak] = np.tile(r.offer_mw, n)
        cost[o_res:o_peak] = r.value_usd_per_mw.ravel()
        row_lo.append(np.zeros(n))
        row_hi.append(np.full(n, INF))
        nrow += n
    if p.peak_charge is not None and lay.peaks:
        pc = p.peak_charge
        nb = len(pc.members)
        size = np.array([len(m) for m in pc.members])
        brow = nrow + np.repeat(np.arange(nb), size)
        members = np.concatenate(pc.members)
        share = np.repeat(1.0 / size, size)
        # demand[k] - mean over the bucket of (import - export) >= 0; demand >= 0 by its bound
        rows += [nrow + np.arange(nb), brow, brow]
        cols += [o_peak + pc.bucket_peak, o_imp + members, o_exp + members]
        vals += [np.ones(nb), -share, share]
        hi[o_peak : lay.on] = INF
        cost[o_peak : lay.on] = -pc.usd_per_mw
        row_lo.append(np.zeros(nb))
        row_hi.append(np.full(nb, INF))
        nrow += nb
    if p.reserves is not None and p.reserves.deployments:
        more = deployment_rows(p.reserves.deployments, ng, lay.reserves, o_res, nrow)
        rows, cols, vals = rows + more[0], cols + more[1], vals + more[2]
        row_lo.append(more[3])
        row_hi.append(more[4])
        nrow += len(more[3])
    integrality = None
    if p.min_times is not None:
        more = commitment_rows(p, lay, flex_mw, nrow)
        for a, b in zip((rows, cols, vals, row_lo, row_hi), more[:5], strict=True):
            a += b
        hi[lay.on :] = np.tile(p.count, 3 * n)  # on, start-ups, shut-downs: at most the group
        integrality = np.zeros(lay.num_col, dtype=np.int32)
        integrality[lay.on : lay.on + n * ng] = 1  # running miners per group: whole miners
    if matrix:
        start, index, value = csc(
            np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), lay.num_col
        )
    else:
        start, index, value = (
            np.zeros(lay.num_col + 1, dtype=np.int32),
            np.zeros(0, dtype=np.int32),
            np.zeros(0),
        )
    lp = LpData(cost, lo, hi, np.concatenate(row_lo), np.concatenate(row_hi), start, index, value)
    return lp if integrality is None else replace(lp, integrality=integrality)


def commitment_rows(p: DispatchProblem, lay: Layout, flex_mw: np.ndarray, row0: int):
    """Rows tying whole miners to minimum on/off times, per group ``g`` and interval ``t``
    (the clustered unit-commitment form; ``U``, ``D`` the minimum on and off intervals):
    miners column = flex_mw x on; on[t] - on[t-1] - su[t] + sd[t] = 0 with on[-1] = count (the
    run starts with all miners on, free to stop); on[t] - sum su[t-U+1..t] >= 0;
    count - on[t] - sum sd[t-D+1..t] >= 0. Start-ups and shut-downs may stay continuous: with
    ``on`` whole, they are whole at the optimum."""
    n, ng = lay.n, lay.groups
    on = lay.on + np.arange(n * ng).reshape(n, ng)
    su, sd = on + n * ng, on + 2 * n * ng
    mcol = np.arange(n * ng).reshape(n, ng)
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = row0

    def add(rr, cc, vv):
        rows.append(np.asarray(rr, dtype=np.int64).ravel())
        cols.append(np.asarray(cc, dtype=np.int64).ravel())
        vals.append(np.asarray(vv, dtype=np.float64).ravel())

    # link: miners[t, g] - flex_mw[g] on[t, g] = 0
    link = r + np.arange(n * ng).reshape(n, ng)
    add(link, mcol, np.ones((n, ng)))
    add(link, on, -np.broadcast_to(flex_mw, (n, ng)))
    lo.append(np.zeros(n * ng))
    hi.append(np.zeros(n * ng))
    r += n * ng
    # transitions: on[t] - on[t-1] - su[t] + sd[t] = 0 (row t = 0: on[0] - su + sd = count)
    tr = r + np.arange(n * ng).reshape(n, ng)
    add(tr, on, np.ones((n, ng)))
    add(tr[1:], on[:-1], -np.ones((n - 1, ng)))
    add(tr, su, -np.ones((n, ng)))
    add(tr, sd, np.ones((n, ng)))
    first = np.zeros((n, ng))
    first[0] = p.count
    lo.append(first.ravel())
    hi.append(first.ravel())
    r += n * ng
    up, down = p.min_times
    for kind, span, block in (("up", up, su), ("down", down, sd)):
        rr = r + np.arange(n * ng).reshape(n, ng)
        sign = 1.0 if kind == "up" else -1.0
        add(rr, on, np.full((n, ng), sign))
        for g in range(ng):
            for lag in range(int(span[g])):
                t = np.arange(lag, n)
                add(rr[t, g], block[t - lag, g], -np.ones(len(t)))
        lo.append(np.zeros(n * ng) if kind == "up" else -np.tile(p.count, n))
        hi.append(np.full(n * ng, INF))
        r += n * ng
    return rows, cols, vals, lo, hi, r


def csc(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, ncol: int):
    """Column starts, row indices and values of the triplets, sorted by column then row."""
    order = np.lexsort((rows, cols))
    start = np.zeros(ncol + 1, dtype=np.int32)
    np.cumsum(np.bincount(cols, minlength=ncol), out=start[1:])
    return start, rows[order].astype(np.int32), vals[order]


@dataclass(frozen=True)
class Reduced:
    """An LP without its fixed columns (``drop_fixed``) and the way back to the full one."""

    lp: LpData
    keep: np.ndarray  # per full column: still in ``lp``
    fixed_x: np.ndarray  # per full column: its fixed value (0 where kept)

    def full_x(self, x: np.ndarray) -> np.ndarray:
        """The full LP's column values from the reduced LP's ``x``."""
        out = self.fixed_x.copy()
        out[self.keep] = x
        return out


def drop_fixed(lp: LpData) -> Reduced:
    """``lp`` without the columns whose bounds are equal: their activity moves into the row
    bounds and their cost into the objective's constant, so the optimum is the same.

    Most of the dispatch LP's columns are fixed by the merit order (``merit.reach_bounds``):
    on the 15-min year with a battery 316,224 columns of which about 60 % fixed. HiGHS's
    presolve removes them too, but it does not run when HiGHS starts from a basis (a warm
    start), which then pivots on the whole LP."""
    fixed = lp.lower == lp.upper
    keep = ~fixed
    fixed_x = np.where(fixed, lp.lower, 0.0)
    counts = np.diff(lp.start)
    nz_col = np.repeat(np.arange(lp.num_col), counts)
    activity = np.bincount(lp.index, weights=lp.value * fixed_x[nz_col], minlength=lp.num_row)
    nz_keep = keep[nz_col]
    start = np.zeros(int(keep.sum()) + 1, dtype=np.int32)
    np.cumsum(counts[keep], out=start[1:])
    reduced = LpData(
        cost=lp.cost[keep],
        lower=lp.lower[keep],
        upper=lp.upper[keep],
        row_lower=lp.row_lower - activity,  # -inf and inf stay as they are
        row_upper=lp.row_upper - activity,
        start=start,
        index=lp.index[nz_keep],
        value=lp.value[nz_keep],
        integrality=None if lp.integrality is None else lp.integrality[keep],
        # a product summed, not ``@``: OpenBLAS's threads spin after a dot this long (5 ms CPU)
        offset=lp.offset + float((lp.cost * fixed_x).sum()),
    )
    return Reduced(reduced, keep, fixed_x)


def pass_lp(h: highspy.Highs, lp: LpData) -> None:
    """Hand ``lp`` to HiGHS as arrays (maximise). Filling a ``highspy.HighsLp`` copies each
    array element by element: 0.2 s on a 15-min year, against 0.01 s this way."""
    # all continuous: this overload reads an empty integrality array as garbage
    integrality = np.zeros(lp.num_col, dtype=np.int32) if lp.integrality is None else lp.integrality
    status = h.passModel(
        lp.num_col, lp.num_row, len(lp.value), int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMaximize), lp.offset, lp.cost, lp.lower, lp.upper, lp.row_lower,
        lp.row_upper, lp.start, lp.index, lp.value, integrality.astype(np.int32),
    )  # fmt: skip
    if status == highspy.HighsStatus.kError:
        from ballast.optimize.model import SolverError

        raise SolverError("HiGHS refused the dispatch model (passModel error)")


BASIS_TOL = 1e-7  # a value this close to its bound [MW, MWh] is at it


def at_bound(value: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Per value, the ``HighsBasisStatus`` of where it sits: 0 at its lower bound, 2 at its
    upper one, 1 (basic) strictly inside them."""
    low = value <= lower + BASIS_TOL
    return np.where(low, 0, np.where(value >= upper - BASIS_TOL, 2, 1))


def basis_from_point(
    lp: LpData, x: np.ndarray, col_dual: np.ndarray, row_dual: np.ndarray
) -> highspy.HighsBasis:
    """A starting basis for ``lp`` read from a simplex point that is nearly its optimum (the
    warm start's windows, ``rolling.warm_start_point``): a column strictly inside its bounds, or
    at one with a reduced cost of exactly 0 (a simplex basic), is basic, the others sit at the
    bound they touch; equality rows are nonbasic, the other rows (their activity at ``x``) are
    read as the columns are. The count of
    basics need not match the rows: HiGHS repairs such an "alien" basis. Reading the windows'
    own bases instead costs more than it saves (``highspy`` hands each status over as a Python
    object: 0.4 us each, about 0.2 s over the 15-min year's windows)."""
    col = at_bound(x, lp.lower, lp.upper)
    col[col_dual == 0.0] = 1
    nz_col = np.repeat(np.arange(lp.num_col), np.diff(lp.start))
    activity = np.bincount(lp.index, weights=lp.value * x[nz_col], minlength=lp.num_row)
    row = at_bound(activity, lp.row_lower, lp.row_upper)
    row[row_dual == 0.0] = 1
    row[lp.row_lower == lp.row_upper] = 0
    status = tuple(highspy.HighsBasisStatus(i) for i in range(3))
    basis = highspy.HighsBasis()
    basis.col_status = [status[s] for s in col.tolist()]
    basis.row_status = [status[s] for s in row.tolist()]
    basis.valid = basis.alien = True
    return basis
