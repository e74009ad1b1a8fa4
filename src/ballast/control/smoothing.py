"""Smoothing rules: ramp-rate and dynamic-range limits on campus import, reserves sized from the
AI load's risk and the miners' dynamics, and an optional battery on the fast residual.

All compiled (numba) and called from ``control_tick_full``; the parameters travel as one float64
array (``SmoothingConfig.as_array``) and the rule's memory as two arrays (``SS_*`` scalars and a
ring buffer of recent AI readings), so backtest and live share one code path.

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

# parameter array layout
SP_ON, SP_RAMP_UP, SP_RAMP_DN, SP_RANGE, SP_TAU_TARGET = 0, 1, 2, 3, 4
SP_AI_IDLE, SP_AI_MAX, SP_AI_RISE, SP_TAU_FILL, SP_TAU_SHED = 5, 6, 7, 8, 9
SP_WINDOW, SP_STEP_SHARE, SP_COVER, SP_FILTER_N = 10, 11, 12, 13
SP_BATT_P, SP_BATT_E, SP_BATT_RECENTER_S, SP_BATT_SOC_TARGET = 14, 15, 16, 17
SP_MINERS = 18
SP_MAX_DT = 19  # longest time step the plan credits [s]
SP_SIZE = 20
# state array layout
SS_INIT, SS_PLAN, SS_TARGET, SS_LAST_T, SS_AI_SUM, SS_AI_POS, SS_AI_N = 0, 1, 2, 3, 4, 5, 6
SS_SIZE = 7
# info array layout (outputs of one tick)
INFO_RESERVE_UP, INFO_RESERVE_DOWN, INFO_BATTERY_MW, INFO_PLAN, INFO_AI_FILTERED = 0, 1, 2, 3, 4
INFO_SIZE = 5


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

    def as_array(self) -> np.ndarray:
        a = np.zeros(SP_SIZE)
        a[SP_ON] = 1.0 if self.enabled else 0.0
        a[SP_RAMP_UP], a[SP_RAMP_DN] = self.ramp_up_mw_per_s, self.ramp_down_mw_per_s
        a[SP_RANGE], a[SP_TAU_TARGET] = self.dynamic_range_mw, self.target_tau_s
        a[SP_AI_IDLE], a[SP_AI_MAX], a[SP_AI_RISE] = (self.ai_idle_mw, self.ai_max_mw,
                                                      self.ai_max_rise_mw)
        a[SP_TAU_FILL], a[SP_TAU_SHED] = self.fill_delay_s, self.shed_delay_s
        a[SP_WINDOW], a[SP_STEP_SHARE] = self.ramp_window_s, self.step_share
        a[SP_COVER], a[SP_FILTER_N] = self.reserve_cover_share, self.filter_ticks
        a[SP_BATT_P], a[SP_BATT_E] = self.battery_power_mw, self.battery_energy_mwh
        a[SP_BATT_RECENTER_S] = self.battery_recenter_s
        a[SP_BATT_SOC_TARGET] = self.battery_soc_target_share
        a[SP_MINERS] = 1.0 if self.use_miners else 0.0
        a[SP_MAX_DT] = self.max_step_s
        return a

    def new_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Fresh rule memory: (scalars, AI ring buffer)."""
        return np.zeros(SS_SIZE), np.zeros(self.filter_ticks)


