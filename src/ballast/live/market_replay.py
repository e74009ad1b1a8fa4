"""Market replay: feed the live economics rule the scenario's own price and hashprice series.

For demos and dry runs (no live ISO feed is wired yet): the runtime's start maps to the replay
start; replay time runs ``speed`` times wall time and wraps around at the end of the scenario's
run. The series are the backtest's inputs (``ballast.inputs.build_inputs``: the same validated
price and hashprice), so a replayed day decides as the backtest of that day does.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from ballast.inputs import build_inputs
from ballast.scenario import Scenario


class MarketReplay:
    """Price [USD/MWh] and hashprice [USD/PH/day] at a wall-clock time, from a replayed series."""

    def __init__(self, scenario: Scenario, base_dir: Path | None, start: datetime,
                 speed: float, t0_s: float) -> None:
        if start.tzinfo is None:
            raise ValueError("market.replay.start needs a UTC offset")
        frame = build_inputs(scenario, base_dir).frame
        self.times_s = frame.index.as_unit("ns").asi8.astype("float64") / 1e9
        self.step_s = float(scenario.run.step.total_seconds())
        # the price known at each instant, as the backtest decides (inputs/availability.py)
        self.price_usd_per_mwh = frame["decision_price_usd_per_mwh"].to_numpy()
        self.hashprice_usd_per_ph_day = frame["hashprice_usd_per_ph_day"].to_numpy()
        self.origin_s = start.timestamp()
        first, end = self.times_s[0], self.times_s[-1] + self.step_s
        if not first <= self.origin_s < end:
            raise ValueError(f"market.replay.start {start.isoformat()} is outside the "
                             f"scenario's run ({scenario.run.start} to {scenario.run.end})")
        self.speed = speed
        self.t0_s = t0_s

    def replay_time_s(self, now_s: float) -> float:
        """The replayed instant (UNIX s, UTC) for wall time ``now_s``; wraps at the run's end."""
        first, end = self.times_s[0], self.times_s[-1] + self.step_s
        t = self.origin_s + (now_s - self.t0_s) * self.speed
        return first + (t - first) % (end - first)

    def at(self, now_s: float) -> tuple[float, float, float]:
        """(price [USD/MWh], hashprice [USD/PH/day], replayed instant [UNIX s])."""
        t = self.replay_time_s(now_s)
        i = int(np.searchsorted(self.times_s, t, side="right")) - 1
        return float(self.price_usd_per_mwh[i]), float(self.hashprice_usd_per_ph_day[i]), t
