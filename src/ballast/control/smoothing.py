"""Smoothing rules: ramp-rate and dynamic-range limits on campus import, reserves sized from the
AI load's risk and the miners' dynamics, and an optional battery on the fast residual.

All compiled (numba) and called by the rule stack (``control/stack.py``); the parameters are
fields of the stack's parameter record (``records.PARAMS_DTYPE``, written by
``SmoothingConfig.write``) and the rule's memory a record (``records.SMOOTH_DTYPE``) and a ring
buffer of recent AI readings, so backtest and live share one code path.

Reserve sizing (hand-derived, no library does it). A ramp spec allows a change of ``L x W`` MW
within a window of ``W`` s. An AI drop of ``D`` MW arrives as a step; miners woken by the
controller fill ``F`` MW of it after an effective delay ``tau`` (latency + half the wake ramp),
so the window sees ``(D - F) + F x tau / W`` of change. We keep ``step_share`` of the window's
budget for that step and the rest for the controlled ramp that follows, hence

    F = cover x max(0, D - step_share x L x W) / (1 - tau / W),

headroom the controller keeps by holding miners asleep (the least efficient first, so the
reserve costs the smallest margin in the merit order). The same holds downward for a job
restart with running miners that can shed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

# the memory's field positions, for hosts that save it (live/resume.py)
from ballast.control.records import SS_AI_N as SS_AI_N
from ballast.control.records import SS_AI_POS as SS_AI_POS
from ballast.control.records import SS_AI_SUM as SS_AI_SUM
from ballast.control.records import SS_INIT as SS_INIT
from ballast.control.records import SS_LAST_T as SS_LAST_T
from ballast.control.records import SS_PLAN as SS_PLAN
from ballast.control.records import SS_SIZE as SS_SIZE
from ballast.control.records import SS_TARGET as SS_TARGET


@dataclass(frozen=True)
class SmoothingConfig:
    """Smoothing spec and the AI risk the controller sizes reserves from. Powers [MW] facility,
    rates [MW/s], times [s]. ``enabled=False`` (the default) leaves the rule stack unchanged."""

    enabled: bool = False
    ramp_up_mw_per_s: float = np.inf
    ramp_down_mw_per_s: float = np.inf
    dynamic_range_mw: float = np.inf  # allowed deviation of import from its slow target
    target_tau_s: float = 300.0  # time constant of the slow target
    ramp_window_s: float = 60.0  # window over which the spec measures ramps
    step_share: float = 0.8  # share of the window's ramp budget kept for an unavoidable step
    reserve_cover_share: float = 1.0  # share of the sized reserve actually held [-]
    ai_idle_mw: float = 0.0  # AI power after a crash or in a checkpoint
    ai_max_mw: float = np.inf  # most the AI can draw
    ai_max_rise_mw: float = 0.0  # largest AI rise within the slowest miner shed response
    fill_delay_s: float = 6.0  # latency + half the wake ramp of the reserve miners
    shed_delay_s: float = 3.5  # latency + half the sleep ramp
    ai_filter_s: float = 0.0  # moving-average window on the AI reading (>= its swing period)
    tick_s: float = 1.0  # controller cadence
    battery_power_mw: float = 0.0
    battery_energy_mwh: float = 0.0
    battery_recenter_s: float = 1800.0  # time constant pulling state of charge to its target
    battery_soc_target_share: float = 0.5
    use_miners: bool = True  # False: miners follow economics only; the plan is the battery's
    # longest time step the plan and its target credit [s]: live, a wall-clock jump of the
    # snapshot's clock earns no ramp and moves no target (as the restore ramp's max step)
    max_step_s: float = np.inf

    @property
    def filter_ticks(self) -> int:
        return max(1, round(self.ai_filter_s / self.tick_s))

    def write(self, p: np.void) -> None:
        """Write these parameters into a parameter record (``records.PARAMS_DTYPE``)."""
        p["smoothing_on"] = self.enabled
        p["smooth_with_miners"] = self.use_miners
        p["ramp_up_mw_per_s"], p["ramp_down_mw_per_s"] = (self.ramp_up_mw_per_s,
                                                          self.ramp_down_mw_per_s)
        p["dynamic_range_mw"], p["target_tau_s"] = self.dynamic_range_mw, self.target_tau_s
        p["ai_idle_mw"], p["ai_max_mw"] = self.ai_idle_mw, self.ai_max_mw
        p["ai_max_rise_mw"] = self.ai_max_rise_mw
        p["fill_delay_s"], p["shed_delay_s"] = self.fill_delay_s, self.shed_delay_s
        p["ramp_window_s"], p["step_share"] = self.ramp_window_s, self.step_share
        p["reserve_cover_share"], p["ai_filter_ticks"] = (self.reserve_cover_share,
                                                          self.filter_ticks)
        p["battery_power_mw"], p["battery_energy_mwh"] = (self.battery_power_mw,
                                                          self.battery_energy_mwh)
        p["battery_recenter_s"] = self.battery_recenter_s
        p["battery_soc_target_share"] = self.battery_soc_target_share
        p["smoothing_max_step_s"] = self.max_step_s

    def new_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Fresh rule memory: (scalars, AI ring buffer)."""
        return np.zeros(SS_SIZE), np.zeros(self.filter_ticks)  # records.SMOOTH_DTYPE


