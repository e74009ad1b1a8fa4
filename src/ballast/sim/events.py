"""Event log of a run: when each miner group started, stopped or was partly curtailed, and why."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.sim.engine import RunSeries


def group_events(run: RunSeries, price_usd_per_mwh: pd.Series) -> pd.DataFrame:
    """One row per change of a group's running count: time, group, from/to, rule, price."""
    rows = []
    rules = run.frame["binding_rule"].astype(str).to_numpy()
    price = price_usd_per_mwh.to_numpy()
    idx = run.group_running.index
    for name in run.group_running.columns:
        counts = np.rint(run.group_running[name].to_numpy()).astype(np.int64)
        change = np.flatnonzero(np.diff(counts)) + 1
        for t in change:
            before, after = counts[t - 1], counts[t]
            if after == 0:
                action = "stop"
            elif before == 0:
                action = "start"
            else:
                action = "curtail" if after < before else "raise"
            rows.append((idx[t], name, action, int(before), int(after), rules[t], price[t]))
    events = pd.DataFrame(rows, columns=["time_utc", "group", "action", "miners_before",
                                         "miners_after", "binding_rule", "price_usd_per_mwh"])
    return events.sort_values(["time_utc", "group"], kind="stable").reset_index(drop=True)
