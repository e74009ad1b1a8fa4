"""``ballast smoothing sweep`` on the sweep engine: one run per reserve cover share (the grid
field ``smoothing.reserve_cover_share``), every run on the base scenario's seed so each cover
sees the same AI waveform; rows per (cover, case) as before."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ballast.scenario import Scenario
from ballast.sweep.document import Sweep, SweepPlan, expand

COVER = "smoothing.reserve_cover_share"
CASES = ("miners", "miners+battery")


def reserve_cover_plan(scenario: Scenario, path: Path, covers: list[float]) -> SweepPlan:
    if scenario.smoothing is None:
        raise ValueError(f"{path}: the scenario has no smoothing section")
    sweep = Sweep(version=1, name=f"{scenario.name} reserve cover", base=str(path), seeds="base",
                  grid={COVER: list(covers)})
    return expand(sweep, path, scenario.model_dump(mode="json"), path)


def cover_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (cover, case): compliance against mining margin."""
    rows = []
    cases = [c for c in CASES if f"{c}.btc_mined" in runs]  # miners+battery needs a battery
    for _, r in runs.iterrows():
        for case in cases:
            rows.append({
                "reserve_cover_share": r[COVER], "case": case,
                "minutes_ramp_violation": r[f"{case}.minutes_ramp_violation"],
                "max_ramp_window_mw_per_s": max(r[f"{case}.max_ramp_up_window_mw_per_s"],
                                                r[f"{case}.max_ramp_down_window_mw_per_s"]),
                "reserve_up_mean_mw": r[f"{case}.reserve_up_mean_mw"],
                "btc_mined": r[f"{case}.btc_mined"],
                "mining_margin_usd": r[f"{case}.mining_margin_usd"]})
    return pd.DataFrame(rows)


def sweep_reserve_cover(scenario: Scenario, path: Path, covers: list[float], client=None
                        ) -> pd.DataFrame:
    """Run the covers on ``client`` (None: in-process, the same task function). A failed run
    raises ValueError with its message."""
    from ballast.sweep.engine import run_sweep

    plan = reserve_cover_plan(scenario, path, covers)
    outcome = run_sweep(plan, client, evaluator="smoothing_cover", batch_size=1)
    if len(outcome.failures):
        f = outcome.failures.iloc[0]
        raise ValueError(f"{path}: reserve cover {f[COVER]}: {f['error']}")
    return cover_rows(outcome.runs)
