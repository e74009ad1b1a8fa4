"""Event log of a run: when each miner group started, stopped or was partly curtailed, and why."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.sim.engine import RunSeries

COLUMNS = ["time_utc", "group", "action", "miners_before", "miners_after", "binding_rule",
           "price_usd_per_mwh"]


def group_events(run: RunSeries, price_usd_per_mwh: pd.Series) -> pd.DataFrame:
    """One row per change of a group's running count: time, group, from/to, rule, price."""
    binding = run.frame["binding_rule"]
    codes = binding.cat.codes.to_numpy() if isinstance(binding.dtype, pd.CategoricalDtype) else None
    if codes is not None and (codes >= 0).all():  # names by code (astype(str): 8 ms a year)
        rules = np.asarray(binding.cat.categories.astype(str), dtype=object)[codes]
    else:
        rules = binding.astype(str).to_numpy()
    price = price_usd_per_mwh.to_numpy()
    idx = run.group_running.index
    parts = []
    for name in run.group_running.columns:
        counts = np.rint(run.group_running[name].to_numpy()).astype(np.int64)
        t = np.flatnonzero(np.diff(counts)) + 1
        if len(t) == 0:
            continue
        before, after = counts[t - 1], counts[t]
        action = np.where(after == 0, "stop", np.where(
            before == 0, "start", np.where(after < before, "curtail", "raise"))).astype(object)
        parts.append(pd.DataFrame({
            "time_utc": idx[t], "group": np.full(len(t), name, dtype=object), "action": action,
            "miners_before": before, "miners_after": after, "binding_rule": rules[t],
            "price_usd_per_mwh": price[t]}))
    if not parts:
        return pd.DataFrame([], columns=COLUMNS)
    events = pd.concat(parts, ignore_index=True)
    return events.sort_values(["time_utc", "group"], kind="stable").reset_index(drop=True)
