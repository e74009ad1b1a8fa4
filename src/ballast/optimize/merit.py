"""The dispatch of one interval in closed form: a merit order of the site's energy sinks.

Without a battery (and without programs) the dispatch LP separates per interval: each interval
buys grid energy while something on site values it above the import price. Per interval
``t`` the supply beyond the fixed load ``D`` (AI + sleeping miners) is
``s = R + q + y - D`` (``R`` renewable output, ``q`` import, ``y`` net battery injection) and it
fills the sinks in descending value per MW: each miner group's flexible power (value
``value_usd_per_miner / flex_mw``), export (value ``-export_cost_usd_per_mw``; closed at
negative prices, as in the LP) and curtailment (value 0, up to ``R``). The import is worth
raising while the next sink values a MW above its cost, so
``s(y) = clip(S_c, max(R + y - D, 0), L_imp + R + y - D)`` with ``S_c`` the width of the sinks
valued above the import cost. Hand-written: a vectorised sort and cumulative sum (no library
states this merit order); ``tests/optimize/test_merit.py`` checks it against HiGHS.

With a battery, ``s(y)`` is nondecreasing and 1-Lipschitz in ``y`` and the import
``q(y) = s(y) - R - y + D`` nonincreasing, so for every battery injection ``y`` in its range an
optimal completion lies between the fills at the two ends of that range: ``reach_bounds`` gives
those bounds, and the LP (``model.build_lp``) fixes the columns the battery cannot move.

Measured (``benchmarks/bench_optimize.py``; a 2-core machine shared with other jobs, so CPU
seconds): the 15-min 2024 West Texas year with no battery takes HiGHS 0.90 s CPU, the merit
order 0.011 s; with the 50 MW / 200 MWh battery, fixing the out-of-reach columns takes HiGHS's
run from 3.7 s to 2.8 s CPU (85,415 to 69,684 simplex iterations), the hourly year from 0.6 s
to 0.45 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ballast.optimize.model import DispatchProblem

SNAP_MW = 1e-9  # bounds closer than this to 0, or to each other, are rounding


def sinks(p: DispatchProblem) -> tuple[np.ndarray, np.ndarray]:
    """Per interval, the sinks' value [USD per MW over the interval] and width [MW], columns:
    the miner groups, export, curtailment."""
    n, ng = len(p.ai_load_mw), len(p.count)
    flex_mw = p.run_mw - p.sleep_mw
    value = np.empty((n, ng + 2))
    width = np.empty((n, ng + 2))
    value[:, :ng] = p.value_usd_per_miner / flex_mw
    width[:, :ng] = p.count * flex_mw
    value[:, ng] = -p.export_cost_usd_per_mw
    width[:, ng] = export_open_mw(p)
    value[:, ng + 1] = 0.0
    width[:, ng + 1] = p.renewable_mw
    return value, width


def export_open_mw(p: DispatchProblem) -> np.ndarray:
    """The export limit per interval, 0 where the price is negative (importing and exporting the
    same MW would earn there: the cost is concave)."""
    return np.where(p.import_cost_usd_per_mw + p.export_cost_usd_per_mw < 0, 0.0, p.export_limit_mw)


def fill(value: np.ndarray, width: np.ndarray, supply_mw: np.ndarray) -> np.ndarray:
    """``supply_mw`` per interval poured into the sinks in descending value (ties: column
    order): the MW each takes."""
    order = np.argsort(-value, axis=1, kind="stable")
    w = np.take_along_axis(width, order, axis=1)
    before = np.cumsum(w, axis=1) - w
    taken = np.clip(supply_mw[:, None] - before, 0.0, w)
    out = np.empty_like(taken)
    np.put_along_axis(out, order, taken, axis=1)
    return out


def sink_supply_mw(p: DispatchProblem, value: np.ndarray, width: np.ndarray, y_mw) -> np.ndarray:
    """``s(y)``: the optimal supply to the sinks given a net battery injection ``y_mw``."""
    wanted = np.where(value > p.import_cost_usd_per_mw[:, None], width, 0.0).sum(axis=1)
    base = p.renewable_mw + y_mw - p.ai_load_mw - p.sleep_total_mw
    return np.minimum(np.maximum(wanted, np.maximum(base, 0.0)), p.import_limit_mw + base)


def solve_merit(p: DispatchProblem) -> tuple[np.ndarray, float]:
    """The optimum of a problem with no battery: the LP's primal solution in ``build_lp``'s
    column order (miners, import, export, curtailment) and its objective [USD]."""
    value, width = sinks(p)
    s = sink_supply_mw(p, value, width, 0.0)
    taken = fill(value, width, s)
    ng = len(p.count)
    imp = s - p.renewable_mw + p.ai_load_mw + p.sleep_total_mw
    x = np.concatenate([taken[:, :ng].ravel(), imp, taken[:, ng], taken[:, ng + 1]])
    earned = (taken[:, : ng + 1] * value[:, : ng + 1]).sum()
    objective = float(earned - (imp * p.import_cost_usd_per_mw).sum())
    return x, objective


def reach_bounds(p: DispatchProblem) -> tuple[np.ndarray, np.ndarray]:
    """Per interval, bounds on the non-battery columns (miners, import, export, curtailment in
    ``build_lp``'s order) that hold an optimal completion for every battery injection the
    interval allows: from ``-power`` (or the least the import limit allows) to ``+power``
    (without a battery, the merit order's own dispatch)."""
    power = 0.0 if p.battery is None else p.battery.power_mw
    value, width = sinks(p)
    y_hi = power
    y_lo = np.maximum(-power, p.ai_load_mw + p.sleep_total_mw - p.renewable_mw - p.import_limit_mw)
    s_lo = sink_supply_mw(p, value, width, y_lo)
    s_hi = sink_supply_mw(p, value, width, y_hi)
    lo_fill, hi_fill = fill(value, width, s_lo), fill(value, width, s_hi)
    fixed = p.ai_load_mw + p.sleep_total_mw - p.renewable_mw
    q_hi, q_lo = s_lo - y_lo + fixed, s_hi - y_hi + fixed
    ng = len(p.count)

    def cols(f: np.ndarray, q: np.ndarray) -> np.ndarray:
        return np.concatenate([f[:, :ng].ravel(), q, f[:, ng], f[:, ng + 1]])

    lo, hi = cols(lo_fill, q_lo), cols(hi_fill, q_hi)
    # rounding leaves bounds of 1e-15 MW where 0 is meant (HiGHS warns of them): snap them, and
    # close ranges narrower than that
    lo[np.abs(lo) < SNAP_MW] = 0.0
    hi[np.abs(hi) < SNAP_MW] = 0.0
    hi = np.where(hi - lo < SNAP_MW, lo, hi)
    return lo, hi
