"""One builder of the controller configuration, for every host (issue 17, "one controller").

``controller_config(scenario, tick_s, ...)`` is the only place a host turns a scenario into the
``ControllerConfig`` it steps: the backtest engine at any resolution, the fine engine (1 s,
100 ms; its cases switch miners, battery and smoothing), the smoothing studies and the live
runtime at the site's tick. Smoothing parameters are sized here from the spec, the AI load's
risk and the miners' dynamics.

Why here (``ballast.control``): the backtest (``ballast.sim``) and the live host
(``ballast.live``) both import ``ballast.control``, and the import contracts (pyproject.toml)
keep ``control`` below both hosts (the layers contract: below ``sim`` and ``programs``, beside
``inputs``) and forbid ``live`` to import ``sim``, so neither host reaches into the other to
build its controller. The AI risk the reserves are sized from is computed here too
(``ai_risk_mw``): the fine engine's waveform generator (``sim.fine_ai.FineAi``) calls it, and
a host without a waveform (live) gets it from the scenario's nameplate (``NameplateAi``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ballast.control.controller import ControllerConfig
from ballast.control.smoothing import SmoothingConfig
from ballast.data.errors import DataError
from ballast.data.traces import read_trace
from ballast.models.ai_swings import TrainingSwings, max_rise_share
from ballast.models.miner_dynamics import MinerDynamics
from ballast.physics import facility_mw
from ballast.scenario import Scenario
from ballast.scenario_smoothing import BatterySpec

FINEST_COARSE_S = 60.0  # smoothing runs at 1 min or finer (the fine engine's coarse step)


class AiRisk(Protocol):
    """What the smoothing rules need to know of the AI load: its risk and its swing."""

    swings: TrainingSwings | None

    def risk(self, window_s: float) -> tuple[float, float, float]: ...


def ai_risk_mw(
    profile: str,
    window_s: float,
    coarse_mw: np.ndarray,
    swings: TrainingSwings | None = None,
    trace_t_s: np.ndarray | None = None,
    trace_mw: np.ndarray | None = None,
    noise_mw: float = 0.0,
) -> tuple[float, float, float]:
    """(idle [MW], max [MW], largest rise within ``window_s`` [MW]) of an AI load for reserve
    sizing: ``coarse_mw`` its full power per coarse step, ``swings`` the training job,
    ``trace_*`` a replayed trace, ``noise_mw`` the per-tick noise of flat and diurnal loads."""
    full = float(np.max(coarse_mw)) if len(coarse_mw) else 0.0
    if profile == "training":
        return swings.idle_share * full, full, max_rise_share(swings, window_s) * full
    if profile == "replay":
        k = max(1, round(window_s / float(np.median(np.diff(trace_t_s)))))
        p = trace_mw
        rise = float(np.max(p[k:] - p[:-k])) if len(p) > k else float(np.ptp(p))
        return float(p.min()), float(p.max()), max(rise, float(np.max(np.diff(p))))
    lo = float(np.min(coarse_mw)) if len(coarse_mw) else 0.0
    return lo, full + 4 * noise_mw, 8 * noise_mw


@dataclass(frozen=True)
class NameplateAi:
    """The AI risk from the scenario alone, at the tenant's full facility load (no market data,
    no waveform): what a host without the backtest's inputs (live) sizes reserves from."""

    profile: str
    coarse_mw: np.ndarray
    swings: TrainingSwings | None = None
    trace_t_s: np.ndarray | None = None
    trace_mw: np.ndarray | None = None
    noise_mw: float = 0.0

    def risk(self, window_s: float) -> tuple[float, float, float]:
        return ai_risk_mw(
            self.profile, window_s, self.coarse_mw, self.swings, self.trace_t_s, self.trace_mw, self.noise_mw
        )


def nameplate_ai(scenario: Scenario, tick_s: float, base_dir: Path | None = None) -> NameplateAi:
    """``NameplateAi`` of the scenario; a training swing that ``tick_s`` cannot sample raises
    ``DataError`` naming ``ai.training``."""
    ai = scenario.ai
    if ai is None:
        return NameplateAi("flat", np.zeros(1))
    full = np.array([facility_mw(ai.it_load_mw, ai.pue)])
    if ai.profile == "training":
        sw = TrainingSwings.from_spec(scenario.ai.training)
        try:
            sw.check(tick_s)
        except ValueError as exc:
            raise DataError("scenario ai.training", str(exc)) from None
        return NameplateAi("training", full, sw)
    if ai.profile == "replay":
        r = ai.replay
        t, p = read_trace(r.source, r.time_column, r.power_column, base_dir)
        return NameplateAi("replay", full, trace_t_s=t, trace_mw=p)
    return NameplateAi(ai.profile, full, noise_mw=ai.noise_share * ai.it_load_mw * ai.pue)


def dynamics_of(scenario: Scenario) -> list[MinerDynamics]:
    """The miner dynamics per group (the controller must know how slow its miners are)."""
    return [MinerDynamics(**g.dynamics.model_dump()) for g in scenario.miners]


