"""AI load waveforms from sub-second to hours [MW], seeded, generated chunk by chunk.

Synchronous training (Choukse et al., arXiv 2508.14318; Llama 3, arXiv 2407.21783 §3.3.4;
docs/sources.md#ai-power-swings) is modelled as a share of the job's full power, ``level(t)`` in [0, 1]:

- iteration swings: a square wave of period ``swing_period_s`` (1-30 s), ``duty`` of each period
  at full compute, the rest ``swing_amplitude_share`` lower (communication phases);
- checkpoint dips: every ``checkpoint_every_s`` the job drops to ``idle_share`` for
  ``checkpoint_s``;
- job crashes: a seeded Poisson process (``crashes_per_day``; Llama 3 saw 466 interruptions in
  54 days, ~8.6 a day); the job drops to idle and returns ``restart_s`` later;
- start ramps: after a restart the job climbs linearly from idle over ``start_ramp_s``.

A GPU power floor (``floor_share``, Choukse et al.: GB200 floors of at most 90% of TDP) lifts
the level while the job holds its GPUs; we assume it does not hold through a crash (the job is
gone), and report the energy it burns as ``fill``.

Each tick carries the average of the iteration square wave over the tick (as a meter reports
it); checkpoint and crash edges fall on tick starts. A swing faster than two ticks cannot be
resolved and is rejected (Nyquist). Inference (diurnal + noise) and replay of a measured CSV trace are in
``ballast.sim.fine_ai``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

DAY_S = 86_400.0


@dataclass(frozen=True)
class TrainingSwings:
    """Parameters of one synchronous training job (shares of its full power)."""

    swing_amplitude_share: float = 0.3  # depth of communication phases (PNNL: 10-100% swings)
    swing_period_s: float = 4.0  # 0.25 Hz: Choukse et al. put most energy at 0.2-3 Hz
    duty: float = 0.7  # share of each iteration at full compute (assumption)
    idle_share: float = 0.15  # near-idle level in checkpoints and after a crash (assumption)
    checkpoint_every_s: float = 1800.0  # assumption: a checkpoint every 30 min
    checkpoint_s: float = 60.0  # assumption
    crashes_per_day: float = 8.6  # Llama 3: 466 interruptions in 54 days (arXiv 2407.21783)
    restart_s: float = 600.0  # "returns minutes later" (assumption: 10 min)
    start_ramp_s: float = 30.0  # idle to full after a restart (assumption)
    floor_share: float = 0.0  # GPU power floor [share of full]; 0 = off

    @classmethod
    def from_spec(cls, spec: Any, floor: bool = True) -> TrainingSwings:
        """From a scenario's ``ai.training`` section (any object with its fields; the model
        imports no scenario), optionally without the GPU floor."""
        return cls(
            swing_amplitude_share=spec.swing_amplitude_share, swing_period_s=spec.swing_period_s,
            duty=spec.duty, idle_share=spec.idle_share,
            checkpoint_every_s=spec.checkpoint_every_s, checkpoint_s=spec.checkpoint_s,
            crashes_per_day=spec.crashes_per_day, restart_s=spec.restart_s,
            start_ramp_s=spec.start_ramp_s,
            floor_share=spec.gpu_power_floor_share if floor else 0.0)

    def as_array(self) -> np.ndarray:
        return np.array([self.swing_amplitude_share, self.swing_period_s, self.duty,
                         self.idle_share, self.checkpoint_every_s, self.checkpoint_s,
                         self.restart_s, self.start_ramp_s, self.floor_share], dtype="float64")

    def check(self, dt_s: float, label: str = "ai.training") -> None:
        """Raise ValueError naming the field when the swing cannot be sampled at ``dt_s``."""
        if self.swing_amplitude_share > 0 and self.swing_period_s < 2 * dt_s:
            raise ValueError(f"{label}.swing_period_s={self.swing_period_s} s is shorter than two "
                             f"ticks of {dt_s} s: the swing cannot be resolved (Nyquist); use a "
                             "finer resolution or a longer period")


def crash_times_s(t0_s: float, t1_s: float, crashes_per_day: float, seed: int) -> np.ndarray:
    """Seeded Poisson crash instants [UNIX s] in [t0, t1), sorted."""
    if crashes_per_day <= 0 or t1_s <= t0_s:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    mean_gap_s = DAY_S / crashes_per_day
    expected = int((t1_s - t0_s) / mean_gap_s * 1.5) + 20
    times = t0_s + np.cumsum(rng.exponential(mean_gap_s, expected))
    while times[-1] < t1_s:  # rare: draw more
        times = np.concatenate([times, times[-1] + np.cumsum(rng.exponential(mean_gap_s, 100))])
    return times[times < t1_s]


@njit(cache=True)
def _overlap(a0, a1, b0, b1):
    """Length of the overlap of [a0, a1) and [b0, b1)."""
    return max(0.0, min(a1, b1) - max(a0, b0))


@njit(cache=True, nogil=True)
def training_level_chunk(t0_s, dt_s, p, crashes_s, phase_s, out_level, out_fill):
    """Fill ``out_level`` (job power as a share of full, with any floor) and ``out_fill`` (share
    added by the floor) for ticks t0, t0 + dt, ... ``p`` = ``TrainingSwings.as_array()``;
    ``phase_s`` offsets the iteration and checkpoint clocks (seeded by the caller)."""
    amp, period, duty, idle, ck_every, ck_s, restart_s, ramp_s, floor = (
        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8])
    n = out_level.shape[0]
    nc = crashes_s.shape[0]
    k = np.searchsorted(crashes_s, t0_s - restart_s - ramp_s)
    # phases inside the iteration and checkpoint cycles, advanced per tick (one fmod per chunk:
    # fmod of UNIX seconds by a few seconds is slow)
    ph_ck = (t0_s + phase_s) % ck_every if ck_every > 0 else 0.0
    ph_sw = (t0_s + phase_s) % period if period > 0 else 0.0
    for i in range(n):
        t = t0_s + i * dt_s
        if i > 0:
            ph_ck += dt_s
            if ck_every > 0 and ph_ck >= ck_every:
                ph_ck -= ck_every
            ph_sw += dt_s
            if period > 0 and ph_sw >= period:
                ph_sw -= period
        while k < nc and crashes_s[k] + restart_s + ramp_s <= t:
            k += 1
        # crash state: down for restart_s after the latest crash at or before t, then a ramp
        down = False
        ramp = 1.0
        j = k
        while j < nc and crashes_s[j] <= t:
            since = t - crashes_s[j]
            if since < restart_s:
                down = True
            elif since < restart_s + ramp_s:
                ramp = min(ramp, (since - restart_s) / ramp_s)
            j += 1
        if down:
            out_level[i] = idle
            out_fill[i] = 0.0
            continue
        if ck_every > 0 and ph_ck < ck_s:
            level = idle
        else:
            level = 1.0
            if amp > 0 and period > 0:  # average over the tick of the square wave
                low = _overlap(ph_sw, ph_sw + dt_s, duty * period, period) + _overlap(
                    ph_sw, ph_sw + dt_s, period + duty * period, 2 * period)
                level = 1.0 - amp * low / dt_s
            level = idle + (level - idle) * ramp
            if level < idle:
                level = idle
        lifted = level
        if floor > lifted:
            lifted = floor
        out_level[i] = lifted
        out_fill[i] = lifted - level


def max_rise_share(sw: TrainingSwings, window_s: float) -> float:
    """Largest rise of the training level within ``window_s`` [share of full]: one swing edge
    plus the start ramp over the window (used to size the import-limit reserve)."""
    ramp = (1.0 - sw.idle_share) * min(1.0, window_s / max(sw.start_ramp_s, 1e-9))
    swing = sw.swing_amplitude_share if sw.floor_share < 1.0 else 0.0
    checkpoint_end = 1.0 - max(sw.idle_share, sw.floor_share)  # a checkpoint ends as a step
    return float(min(1.0, max(ramp + swing, checkpoint_end if sw.checkpoint_s > 0 else 0.0)))


def mean_level_share(sw: TrainingSwings) -> float:
    """Expected training level over a long period [share of full]: swings, checkpoints and the
    share of time down or ramping after crashes (for runs too coarse to resolve them)."""
    running = sw.duty + (1 - sw.duty) * max(1 - sw.swing_amplitude_share, sw.floor_share)
    ck = sw.checkpoint_s / sw.checkpoint_every_s if sw.checkpoint_every_s > 0 else 0.0
    ck = min(ck, 1.0)
    up = (1 - ck) * running + ck * max(sw.idle_share, sw.floor_share)
    # down (or half-way up a start ramp) if a crash fell in the window before: Poisson
    down = 1.0 - np.exp(-sw.crashes_per_day / DAY_S * (sw.restart_s + sw.start_ramp_s / 2))
    return float((1 - down) * up + down * sw.idle_share)