@njit(cache=True, inline="always")
def filter_ai(ss, ai_buf, ai_mw, n_window):
    """Moving average of the AI reading over ``n_window`` ticks (a boxcar nulls a swing whose
    period divides the window, so miners do not chase what they cannot follow) [MW]."""
    n = min(int(n_window), ai_buf.shape[0])
    pos = int(ss[SS_AI_POS])
    if ss[SS_AI_N] < n:
        ss[SS_AI_N] += 1
    else:
        ss[SS_AI_SUM] -= ai_buf[pos]
    ai_buf[pos] = ai_mw
    ss[SS_AI_SUM] += ai_mw
    ss[SS_AI_POS] = (pos + 1) % n
    return ss[SS_AI_SUM] / ss[SS_AI_N]


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
def reserve_band(lo, hi, sp, ai_filtered_mw, full_mw, sleep_all_mw, info):
    """Narrow the miner band [lo, hi] for the up reserve (headroom to fill a crash) and the down
    reserve (running miners to shed on a restart). Returns (lo, hi, which) with which = 0 none,
    1 up reserve bound hi, 2 down reserve bound lo."""
    drop = max(0.0, ai_filtered_mw - sp[SP_AI_IDLE])
    rise = max(0.0, sp[SP_AI_MAX] - ai_filtered_mw) if np.isfinite(sp[SP_AI_MAX]) else 0.0
    up = reserve_fill_mw(drop, sp[SP_RAMP_DN], sp[SP_WINDOW], sp[SP_STEP_SHARE],
                         sp[SP_TAU_FILL], sp[SP_COVER])
    dn = reserve_fill_mw(rise, sp[SP_RAMP_UP], sp[SP_WINDOW], sp[SP_STEP_SHARE],
                         sp[SP_TAU_SHED], sp[SP_COVER])
    span = full_mw - sleep_all_mw
    if up + dn > span:  # cannot hold both: share the shortfall in proportion to the need
        scale = span / (up + dn)
        up *= scale
        dn *= scale
    info[INFO_RESERVE_UP] = up
    info[INFO_RESERVE_DOWN] = dn
    which = 0
    res_hi = max(full_mw - up, lo)  # obligations and safety above keep priority
    if up > 0.0 and res_hi < hi:
        hi = res_hi
        which = 1
    res_lo = min(sleep_all_mw + dn, hi)
    if dn > 0.0 and res_lo > lo:
        lo = res_lo
        which = 2
    return lo, hi, which


@njit(cache=True, inline="always")
def plan_import(ss, sp, wish_mw, dt_s):
    """Move the planned import toward ``wish_mw`` within the dynamic range around the slow
    target and within the ramp limits [MW]. Initialises on the first tick."""
    if ss[SS_INIT] == 0.0:
        ss[SS_PLAN] = wish_mw
        ss[SS_TARGET] = wish_mw
        return wish_mw
    plan = ss[SS_PLAN]
    target = ss[SS_TARGET]
    x = min(max(wish_mw, target - sp[SP_RANGE]), target + sp[SP_RANGE])
    budget = 1.0 - sp[SP_STEP_SHARE]  # the rest of the window budget is for the step
    x = min(max(x, plan - budget * sp[SP_RAMP_DN] * dt_s), plan + budget * sp[SP_RAMP_UP] * dt_s)
    return x


@njit(cache=True, inline="always")
def commit_plan(ss, sp, plan_mw, time_s, dt_s):
    """Store the plan that was actually achievable and move the slow target toward it."""
    if ss[SS_INIT] == 0.0:
        ss[SS_TARGET] = plan_mw
    else:
        k = min(1.0, dt_s / max(sp[SP_TAU_TARGET], 1e-9))
        ss[SS_TARGET] += (plan_mw - ss[SS_TARGET]) * k
    ss[SS_PLAN] = plan_mw
    ss[SS_LAST_T] = time_s
    ss[SS_INIT] = 1.0


@njit(cache=True, inline="always")
def battery_dispatch(sp, residual_mw, import_excess_mw, soc_mwh, dt_s):
    """Battery power [MW], discharge positive: cover ``residual_mw`` (import above plan), at
    least ``import_excess_mw`` (import above the limit), pull state of charge toward its target,
    within power and energy limits."""
    p_max = sp[SP_BATT_P]
    e_max = sp[SP_BATT_E]
    if p_max <= 0.0 or e_max <= 0.0:
        return 0.0
    recenter = (soc_mwh - sp[SP_BATT_SOC_TARGET] * e_max) * 3600.0 / max(sp[SP_BATT_RECENTER_S],
                                                                          1.0)
    b = residual_mw + recenter
    if b < import_excess_mw:
        b = import_excess_mw
    dt_h = max(dt_s, 1e-9) / 3600.0
    hi = max(0.0, min(p_max, soc_mwh / dt_h))
    lo = min(0.0, -min(p_max, (e_max - soc_mwh) / dt_h))
    return min(max(b, lo), hi)