def smoothing_config(
    scenario: Scenario,
    ai: AiRisk,
    dt_s: float,
    *,
    miners: bool = True,
    battery: BatterySpec | None = None,
    enabled: bool | None = None,
) -> SmoothingConfig:
    """The controller's smoothing parameters: the spec plus the AI risk and the miner dynamics
    it sizes reserves from."""
    spec = scenario.smoothing
    dyn = dynamics_of(scenario) or [MinerDynamics()]
    shed_s = max(d.latency_s + d.sleep_s for d in dyn) + dt_s
    idle, top, rise = ai.risk(shed_s)
    on = spec is not None and spec.enabled if enabled is None else enabled
    if spec is None:
        return SmoothingConfig(
            enabled=False, ai_idle_mw=idle, ai_max_mw=top, ai_max_rise_mw=rise, tick_s=dt_s
        )
    filt = spec.ai_filter_s
    if filt is None:
        filt = ai.swings.swing_period_s if ai.swings is not None else 0.0
    return SmoothingConfig(
        enabled=on,
        ramp_up_mw_per_s=spec.ramp_up_mw_per_s,
        ramp_down_mw_per_s=spec.ramp_down_mw_per_s,
        dynamic_range_mw=spec.dynamic_range_limit_mw,
        target_tau_s=spec.target_tau_s,
        ramp_window_s=spec.ramp_window_s,
        step_share=spec.step_share,
        reserve_cover_share=spec.reserve_cover_share,
        ai_idle_mw=idle,
        ai_max_mw=top,
        ai_max_rise_mw=rise,
        fill_delay_s=max(d.latency_s + d.wake_s / 2 for d in dyn),
        shed_delay_s=max(d.latency_s + d.sleep_s / 2 for d in dyn),
        ai_filter_s=filt,
        tick_s=dt_s,
        use_miners=miners,
        battery_power_mw=battery.power_mw if battery else 0.0,
        battery_energy_mwh=battery.energy_mwh if battery else 0.0,
    )


def controller_config(
    scenario: Scenario,
    tick_s: float,
    *,
    ai: AiRisk | None = None,
    baseline: bool = False,
    miners: bool | None = None,
    battery: BatterySpec | Literal["scenario"] | None = "scenario",
    smoothing: bool | None = None,
    base_dir: Path | None = None,
) -> ControllerConfig:
    """The controller configuration of ``scenario`` for a host that steps it every ``tick_s``.

    - ``baseline``: business as usual (every miner on wherever the interconnect allows: no
      economic dispatch, no renewable absorption, no restore ramp, smoothing off);
    - smoothing is sized when the host runs a waveform (``ai``: the fine engine's generator)
      or the scenario has a ``smoothing`` section (then, without ``ai``, from the scenario's
      nameplate: ``nameplate_ai``); otherwise the rule stack has no smoothing (the backtest
      at 1 min and coarser, live without smoothing);
    - ``miners``: whether miners smooth (False: economics only, the plan is the battery's;
      None: the spec's ``enabled``); ``battery``: the battery the plan may use (default: the
      scenario's); ``smoothing``: on or off (None: when miners smooth or there is a battery,
      so a battery smooths alone under a disabled spec, as the fine engine's Ballast case).
    """
    if baseline:
        cfg = ControllerConfig.from_scenario(
            scenario, economic_dispatch=False, absorb_renewables=False, restore_ramp=False
        )
    else:
        cfg = ControllerConfig.from_scenario(scenario)
    if ai is None and scenario.smoothing is None:
        return cfg
    if ai is None:
        ai = nameplate_ai(scenario, tick_s, base_dir)
    batt = scenario.battery if battery == "scenario" else battery
    spec = scenario.smoothing
    if miners is None:
        miners = spec is not None and spec.enabled
    on = (miners or batt is not None) if smoothing is None else smoothing
    return replace(
        cfg,
        smoothing=smoothing_config(
            scenario, ai, tick_s, miners=miners, battery=batt, enabled=on and not baseline
        ),
    )


def smoothing_tick_problem(scenario: Scenario, tick_s: float) -> str | None:
    """Why a host stepping every ``tick_s`` cannot run the scenario's smoothing, or None: the
    smoothing runs at 1 min or finer (as the fine engine), a tick must be at most half the
    spec's ramp window (the window's ramp is shaped over at least two decisions), and the
    training swing must be sampled at least twice per period (Nyquist, ``TrainingSwings.
    check``; also for a disabled spec: its AI risk still sizes the import limit's headroom
    for the AI's fastest rise)."""
    spec = scenario.smoothing
    if spec is None:
        return None
    most_s = min(FINEST_COARSE_S, spec.ramp_window_s / 2)
    if (spec.enabled or scenario.battery is not None) and tick_s > most_s:
        why = (
            "smoothing runs at 1 min or finer"
            if most_s == FINEST_COARSE_S
            else f"half the smoothing.ramp_window_s of {spec.ramp_window_s:g} s"
        )
        return f"the tick must be at most {most_s:g} s ({why})"
    ai = scenario.ai
    if ai is not None and ai.profile == "training":
        try:
            TrainingSwings.from_spec(scenario.ai.training).check(tick_s)
        except ValueError as exc:
            return str(exc)
    return None
