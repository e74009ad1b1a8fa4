"""Invariants of the fault campaign (``emulators.faults``), shared by its test and benchmark.

1. Steady-state import <= limit. The true import (site physics, not the meter the runtime
   reads) may exceed the limit only while the miners physically ramp down after a rise of the
   true load. That allowance [s] is (:func:`ramp_allowance_s`)::

       allowance = detect + see + rounds * (command + ramp)
       see     = max(meter_poll, ai_poll) + physics_dt    the rise reaches a reading
       command = tick + 2 * fleet_timeout * (retries + 1) the next tick, whose commands may
                                                          wait behind a fleet read-back
                                                          holding the command lock
       ramp    = SLEEP_RAMP_S / time_scale                a sleeping miner's power falls
                                                          linearly to ~25 W (dynamics.py)
       detect  = 0                       a NaN/inf/out-of-range value is refused at once
               = meter_stale + meter_timeout  meter dropped/stalled/frozen: the watchdog
               (+ frozen_s for a frozen meter, the time identical values take to count as frozen)
       rounds  = 2 for miner faults (the first command finds the miners that ignore it,
                 the next tick makes up with others), else 1

   A rise lasting ``rise`` seconds opens the window [t_change, t_change + rise + allowance].
2. No gap between two ticks of one runtime over ``MAX_TICK_GAP_S`` (2 s, issue 9).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ballast.live.emulators.catalog import SLEEP_POWER_W
from ballast.live.emulators.dynamics import SLEEP_RAMP_S
from ballast.live.emulators.faults import Episode

MAX_TICK_GAP_S = 2.0


@dataclass(frozen=True)
class Timing:
    """The timings the allowance is derived from [s, on the driver's clock]."""

    tick_s: float
    meter_poll_s: float
    ai_poll_s: float
    fleet_timeout_s: float
    fleet_retries: int
    meter_stale_s: float
    meter_timeout_s: float
    frozen_s: float
    physics_dt_s: float
    time_scale: float = 1.0  # device time per driver second (emulated_campus: 10)


def ramp_allowance_s(t: Timing, ep: Episode, fault_on: bool) -> float:
    """How long the true import may exceed the limit after a rise of the true load
    (module docstring); ``fault_on``: the fault is active when the rise starts."""
    see = max(t.meter_poll_s, t.ai_poll_s) + t.physics_dt_s
    command = t.tick_s + 2.0 * t.fleet_timeout_s * (t.fleet_retries + 1)
    ramp = SLEEP_RAMP_S / t.time_scale
    detect = 0.0
    if fault_on and ep.kind in ("meter_drop", "meter_stall", "meter_frozen"):
        detect = t.meter_stale_s + t.meter_timeout_s
        if ep.kind == "meter_frozen":
            detect += t.frozen_s
    rounds = 2 if ep.kind.startswith("miners_") else 1
    return detect + see + rounds * (command + ramp)


def allowed_windows(t: Timing, ep: Episode, t0: float) -> list[tuple[float, float]]:
    """Windows [start, end) on the driver's clock where the import may exceed the limit: after
    the episode's first instant (the load jumps from the previous episode's end) and after
    its load change. ``t0``: the episode's start."""
    first = ramp_allowance_s(t, ep, ep.fault_active(0.0))
    change = ramp_allowance_s(t, ep, ep.fault_active(ep.ai_change_at_s))
    return [(t0, t0 + first),
            (t0 + ep.ai_change_at_s, t0 + ep.ai_change_at_s + ep.ai_rise_s + change)]


@dataclass(frozen=True)
class Overshoot:
    """A stretch of samples with the true import over the limit (+ tolerance)."""

    start_s: float
    end_s: float
    worst_mw: float  # worst import minus limit [MW]
    outside_worst_mw: float  # the same over the samples outside the allowed windows (0: none)
    outside_s: float  # time of the stretch outside the allowed windows [s]

    @property
    def allowed(self) -> bool:
        return self.outside_s == 0.0 and self.outside_worst_mw == 0.0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def overshoots(times_s: Sequence[float], import_mw: Sequence[float], limit_mw: float,
               windows: Sequence[tuple[float, float]], tolerance_mw: float = 1e-6
               ) -> list[Overshoot]:
    """Stretches of consecutive samples over ``limit_mw + tolerance_mw``; a stretch ends at
    the first sample back under it. Each sample counts until the next one."""
    out: list[Overshoot] = []
    cur: list[float] | None = None  # start, worst, outside worst, outside time
    n = len(times_s)
    for i, (t, p) in enumerate(zip(times_s, import_mw, strict=True)):
        over = p - limit_mw
        if over > tolerance_mw:
            if cur is None:
                cur = [t, over, 0.0, 0.0]
            cur[1] = max(cur[1], over)
            if not any(a <= t < b for a, b in windows):
                cur[2] = max(cur[2], over)
                cur[3] += (times_s[i + 1] - t) if i + 1 < n else 0.0
        elif cur is not None:
            out.append(Overshoot(cur[0], t, cur[1], cur[2], cur[3]))
            cur = None
    if cur is not None:
        out.append(Overshoot(cur[0], times_s[-1], cur[1], cur[2], cur[3]))
    return out


def model_mismatch_mw(plan: Sequence[Any]) -> float:
    """Tolerance on the import [MW]: the emulated site applies each group's cooling PUE to a
    sleeping miner's ``SLEEP_POWER_W`` as well, the controller's catalog (``sleep_mw``) does
    not, so with every miner asleep the true import exceeds the controller's plan by this."""
    return sum(len(g.ips) * g.miners_per_device * (g.pue - 1.0) * SLEEP_POWER_W / 1e6
               for g in plan)


def tick_gaps_over(times_s: Sequence[float], max_gap_s: float = MAX_TICK_GAP_S
                   ) -> list[tuple[float, float]]:
    """(time, gap) for every gap between consecutive ticks over ``max_gap_s`` [s]."""
    return [(b, b - a) for a, b in itertools.pairwise(times_s) if b - a > max_gap_s]


def runtime_state(rt: Any) -> dict[str, Any]:
    """What a hostile request must not change: policy, group modes, DR events, the relay."""
    return {"policy": dict(vars(rt.policy)), "modes": dict(rt.modes),
            "dr_events": sorted(rt.dr_events), "ufr_tripped": rt.ufr_tripped}


def restore_state(rt: Any, before: dict[str, Any]) -> None:
    """Undo what an accepted hostile request changed, so that later episodes judge their own
    fault (the violation is already counted)."""
    rt.policy = type(rt.policy)(**before["policy"])
    rt.modes.update(before["modes"])
    for ev_id in set(rt.dr_events) - set(before["dr_events"]):
        rt.cancel_dr_event(ev_id)


def hostile_verdict(name: str, status: int, before: dict[str, Any], after: dict[str, Any]
                    ) -> list[str]:
    """Violations of one hostile request: a 5xx, an acceptance (2xx/3xx), a state change."""
    out = []
    if status >= 500:
        out.append(f"hostile request {name}: HTTP {status} (5xx)")
    elif status < 400:
        out.append(f"hostile request {name}: accepted (HTTP {status})")
    if after != before:
        out.append(f"hostile request {name} changed the state: {before} -> {after}")
    return out


def asleep_mw(plan: Sequence[Any]) -> float:
    """True power of every emulated miner asleep [MW] (``SLEEP_POWER_W`` each, scaled and
    with cooling): the floor under any cap on miner power."""
    return sum(len(g.ips) * g.miners_per_device * g.pue * SLEEP_POWER_W / 1e6 for g in plan)
