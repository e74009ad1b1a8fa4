"""The AI load at 1 s or finer, generated chunk by chunk (float32) so a 1-s year fits in memory.

Profiles: ``training`` (``models/ai_swings``), ``flat`` and ``diurnal_inference`` (the coarse
shape held per coarse step, plus seeded per-tick noise), and ``replay`` of a measured CSV trace
(interpolated onto the tick grid and repeated when the run is longer than the trace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from ballast.control.build import ai_risk_mw
from ballast.data.errors import DataError
from ballast.data.traces import read_trace, replay_mw
from ballast.inputs.site import training_swings
from ballast.models.ai_swings import TrainingSwings, crash_times_s, training_level_chunk
from ballast.scenario import Scenario


@dataclass
class FineAi:
    """AI facility load [MW] per tick; ``chunk(i0, n)`` returns (load, floor fill) float32."""

    profile: str
    dt_s: float
    t0_s: float
    coarse_mw: np.ndarray  # per coarse step (flat, diurnal shape, or training full power)
    coarse_every: int
    seed: int = 0
    swings: TrainingSwings | None = None
    crashes_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    phase_s: float = 0.0
    noise_mw: float = 0.0
    trace_t_s: np.ndarray | None = None
    trace_mw: np.ndarray | None = None

    def chunk(self, i0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        every = self.coarse_every
        c0 = i0 // every
        c1 = (i0 + n - 1) // every + 1  # one past the last coarse row (no per-tick index array)
        skip = i0 - c0 * every
        fill = np.zeros(n, dtype=np.float32)
        if self.profile == "training":
            level = np.empty(n, dtype=np.float32)
            training_level_chunk(self.t0_s + i0 * self.dt_s, self.dt_s, self.swings.as_array(),
                                 self.crashes_s, self.phase_s, level, fill)
            scale_by_row(level, fill, self.coarse_mw[c0:c1], every, skip)
            return level, fill
        base = np.repeat(self.coarse_mw[c0:c1], every)[skip:skip + n] if n else np.zeros(0)
        if self.profile == "replay":
            elapsed_s = np.arange(i0, i0 + n) * self.dt_s
            return replay_mw(elapsed_s, self.trace_t_s, self.trace_mw).astype(np.float32), fill
        out = base.astype(np.float32)
        if self.noise_mw > 0:
            rng = np.random.default_rng([self.seed, i0])
            out = np.maximum(out + rng.normal(0, self.noise_mw, n).astype(np.float32), 0)
        return out.astype(np.float32), fill

    def risk(self, window_s: float) -> tuple[float, float, float]:
        """(idle [MW], max [MW], largest rise within ``window_s`` [MW]) for reserve sizing."""
        return ai_risk_mw(self.profile, window_s, self.coarse_mw, self.swings, self.trace_t_s,
                          self.trace_mw, self.noise_mw)


@njit(cache=True, nogil=True)
def scale_by_row(level, fill, coarse_mw, every, skip):
    """``level`` and ``fill`` (float32 shares, in place) times the coarse full power [MW] of
    their row (tick ``i`` is in row ``(skip + i) // every``), as float32: the float64 product
    rounded, as numpy's ``(level * np.repeat(coarse_mw, every)[skip:]).astype(float32)``.
    One compiled pass instead of numpy's five over the chunk (repeat, two products, two
    casts): a 1-s fortnight's training waveform for ``sim.fine.run_fine`` (with its float64
    copy then, which the kernel no longer needs) 6.3-7.3 vs 15.4-19.5 ns per tick, best of 7,
    shared machine (``benchmarks/bench_smoothing.py``, issue 17)."""
    c = 0
    k = skip
    for i in range(level.shape[0]):
        if k == every:  # next row (no division per tick)
            k = 0
            c += 1
        mw = coarse_mw[c]
        level[i] = np.float32(np.float64(level[i]) * mw)
        fill[i] = np.float32(np.float64(fill[i]) * mw)
        k += 1


def fine_ai(scenario: Scenario, coarse_ai_mw: np.ndarray, coarse_every: int, dt_s: float,
            t0_s: float, t1_s: float, base_dir: Path | None = None,
            floor: bool = True) -> FineAi:
    """Build the fine AI generator for a scenario (``coarse_ai_mw`` without noise)."""
    ai = scenario.ai
    seed = scenario.run.seed
    if ai is None:
        return FineAi("flat", dt_s, t0_s, np.zeros_like(coarse_ai_mw), coarse_every, seed)
    if ai.profile == "training":
        sw = training_swings(scenario, floor)
        try:
            sw.check(dt_s)
        except ValueError as exc:
            raise DataError("scenario ai.training", str(exc)) from None
        rng = np.random.default_rng(seed)
        phase = float(rng.uniform(0, max(sw.checkpoint_every_s, sw.swing_period_s, 1.0)))
        crashes = crash_times_s(t0_s, t1_s, sw.crashes_per_day, seed + 1)
        return FineAi("training", dt_s, t0_s, coarse_ai_mw, coarse_every, seed, sw, crashes,
                      phase)
    if ai.profile == "replay":
        r = ai.replay
        t, p = read_trace(r.source, r.time_column, r.power_column, base_dir)
        return FineAi("replay", dt_s, t0_s, coarse_ai_mw, coarse_every, seed, trace_t_s=t,
                      trace_mw=p)
    return FineAi(ai.profile, dt_s, t0_s, coarse_ai_mw, coarse_every, seed,
                  noise_mw=ai.noise_share * ai.it_load_mw * ai.pue)
