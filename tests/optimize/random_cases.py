"""The random small hourly dispatch case the optimiser's property tests draw (``test_merit``,
``test_warm``): one place for its distribution."""

from __future__ import annotations

import numpy as np

from ballast.optimize.model import BatteryParams, DispatchProblem, Reserves
from tests.optimize.test_hand_cases import problem


def random_case(
    rng: np.random.Generator, n: int, *, reserves: bool = False, battery: BatteryParams | None = None
) -> DispatchProblem:
    """``n`` hours, 1-3 miner groups: prices with negative hours and scarcity spikes, values per
    miner around the breakeven, wind or none, a 5 MW import limit and a 0, 1 or 10 MW export
    limit; with ``reserves``, two reserve products at random values. Draws from ``rng`` in a fixed
    order (the caller may go on drawing from it)."""
    ng = int(rng.integers(1, 4))
    res = None
    if reserves:
        value = rng.uniform(0.0, 8.0, (n, 2))
        res = Reserves(("responsive_reserve", "non_spin"), np.array([0.3, 0.5]), value)
    return problem(
        rng.choice([-30.0, 5.0, 30.0, 60.0, 400.0], n) + rng.normal(0, 5, n),
        rng.uniform(2.0, 4.0, n),
        counts=rng.integers(10, 400, ng),
        run_mw=rng.uniform(0.002, 0.004, ng),
        value_usd=rng.uniform(0.0, 0.25, (n, ng)),
        renewable_mw=rng.uniform(0.0, 3.0, n) * rng.integers(0, 2),
        import_limit_mw=5.0,
        export_limit_mw=float(rng.choice([0.0, 1.0, 10.0])),
        battery=battery,
        reserves=res,
    )
