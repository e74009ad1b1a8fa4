"""Miner response dynamics: the PLANT between a controller command and the measured power.

A group of thousands of identical miners is aggregated without losing its step and latency
behaviour: the group keeps the count of miners commanded awake, its actual power [MW], and a
ring buffer of future *ramp-rate changes* [MW per tick]. A command to sleep k miners at tick t
adds a linear ramp of ``-k x (run - sleep)`` MW that starts ``latency`` later and lasts
``sleep_s``; a wake lasts ``wake_s``; a power-target (profile) move on the running miners ramps
at ``profile_rate`` (slower). Linear ramps superpose exactly, so the aggregate equals the sum of
the individual miners (each one still steps as a whole miner).

Hand-written because no library models ASIC sleep/wake fleets; numba-compiled so that the
backtest can step it 31.5 M times a year.

Defaults (docs/sources.md#miner-response): LuxOS ``curtail sleep`` reaches ~25 W in under
5 s, ``wakeup`` restores full power in under 10 s (Luxor / Hashrate Index, "How LuxOS Powers Down
Fast"); power-target moves take tens of seconds to minutes (evcc-braiins steps 300 W every few
minutes). Command latency of 1 s is our assumption for a LAN API round trip plus polling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ballast import numba_cache
from ballast import physics as _physics
from ballast.physics import group_power_mw

numba_cache.drop_stale(__file__, _physics.__file__)  # the plant inlines the site physics


@dataclass(frozen=True)
class MinerDynamics:
    """Response of one miner group [s] and its profile limits [share of nameplate power]."""

    latency_s: float = 1.0  # command to first power change (assumption: LAN API + poll)
    sleep_s: float = 5.0  # linear ramp to sleep power (LuxOS: < 5 s, docs/sources.md#miner-response)
    wake_s: float = 10.0  # linear ramp back to full power (LuxOS: < 10 s, docs/sources.md#miner-response)
    profile_ramp_s: float = 120.0  # full-range target move (tens of s-min, docs/sources.md#miner-response)
    min_power_share: float = 0.6  # lowest power target while hashing [-] (assumption)
    profile_step_share: float = 0.05  # power-target step [-] (~175 W on a 3.5 kW S21; evcc: 300 W)

    def response_s(self, direction: int) -> float:
        """Time from command to the end of a sleep (direction < 0) or wake (> 0) ramp [s]."""
        return self.latency_s + (self.wake_s if direction > 0 else self.sleep_s)


def ticks(seconds: float, dt_s: float) -> int:
    """A duration [s] as whole ticks (at least 1 for ramps; latency may be 0)."""
    return round(seconds / dt_s)


def ring_slots(dynamics: list[MinerDynamics], dt_s: float) -> int:
    """Ring-buffer length that holds every ramp a command can schedule."""
    longest = max([d.latency_s + max(d.sleep_s, d.wake_s, d.profile_ramp_s) for d in dynamics]
                  + [0.0])
    return ticks(longest, dt_s) + 3


@njit(cache=True, inline="always")
def plant_schedule_ramp(pending_rate, pos, g, delta_mw, latency_ticks, ramp_ticks):
    """Schedule a linear power change ``delta_mw`` for group ``g``. ``pos`` is the ring slot of
    the next tick; the ramp starts ``latency_ticks`` after it and spreads over ``ramp_ticks``
    (>= 1), so a command after tick t is complete at tick t + latency + ramp."""
    if delta_mw == 0.0:
        return
    slots = pending_rate.shape[0]
    r = max(ramp_ticks, 1)
    rate = delta_mw / r
    pending_rate[(pos + latency_ticks) % slots, g] += rate
    pending_rate[(pos + latency_ticks + r) % slots, g] -= rate


@njit(cache=True, inline="always")
def plant_command(pending_rate, pos, g, count, awake_now, awake_new, run_mw, sleep_mw,
                  profile_now, profile_new, latency_ticks, sleep_ticks, wake_ticks,
                  profile_ticks_full, min_power_share, raw_mw, rate):
    """Apply a new command (miners awake, profile share) to group ``g`` of ``count`` miners.

    Sleep/wake moves ramp over ``sleep_ticks``/``wake_ticks``; a profile move on the miners that
    stay awake ramps over ``profile_ticks_full x |share change| / (1 - min_power_share)``.
    Miners that wake come up at the new profile. Commands in the direction the group is already
    moving superpose (each cohort keeps its own ramp). A command that reverses a move still in
    flight re-plans the group: the schedule runs on through the latency, then the power ramps
    from wherever it is to the new target (a waking miner told to sleep powers down from where it
    is rather than finishing its wake).
    """
    slots = pending_rate.shape[0]
    e_old = group_power_mw(awake_now, count, run_mw * profile_now, sleep_mw)
    e_new = group_power_mw(awake_new, count, run_mw * profile_new, sleep_mw)
    # where the current schedule has the group when this command takes effect
    r = rate[g]
    p = raw_mw[g]
    for k in range(latency_ticks):
        r += pending_rate[(pos + k) % slots, g]
        p += r
    still = e_old - p
    if (e_new - e_old) * still < -1e-12:  # reversal: re-plan from the projected power
        for k in range(latency_ticks, slots):
            pending_rate[(pos + k) % slots, g] = 0.0
        if awake_new == awake_now:
            span = max(1.0 - min_power_share, 1e-9)
            dur = int(np.round(profile_ticks_full * abs(profile_new - profile_now) / span))
        else:
            dur = wake_ticks if e_new > p else sleep_ticks
        dur = max(dur, 1)
        new_rate = (e_new - p) / dur
        pending_rate[(pos + latency_ticks) % slots, g] = new_rate - r
        pending_rate[(pos + latency_ticks + dur) % slots, g] = -new_rate
        return
    keep = min(awake_now, awake_new)
    if profile_new != profile_now and keep > 0:
        span = max(1.0 - min_power_share, 1e-9)
        pt = int(np.round(profile_ticks_full * abs(profile_new - profile_now) / span))
        plant_schedule_ramp(pending_rate, pos, g, keep * run_mw * (profile_new - profile_now),
                            latency_ticks, pt)
    dn = awake_new - awake_now
    if dn > 0:
        plant_schedule_ramp(pending_rate, pos, g, dn * (run_mw * profile_new - sleep_mw),
                            latency_ticks, wake_ticks)
    elif dn < 0:
        plant_schedule_ramp(pending_rate, pos, g, dn * (run_mw * profile_now - sleep_mw),
                            latency_ticks, sleep_ticks)


@njit(cache=True, inline="always")
def plant_advance(pending_rate, pos, rate, raw_mw, power_mw, lo_mw, hi_mw):
    """Advance every group by one tick: pick up rate changes due now and move the superposed
    power ``raw_mw`` by the rate; the physical power ``power_mw`` is that, clipped to the
    group's range (a wake reversed by a sleep dips the sum below the sleep floor for a while;
    the miners themselves stay at it). Keeping the unclipped sum makes every command land
    exactly. Returns the next ring position.

    The clip is two ``if``s on the unclipped sum (the same result as ``if p < lo: ... elif
    p > hi: ...``, NaN included) and the due row a view: LLVM then vectorises the group loop.
    The ``if``/``elif`` form did not vectorise: a 1-s fortnight of 20 groups 239 vs 252 ns per
    tick best, 257 vs 285 median (9 runs each alternating in one process, shared machine);
    the loop and the power sum alone 27-30 vs 54-71 ns per tick (20 groups, best of 3)."""
    slots = pending_rate.shape[0]
    due = pending_rate[pos]
    for g in range(power_mw.shape[0]):
        r = rate[g] + due[g]
        rate[g] = r
        due[g] = 0.0
        p = raw_mw[g] + r
        raw_mw[g] = p
        if p > hi_mw[g]:
            p = hi_mw[g]
        if raw_mw[g] < lo_mw[g]:
            p = lo_mw[g]
        power_mw[g] = p
    return (pos + 1) % slots


def group_response_mw(commands: list[tuple[int, int, float]], n_ticks: int, dt_s: float,
                      count: int, run_mw: float, sleep_mw: float, dyn: MinerDynamics,
                      awake0: int | None = None) -> np.ndarray:
    """Power [MW] of one group over ``n_ticks`` for a list of ``(tick, awake, profile_share)``
    commands: the pure-function face of the plant, for tests, plots and studies."""
    awake = count if awake0 is None else awake0
    profile = 1.0
    slots = ring_slots([dyn], dt_s) + 1
    pending = np.zeros((slots, 1))
    rate = np.zeros(1)
    power = np.array([group_power_mw(awake, count, run_mw, sleep_mw)])
    raw = power.copy()
    lo = np.array([group_power_mw(0, count, run_mw, sleep_mw)])
    hi = np.array([group_power_mw(count, count, run_mw, sleep_mw)])
    by_tick = {t: (a, p) for t, a, p in commands}
    out = np.empty(n_ticks)
    pos = 0
    for t in range(n_ticks):
        pos = plant_advance(pending, pos, rate, raw, power, lo, hi)  # power at tick t
        out[t] = power[0]
        if t in by_tick:  # commanded after measuring tick t: first change at t + latency + 1
            a_new, p_new = by_tick[t]
            p_new = quantize_profile(p_new, dyn.min_power_share, dyn.profile_step_share)
            plant_command(pending, pos, 0, count, awake, a_new, run_mw, sleep_mw, profile, p_new,
                          ticks(dyn.latency_s, dt_s), max(1, ticks(dyn.sleep_s, dt_s)),
                          max(1, ticks(dyn.wake_s, dt_s)), ticks(dyn.profile_ramp_s, dt_s),
                          dyn.min_power_share, raw, rate)
            awake, profile = a_new, p_new
    return out


def quantize_profile(share: float, min_power_share: float, step_share: float) -> float:
    """A requested power-target share clipped to [min, 1] and rounded down to a whole step."""
    share = min(max(share, min_power_share), 1.0)
    if step_share <= 0:
        return share
    steps = np.floor((share - min_power_share) / step_share + 1e-9)
    return float(min(1.0, min_power_share + steps * step_share))
