"""The plan's independent pieces as tasks: the price paths in chunks, the tornado's points. A
``Mapper`` runs ``fn(group, *args)`` for each group and returns the results in order; the plan
runs them in-process (``in_process``) unless its caller hands it another mapper (``ballast
plan --workers N`` / ``--scheduler``: the sweep engine's Dask path, wired in ``ballast.cli.plan``
so that plan/ imports no sweep). Each path's and each point's arithmetic is the same whichever
mapper runs it, so the results do not depend on it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ballast.plan import finance, operations
from ballast.plan.document import Plan, Strategy
from ballast.plan.model import BitcoinYears, Schedule, cash_flows

Mapper = Callable[..., list]


def in_process(fn: Callable, groups: Sequence, *args) -> list:
    """``fn(group, *args)`` for each group, in this process, in order."""
    return [fn(group, *args) for group in groups]


def chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` (at most ``n``) contiguous (start, stop) ranges covering 0..n."""
    edges = np.linspace(0, n, min(max(parts, 1), n) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def path_slice(btc: BitcoinYears, start: int, stop: int) -> BitcoinYears:
    """Paths ``start:stop`` of a set of Bitcoin paths."""
    return replace(
        btc,
        btc_price_usd=btc.btc_price_usd[start:stop],
        difficulty=btc.difficulty[start:stop],
        hashprice_usd_per_ph_day=btc.hashprice_usd_per_ph_day[start:stop],
    )


def value_paths(
    btc: BitcoinYears,
    plan: Plan,
    items: list[tuple[Strategy, Schedule]],
    baseline: str,
    measured: dict,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every strategy's NPV and NPV over the baseline's on each of a chunk of paths (a task).
    ``measured`` are the backtested configurations (``operations.cache_entries``), so a worker
    does not backtest them again."""
    operations.seed_cache(measured)
    flows = {s.name: cash_flows(plan, s, sched, btc)["cash_flow_usd"] for s, sched in items}
    base_cf = flows[baseline]
    return {
        name: (
            np.asarray(finance.npv(plan.discount_rate, cf)),
            np.asarray(finance.npv(plan.discount_rate, cf - base_cf)),
        )
        for name, cf in flows.items()
    }


def npv_over_paths(
    plan: Plan,
    items: list[tuple[Strategy, Schedule]],
    baseline: str,
    btc: BitcoinYears,
    mapper: Mapper | None = None,
    parts: int = 1,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``value_paths`` over every path, in ``parts`` chunks run by ``mapper``, joined in order."""
    spans = chunks(btc.btc_price_usd.shape[0], parts)
    groups = [path_slice(btc, a, b) for a, b in spans]
    measured = operations.cache_entries(plan) if plan.operations is not None else {}
    results = (mapper or in_process)(value_paths, groups, plan, items, baseline, measured)
    return {
        s.name: (
            np.concatenate([r[s.name][0] for r in results]),
            np.concatenate([r[s.name][1] for r in results]),
        )
        for s, _ in items
    }
