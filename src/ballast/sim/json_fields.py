"""Fields every JSON document of a run shares (``ballast simulate``, ``ballast optimize``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ballast.sim.engine import Simulation


def json_number(x: float | None) -> float | None:
    """A number for a JSON document: NaN and None become null."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def run_header(sim: Simulation) -> dict:
    """The run's identity in every JSON document: scenario, UTC span, resolution, intervals."""
    idx = sim.inputs.index
    return {
        "scenario": sim.scenario.name,
        "start_utc": idx[0].isoformat(),
        "end_utc": (idx[-1] + sim.scenario.run.step).isoformat(),
        "resolution": sim.scenario.run.resolution,
        "intervals": len(idx),
    }