@njit(cache=True, inline="always")
def filter_ai(ss, ai_buf, ai_mw, n_window):
    """Moving average of the AI reading over ``n_window`` ticks (a boxcar nulls a swing whose
    period divides the window, so miners do not chase what they cannot follow) [MW]. ``ss`` is
    the smoothing memory record, ``ai_buf`` its ring buffer; both updated in place."""
    n = min(int(n_window), ai_buf.shape[0])
    pos = int(ss.ai_pos)
    if ss.ai_count < n:
        ss.ai_count += 1
    else:
        ss.ai_sum_mw -= ai_buf[pos]
    ai_buf[pos] = ai_mw
    ss.ai_sum_mw += ai_mw
    nxt = pos + 1
    ss.ai_pos = nxt if nxt < n else nxt % n  # the modulo only at the wrap (1-s loop: per tick)
    return ss.ai_sum_mw / ss.ai_count


@njit(cache=True, inline="always")
def reserve_fill_mw(drop_mw, ramp_mw_per_s, window_s, step_share, delay_s, cover):
    """Miner headroom [MW] needed to keep a step of ``drop_mw`` within the window ramp budget."""
    need = drop_mw - step_share * ramp_mw_per_s * window_s
    if need <= 0.0:
        return 0.0
    frac = 1.0 - delay_s / window_s
    if frac <= 0.05:  # miners too slow for this window: they would have to cover it all
        frac = 0.05
    return cover * min(drop_mw, need / frac)


@njit(cache=True, inline="always")
def reserve_sizes_mw(p, ai_filtered_mw, full_mw, sleep_all_mw):
    """(up, down) reserves [MW]: headroom to fill an AI crash to idle, running miners to shed
    on a rise to the AI's maximum; when the miners cannot hold both, the shortfall is shared in
    proportion to the need. ``p`` is the parameter record."""
    drop = max(0.0, ai_filtered_mw - p.ai_idle_mw)
    rise = max(0.0, p.ai_max_mw - ai_filtered_mw) if np.isfinite(p.ai_max_mw) else 0.0
    up = reserve_fill_mw(drop, p.ramp_down_mw_per_s, p.ramp_window_s, p.step_share,
                         p.fill_delay_s, p.reserve_cover_share)
    dn = reserve_fill_mw(rise, p.ramp_up_mw_per_s, p.ramp_window_s, p.step_share,
                         p.shed_delay_s, p.reserve_cover_share)
    span = full_mw - sleep_all_mw
    if up + dn > span:  # cannot hold both: share the shortfall in proportion to the need
        scale = span / (up + dn)
        up *= scale
        dn *= scale
    return up, dn


@njit(cache=True, inline="always")
def plan_import(ss, p, wish_mw, dt_s):
    """Move the planned import toward ``wish_mw`` within the dynamic range around the slow
    target and within the ramp limits [MW]. Initialises on the first tick."""
    if ss.started == 0.0:
        ss.plan_mw = wish_mw
        ss.target_mw = wish_mw
        return wish_mw
    plan = ss.plan_mw
    target = ss.target_mw
    x = min(max(wish_mw, target - p.dynamic_range_mw), target + p.dynamic_range_mw)
    budget = 1.0 - p.step_share  # the rest of the window budget is for the step
    x = min(max(x, plan - budget * p.ramp_down_mw_per_s * dt_s),
            plan + budget * p.ramp_up_mw_per_s * dt_s)
    return x


@njit(cache=True, inline="always")
def commit_plan(ss, p, plan_mw, time_s, dt_s):
    """Store the plan that was actually achievable and move the slow target toward it."""
    if ss.started == 0.0:
        ss.target_mw = plan_mw
    else:
        k = min(1.0, dt_s / max(p.target_tau_s, 1e-9))
        ss.target_mw += (plan_mw - ss.target_mw) * k
    ss.plan_mw = plan_mw
    ss.last_time_s = time_s
    ss.started = 1.0


@njit(cache=True, inline="always")
def battery_dispatch(p, residual_mw, import_excess_mw, soc_mwh, dt_s):
    """Battery power [MW], discharge positive: cover ``residual_mw`` (import above plan), at
    least ``import_excess_mw`` (import above the limit), pull state of charge toward its target,
    within power and energy limits."""
    p_max = p.battery_power_mw
    e_max = p.battery_energy_mwh
    if p_max <= 0.0 or e_max <= 0.0:
        return 0.0
    recenter = ((soc_mwh - p.battery_soc_target_share * e_max) * 3600.0
                / max(p.battery_recenter_s, 1.0))
    b = residual_mw + recenter
    if b < import_excess_mw:
        b = import_excess_mw
    dt_h = max(dt_s, 1e-9) / 3600.0
    hi = max(0.0, min(p_max, soc_mwh / dt_h))
    lo = min(0.0, -min(p_max, (e_max - soc_mwh) / dt_h))
    return min(max(b, lo), hi)
