"""A rolling horizon: the dispatch LP re-solved every ``commit_h`` hours over a ``window_h``
window, keeping the first ``commit_h`` of each solution.

The LP is built and passed to HiGHS once; between windows only its changed data (costs, bounds,
right-hand sides) is updated, and HiGHS starts from the previous basis. Rebuilding the model
per window is what makes PyPSA's rolling horizon slow. Each window's battery starts where the
kept part of the last one left it and must end at least at the run's initial charge.

Forecast: each window's LP sees the prices of ``forecast`` (``optimize.forecast``: perfect,
the day-ahead price or persistence, each as known when the window is solved); the kept
dispatch is priced on the realised ones. Windows
without a battery, reserves or a 4CP charge separate per interval and take the merit order.

4CP: a window's objective carries the 4CP charge of the peak buckets that lie wholly inside
it, as the perfect-foresight LP has them (``lp.build_lp``): each peak's charge per MW on the
largest mean import over its buckets in the window. Which intervals are peaks is the
forecast's: the year's real peaks with ``perfect``, the coincident-peak alert with the others
(``forecast.flagged_peak_charge``). A window holding such a peak is passed to HiGHS whole (its
matrix differs). The kept dispatch pays the real charge in ``objective_usd``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ballast.costs import FourCpLinear
from ballast.optimize import merit
from ballast.optimize.deployments import deployment_row_count, window_deployments
from ballast.optimize.lp import Layout, LpData, build_lp, layout, pass_lp
from ballast.optimize.model import (
    DispatchProblem,
    DispatchSolution,
    OptimizeError,
    _highs,
    check_feasible,
    read_solution,
    run_highs,
    separable,
)


def interval_index(lay: Layout, full: Layout, start: int, keep: int) -> tuple[np.ndarray, ...]:
    """The columns and rows of intervals [0, keep) of a window LP laid out as ``lay``, and the
    same columns and rows of intervals [start, start + keep) in the run's LP laid out as
    ``full``: (window columns, run columns, window rows, run rows). Per-interval blocks only
    (no 4CP peaks, no commitment)."""
    j = np.arange(keep)

    def blocks(a: Layout) -> tuple[list[tuple[int, int]], list[int]]:
        cols = [(0, a.groups), (a.imp, 1), (a.imp + a.n, 1), (a.imp + 2 * a.n, 1)]
        if a.battery:
            cols += [(a.ch, 1), (a.ch + a.n, 1), (a.ch + 2 * a.n, 1)]
        if a.reserves:
            cols.append((a.res, a.reserves))
        return cols, [b * a.n for b in range(1 + a.battery + bool(a.reserves))]

    def at(offset: int, width: int, first: int) -> np.ndarray:
        return (offset + (first + j)[:, None] * width + np.arange(width)).ravel()

    (wc, wr), (fc, fr) = blocks(lay), blocks(full)
    return (
        np.concatenate([at(o, w, 0) for o, w in wc]),
        np.concatenate([at(o, w, start) for o, w in fc]),
        np.concatenate([r + j for r in wr]),
        np.concatenate([r + start + j for r in fr]),
    )


def slice_reach(reach: tuple[np.ndarray, np.ndarray], n: int, groups: int, start: int, stop: int):
    """``merit.reach_bounds`` of a run's intervals [start, stop) from the whole run's (their
    values depend on each interval's own data only)."""

    def cut(a: np.ndarray) -> np.ndarray:
        o = n * groups
        return np.concatenate(
            [a[start * groups : stop * groups]] + [a[o + b * n + start : o + b * n + stop] for b in range(3)]
        )

    return cut(reach[0]), cut(reach[1])


def window(
    p: DispatchProblem,
    start: int,
    stop: int,
    soc_mwh: float,
    kept: tuple[np.ndarray, np.ndarray] | None = None,
) -> DispatchProblem:
    """Intervals [start, stop) of ``p``, the battery starting at ``soc_mwh`` and ending at
    least at the run's initial state of charge. ``kept`` (flexible miner power per interval,
    reserve sold per interval and product, known before ``start``): the dispatch a reserve
    deployment reaching into the window refers to (``deployments.window_deployments``)."""
    b = p.battery
    if b is not None:
        final = b.initial_soc_mwh if b.final_soc_min_mwh is None else b.final_soc_min_mwh
        b = replace(b, initial_soc_mwh=soc_mwh, final_soc_min_mwh=final)
    return replace(
        p,
        index=p.index[start:stop],
        ai_load_mw=p.ai_load_mw[start:stop],
        renewable_mw=p.renewable_mw[start:stop],
        value_usd_per_miner=p.value_usd_per_miner[start:stop],
        import_cost_usd_per_mw=p.import_cost_usd_per_mw[start:stop],
        export_cost_usd_per_mw=p.export_cost_usd_per_mw[start:stop],
        battery=b,
        peak_charge=window_peaks(p.peak_charge, start, stop),
        reserves=None
        if p.reserves is None
        else replace(
            p.reserves,
            value_usd_per_mw=p.reserves.value_usd_per_mw[start:stop],
            deployments=window_deployments(p.reserves.deployments, start, stop, *kept)
            if p.reserves.deployments
            else (),
        ),
    )


def window_peaks(pc: FourCpLinear | None, start: int, stop: int) -> FourCpLinear | None:
    """The 4CP buckets of ``pc`` wholly inside intervals [start, stop), renumbered from
    ``start``, with their peaks; None when none is."""
    if pc is None:
        return None
    inside = [b for b, m in enumerate(pc.members) if len(m) and m[0] >= start and m[-1] < stop]
    if not inside:
        return None
    peaks, bucket_peak = np.unique(pc.bucket_peak[inside], return_inverse=True)
    members = [pc.members[b] - start for b in inside]
    return FourCpLinear(pc.usd_per_mw[peaks], bucket_peak.astype(np.int64), members, pc.notes)


def peak_demand_mw(pc: FourCpLinear, import_mw: np.ndarray) -> np.ndarray:
    """Each peak's demand in ``pc``'s linear form: the largest over its buckets of
    max(0, mean net import) [MW]."""
    bucket_mw = np.array([max(float(import_mw[m].mean()), 0.0) for m in pc.members])
    demand_mw = np.zeros(len(pc.usd_per_mw))
    np.maximum.at(demand_mw, pc.bucket_peak, bucket_mw)
    return demand_mw


def peak_charge_usd(pc: FourCpLinear | None, import_mw: np.ndarray) -> float:
    """The 4CP charge [USD] of a net import (import positive) in ``pc``'s linear form."""
    if pc is None or not len(pc.usd_per_mw):
        return 0.0
    return float(pc.usd_per_mw @ peak_demand_mw(pc, import_mw))


def solve_window(
    h, win: DispatchProblem, held: LpData | None, time_limit_s: float | None, reach=None
) -> tuple[DispatchSolution, LpData]:
    """One window on the HiGHS model ``h`` and its LP: passed whole when its shape is new
    (``held`` None: the first window, the shorter last ones), else only the costs, bounds and
    right-hand sides that differ from ``held``, the LP HiGHS holds (same matrix), HiGHS
    starting from the previous basis. HiGHS keeps the window's primal and dual solution
    (``warm_start_point`` reads it)."""
    lp = build_lp(win, reach=reach, matrix=held is None)
    if held is None:
        pass_lp(h, lp)
    else:  # only what changed: HiGHS's change calls cost in proportion to what they are given
        col = np.flatnonzero(lp.cost != held.cost).astype(np.int32)
        h.changeColsCost(len(col), col, lp.cost[col])
        col = np.flatnonzero((lp.lower != held.lower) | (lp.upper != held.upper)).astype(np.int32)
        h.changeColsBounds(len(col), col, lp.lower[col], lp.upper[col])
        row = np.flatnonzero((lp.row_lower != held.row_lower) | (lp.row_upper != held.row_upper))
        row = row.astype(np.int32)
        h.changeRowsBounds(len(row), row, lp.row_lower[row], lp.row_upper[row])
    x, objective, label = run_highs(h, time_limit_s)
    return read_solution(win, x, objective, label, 0.0), lp


def solve_rolling(
    p: DispatchProblem,
    window_h: float = 48.0,
    commit_h: float = 24.0,
    time_limit_s: float | None = None,
    forecast: DispatchProblem | Callable[[int, int], DispatchProblem] | None = None,
    on_window: Callable | None = None,
    reach: tuple[np.ndarray, np.ndarray] | None = None,
) -> DispatchSolution:
    """Solve ``p`` window by window, each window on ``forecast``'s data (default ``p``: a
    perfect forecast; a function of the window's (start, stop) for what is known when it is
    solved, ``forecast.forecast_problem``). ``objective_usd`` is the kept dispatch priced on
    ``p``'s realised data (the real 4CP charge included); ``solve_s`` the total wall time.
    ``reach``: ``merit.reach_bounds(p)`` when the caller has them (used with a perfect forecast)."""
    seen_at = forecast if callable(forecast) else (lambda _a, _b: p if forecast is None else forecast)
    if not 0 < commit_h <= window_h:
        raise ValueError(f"commit_h {commit_h} must be in (0, window_h {window_h}]")
    if p.min_times is not None:
        raise OptimizeError("horizon rolling: minimum on/off times (the MILP) need the perfect horizon")
    check_feasible(p)
    t0 = time.perf_counter()
    n = len(p.ai_load_mw)
    w = max(1, round(window_h / p.step_h))
    c = max(1, round(commit_h / p.step_h))
    soc = p.battery.initial_soc_mwh if p.battery is not None else 0.0
    h = _highs()
    # Dantzig pricing: after each window's update the steepest-edge weights are stale anyway
    # (warm start of the hourly year 0.29 -> 0.26 s CPU; 48-h windows at 15 min unchanged)
    h.setOptionValue("simplex_dual_edge_weight_strategy", 0)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    # with a perfect forecast each window's merit-order bounds are the run's, computed once
    perfect = forecast is None or forecast is p
    if not perfect or p.battery is None:
        reach = None
    elif reach is None:
        reach = merit.reach_bounds(p)
    size = 0  # intervals of the model HiGHS holds (-1: a window with 4CP or deployment rows)
    held = None  # the LP HiGHS holds
    parts: list[DispatchSolution] = []
    # the kept dispatch a reserve deployment refers to: flexible miner power, reserve sold
    flex_mw = p.run_mw - p.sleep_mw
    kept = (np.zeros(n), np.zeros((n, 0 if p.reserves is None else len(p.reserves.offer_mw))))
    for start in range(0, n, c):
        stop = min(start + w, n)
        win = window(seen_at(start, stop), start, stop, soc, kept)
        if separable(win):
            x, objective = merit.solve_merit(win)
            part = read_solution(win, x, objective, "Optimal", 0.0)
        else:
            odd = win.peak_charge is not None or (win.reserves is not None and bool(win.reserves.deployments))
            shape = stop - start != size or odd
            cut = None if reach is None else slice_reach(reach, n, len(p.count), start, stop)
            part, held = solve_window(h, win, None if shape else held, time_limit_s, cut)
            size = stop - start if not odd else -1
        keep = min(c, stop - start)
        if on_window is not None:  # (window problem, its start, intervals kept, HiGHS or None)
            on_window(win, start, keep, None if separable(win) else h)
        parts.append(part)
        parts[-1] = replace(
            part,
            running=part.running[:keep],
            import_mw=part.import_mw[:keep],
            curtailed_mw=part.curtailed_mw[:keep],
            battery_mw=part.battery_mw[:keep],
            soc_mwh=part.soc_mwh[:keep],
            reserve_mw=None if part.reserve_mw is None else part.reserve_mw[:keep],
        )
        if p.battery is not None:
            soc = float(part.soc_mwh[keep - 1])
        kept[0][start : start + keep] = parts[-1].running @ flex_mw
        if p.reserves is not None:
            kept[1][start : start + keep] = parts[-1].reserve_mw
    running = np.concatenate([q.running for q in parts])
    reserve = None if p.reserves is None else np.concatenate([q.reserve_mw for q in parts])
    imp = np.concatenate([q.import_mw for q in parts])
    # the kept dispatch priced on the realised data, with the LP's own coefficients
    mining = float((running * p.value_usd_per_miner).sum())
    energy = float(np.where(imp >= 0, imp * p.import_cost_usd_per_mw, -imp * p.export_cost_usd_per_mw).sum())
    paid = 0.0 if reserve is None else float((reserve * p.reserves.value_usd_per_mw).sum())
    return DispatchSolution(
        objective_usd=mining - energy + paid - peak_charge_usd(p.peak_charge, imp),
        reserve_mw=reserve,
        running=running,
        import_mw=imp,
        curtailed_mw=np.concatenate([q.curtailed_mw for q in parts]),
        battery_mw=np.concatenate([q.battery_mw for q in parts]),
        soc_mwh=np.concatenate([q.soc_mwh for q in parts]),
        status=f"rolling: {len(parts)} windows, all Optimal",
        solve_s=time.perf_counter() - t0,
        columns=parts[0].columns,
        rows=parts[0].rows,
    )


WARM_WINDOW_H, WARM_COMMIT_H = 504.0, 480.0  # the warm start's windows (model.warm_start_pays)


def warm_start_point(
    p: DispatchProblem, time_limit_s: float | None = None, reach: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A start for the whole run's LP (``lp.build_lp`` order): the primal values, column duals
    and row duals of its three-week windows keeping 20 days, each window's for the intervals it
    keeps, and each 4CP peak's demand the largest mean import of its buckets
    (``model.warm_start_pays`` has the figures); None where a window has no solution of its
    own (the battery's end condition per window can be stricter than the run's) or one hits
    ``time_limit_s``."""
    full = layout(p)
    buckets = 0 if p.peak_charge is None else len(p.peak_charge.members)
    deployed = 0 if p.reserves is None else deployment_row_count(p.reserves.deployments)
    rows = full.n * (1 + full.battery + bool(full.reserves)) + buckets + deployed
    x, col_dual, row_dual = np.zeros(full.num_col), np.zeros(full.num_col), np.zeros(rows)

    def keep_window(win: DispatchProblem, start: int, keep: int, h) -> None:
        if h is None:
            return
        wc, fc, wr, fr = interval_index(layout(win), full, start, keep)
        sol = h.getSolution()
        x[fc] = np.asarray(sol.col_value)[wc]
        col_dual[fc] = np.asarray(sol.col_dual)[wc]
        row_dual[fr] = np.asarray(sol.row_dual)[wr]

    try:  # the windows leave the 4CP charge out; the start pays it on the demand they cause
        r = solve_rolling(
            replace(p, peak_charge=None),
            window_h=WARM_WINDOW_H,
            commit_h=WARM_COMMIT_H,
            time_limit_s=time_limit_s,
            on_window=keep_window,
            reach=reach,
        )
    except OptimizeError:
        return None
    pc = p.peak_charge
    if pc is not None and len(pc.usd_per_mw):
        x[full.peak : full.on] = peak_demand_mw(pc, r.import_mw)
    return x, col_dual, row_dual
