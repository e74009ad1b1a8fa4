"""The system load the live 4CP alert reads (``live.grid_programs``): hourly means from the
scenario's ``coincident_peak.load_source`` file, extended by the site's live
``market.system_load_feed`` (the live market feed machinery, ``live.market``). The alert itself
is ``programs.fourcp.fourcp_alert_hourly``, as in the backtest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd

from ballast.live.market.config import HttpSystemLoad
from ballast.live.market.feeds import Feed
from ballast.live.market.sources import HttpJsonValue
from ballast.programs import fourcp


@dataclass
class FourCpLoad:
    """System load history for the 4CP alert: hourly means [MW] on a UTC index, seeded from the
    scenario's load file and extended by a live feed's readings (``add``)."""

    hourly_mw: pd.Series
    samples: dict[pd.Timestamp, list[float]] = field(default_factory=dict)
    version: int = 0  # readings added so far (an hour's alert is evaluated again after one)

    def add(self, time_s: float, load_mw: float) -> None:
        hour = pd.Timestamp(time_s, unit="s", tz="UTC").floor("1h")
        self.samples.setdefault(hour, []).append(float(load_mw))
        self.version += 1

    def alert(self, now_s: float, cp: Any, tz: str) -> tuple[bool, dict[str, float]]:
        """Whether the hour of ``now_s`` is alerted (``fourcp.fourcp_alert_at``: the backtest's
        ``fourcp_alert_hourly`` row, the scenario's thresholds; it reads only hours before it)
        and its forecast/threshold."""
        hour = pd.Timestamp(now_s, unit="s", tz="UTC").floor("1h")
        load = self.hourly_mw
        if self.samples:
            live = pd.Series({h: float(np.mean(v)) for h, v in self.samples.items()}, dtype=float)
            load = pd.concat([load[~load.index.isin(live.index)], live]).sort_index()
        alert, forecast, threshold = fourcp.fourcp_alert_at(
            load,
            hour,
            cp.months,
            tz,
            cp.window_start_hour_local,
            cp.window_end_hour_local,
            cp.threshold_share,
            cp.prior_year_floor_share,
        )
        return alert, {"forecast_mw": forecast, "threshold_mw": threshold}


async def run_load_feed(cfg: HttpSystemLoad, load: FourCpLoad, clock: Callable[[], float]) -> None:
    """Poll the site's system-load feed (``market.system_load_feed``, the live market feed
    machinery) and add each new reading to the 4CP load history; runs until cancelled."""
    async with httpx.AsyncClient(follow_redirects=True) as client:
        feed = Feed("system_load", HttpJsonValue(cfg, client, clock), cfg, clock)
        last: float | None = None
        while True:
            if await feed.poll_once() and feed.published_s != last and feed.value is not None:
                last = feed.published_s
                load.add(last, feed.value)
            await asyncio.sleep(feed.next_poll_in_s())
