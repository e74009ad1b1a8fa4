"""Scheduled reserve deployments (ECRS, ERS, Non-Spin ``deployments:``) as rows of the dispatch LP.

The backtest caps the miners through a deployment at the miner power measured in the interval
before the instruction less the MW sold in the instruction's interval
(``programs.limits.deployment_cap_mw``, over the intervals ``programs.plan.deployment_ticks``
gives). The optimum keeps the same cap as a constraint per interval ``t`` of the deployment,
in the LP's flexible miner power ``f`` (sleeping miners cancel on both sides):

    f[t] - f[a - 1] + reserve[a, k] <= 0

with ``a`` the instruction's interval and ``k`` the product. The optimum knows the
deployments in advance (perfect foresight), so it may sell less before one. At the run's first
interval the reference is the whole fleet's flexible power. In a rolling window the reference
or the sale can lie before the window: then they are the kept dispatch's values (constants).
RRS under-frequency trips and shortfall penalties are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ballast.programs.plan import deployment_ticks
from ballast.scenario import Scenario

DEPLOYED = ("ecrs", "ers", "non_spin")  # the products whose scenario lists deployments


@dataclass(frozen=True)
class ReserveDeployment:
    """Product ``product`` (index into ``Reserves.names``) deployed over intervals
    [start, stop). ``reference_mw`` / ``commit_mw``: the flexible miner power before the
    instruction and the MW sold at it when known (outside the LP), else NaN (LP columns)."""

    product: int
    start: int
    stop: int
    reference_mw: float = float("nan")
    commit_mw: float = float("nan")


def scenario_deployments(
    scenario: Scenario, index: pd.DatetimeIndex, names: tuple[str, ...], fleet_flex_mw: float
) -> tuple[ReserveDeployment, ...]:
    """The ECRS/ERS/Non-Spin deployments of ``scenario`` on ``index``, for the reserve products
    ``names`` (``model.reserves_of``); ``fleet_flex_mw`` is the reference of one at the run's
    first interval."""
    out = []
    for name in DEPLOYED:
        prog = getattr(scenario.programs, name, None) if scenario.programs is not None else None
        if prog is None:
            continue
        for d in prog.deployments:
            ticks = deployment_ticks(index, pd.Timestamp(d.at).tz_convert("UTC"), d.duration_minutes)
            if ticks is None:
                continue
            a, b = ticks
            out.append(ReserveDeployment(names.index(name), a, b, fleet_flex_mw if a == 0 else float("nan")))
    return tuple(out)


def window_deployments(
    deps: tuple[ReserveDeployment, ...],
    start: int,
    stop: int,
    flex_mw: np.ndarray,
    reserve_mw: np.ndarray,
) -> tuple[ReserveDeployment, ...]:
    """The deployments of ``deps`` that cap intervals [start, stop), renumbered from ``start``;
    a reference or sale before ``start`` is taken from the kept dispatch (``flex_mw`` per
    interval, ``reserve_mw`` per interval and product, known before ``start``)."""
    out = []
    for d in deps:
        if d.stop <= start or d.start >= stop:
            continue
        ref, commit = d.reference_mw, d.commit_mw
        if d.start - 1 < start and np.isnan(ref):
            ref = float(flex_mw[d.start - 1])
        if d.start < start and np.isnan(commit):
            commit = float(reserve_mw[d.start, d.product])
        out.append(
            ReserveDeployment(d.product, max(d.start - start, 0), min(d.stop, stop) - start, ref, commit)
        )
    return tuple(out)


def deployment_row_count(deps: tuple[ReserveDeployment, ...]) -> int:
    """Rows the deployments add to the LP: one per capped interval."""
    return sum(d.stop - d.start for d in deps)


def deployment_rows(
    deps: tuple[ReserveDeployment, ...], groups: int, reserves: int, o_res: int, row0: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """(rows, columns, values, row lower, row upper) of the deployment rows from ``row0``, in
    ``lp.build_lp``'s column order (miners' flexible power t-major with ``groups`` per
    interval; reserves t-major from ``o_res`` with ``reserves`` per interval)."""
    rows, cols, vals, upper = [], [], [], []
    row = row0
    for d in deps:
        t = np.arange(d.start, d.stop)
        r = row + np.arange(len(t))
        rows.append(np.repeat(r, groups))  # + f[t]
        cols.append((t[:, None] * groups + np.arange(groups)).ravel())
        vals.append(np.ones(len(t) * groups))
        rhs = 0.0
        if np.isnan(d.reference_mw):  # - f[a - 1]
            rows.append(np.repeat(r, groups))
            cols.append(np.tile((d.start - 1) * groups + np.arange(groups), len(t)))
            vals.append(-np.ones(len(t) * groups))
        else:
            rhs += d.reference_mw
        if np.isnan(d.commit_mw):  # + reserve[a, k]
            rows.append(r)
            cols.append(np.full(len(t), o_res + d.start * reserves + d.product))
            vals.append(np.ones(len(t)))
        else:
            rhs -= d.commit_mw
        upper.append(np.full(len(t), rhs))
        row += len(t)
    hi = np.concatenate(upper) if upper else np.zeros(0)
    return rows, cols, vals, np.full(len(hi), -np.inf), hi
