"""The arithmetic of the grid programs' caps and floors on miner power, in one place for every
host: the backtest's plan (``programs/plan.py``, arrays over the run) and the live runtime
(``live/grid_programs.py``, one tick at a time) call these same functions.

- EEA: from ``curtail_at_level`` up, every miner off (cap 0);
- 4CP: while an alert is in force, miners capped at ``curtail_to_mw``;
- reserves (RRS, ECRS, ERS): sold only up to the headroom the miners really have, in priority
  order; the floor keeps that much miner power running (plus the fleet's sleep power and one
  miner step) so it can be dropped;
- a deployment drops the committed MW from the miner power measured at the instruction.

Pure functions of floats or numpy arrays (broadcasting). Powers are facility MW; ``inf`` means
no cap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.control import GroupParams
from ballast.programs.schema import RESERVE_PROGRAMS

RESERVE_ORDER = RESERVE_PROGRAMS  # sold in this priority order (RRS, ECRS, ERS, Non-Spin)
NO_CAP_MW = float("inf")


def eea_cap_mw(level: int, curtail_at_level: int) -> float:
    """Miner cap under an Energy Emergency Alert of ``level`` (0: none) [MW]: 0 from
    ``curtail_at_level`` up, else no cap."""
    return 0.0 if level >= 1 and level >= curtail_at_level else NO_CAP_MW


def fourcp_cap_mw(alert, curtail_to_mw: float):
    """Miner cap while a 4CP alert is in force (bool or array of bools) [MW]."""
    return np.where(alert, curtail_to_mw, NO_CAP_MW)


def deployment_cap_mw(reference_mw: float, commit_mw: float) -> float:
    """Miner cap during a reserve deployment [MW]: the miner power measured at the instruction
    (the last measured tick, never the future) minus the committed MW, never below zero."""
    return max(float(reference_mw) - float(commit_mw), 0.0)


def fleet_mw(groups: GroupParams) -> tuple[float, float, float]:
    """(all miners asleep, all miners running, the largest single miner step) [MW]."""
    sleep = float((groups.count * groups.sleep_mw).sum())
    run = float((groups.count * groups.run_mw).sum())
    step = float((groups.run_mw - groups.sleep_mw).max()) if len(groups.names) else 0.0
    return sleep, run, step


def miner_headroom_mw(
    ai_max_mw,
    import_limit_mw: float,
    margin_mw: float,
    fleet_run_mw: float,
    sleep_floor_mw: float,
    cap_mw,
    step_mw: float,
):
    """Reserve the miners can really deliver [MW]: the most they may draw (import limit minus
    margin minus the AI load's maximum, fleet size, caps in force) minus what they draw asleep,
    minus one miner step (whole miners); never below zero."""
    most = np.minimum(
        np.minimum(import_limit_mw - margin_mw - np.asarray(ai_max_mw, float), fleet_run_mw), cap_mw
    )
    return np.clip(most - sleep_floor_mw - step_mw, 0.0, None)


def reserve_headroom_mw(
    ai_load_mw: np.ndarray,
    index: pd.DatetimeIndex,
    import_limit_mw: float,
    margin_mw: float,
    fleet_run_mw: float,
    sleep_floor_mw: float,
    cap_mw: np.ndarray,
    step_mw: float,
) -> np.ndarray:
    """``miner_headroom_mw`` per tick of a run, against the AI load's maximum over each hour.
    Renewables are not counted (they may vanish within the hour)."""
    ai_hour_max = pd.Series(ai_load_mw, index=index).groupby(index.floor("1h")).transform("max")
    return miner_headroom_mw(
        ai_hour_max.to_numpy(), import_limit_mw, margin_mw, fleet_run_mw, sleep_floor_mw, cap_mw, step_mw
    )


def reserve_uneconomic(price_usd_per_mwh, hashprice_usd_per_ph_day, breakeven_per_hashprice: float):
    """Whether a reserve must not be sold: the price known at the tick is at or above the best
    miner group's breakeven (a floor would force miners to run at a loss)."""
    return np.asarray(price_usd_per_mwh) >= np.asarray(hashprice_usd_per_ph_day) * float(
        breakeven_per_hashprice
    )


def sell_reserves(offers_mw: dict[str, float], headroom_mw: np.ndarray) -> dict[str, np.ndarray]:
    """Split the headroom among reserve offers in priority order (RESERVE_ORDER): each is sold
    up to its offer and never beyond what is left [MW]."""
    left = np.asarray(headroom_mw, dtype=float).copy()
    out = {}
    for name in RESERVE_ORDER:
        if name not in offers_mw:
            continue
        sold = np.minimum(offers_mw[name], left)
        out[name] = sold
        left = left - sold
    return out


def hold_consistent(raw_mw: np.ndarray) -> np.ndarray:
    """Sell in interval t only what could also be held in t-1: min(raw[t], raw[t-1]) [MW].

    A deployment's reduction is measured from the last measured tick, so the reserve must
    already be running there."""
    prev = np.concatenate(([0.0], raw_mw[:-1]))
    return np.minimum(raw_mw, prev)


def reserve_floor_mw(sold_total_mw, sleep_floor_mw: float, step_mw: float):
    """Miner power floor that keeps the reserves sold (total [MW]) running so they can be
    dropped: the fleet's sleep power plus the total plus one miner step; 0 when none is sold."""
    sold = np.asarray(sold_total_mw, dtype=float)
    return np.where(sold > 0, sleep_floor_mw + sold + step_mw, 0.0)
