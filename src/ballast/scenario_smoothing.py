# ruff: noqa: E501  (one field per line: descriptions are the schema documentation)
"""Scenario sections for smoothing: training swings, trace replay, miner dynamics, battery and
the smoothing spec. Kept apart from ``scenario.py`` so that file only gains a few fields."""

from __future__ import annotations

import math

from pydantic import Field

from ballast.documents import StrictModel


class TrainingSpec(StrictModel):
    """Synchronous training job (``ai.profile: training``); shares of the job's full power."""

    swing_amplitude_share: float = Field(0.3, ge=0, le=1, description="Iteration swing depth [-]. Default 0.3 (PNNL, Biswas et al. 2026: 10-100% swings; docs/sources.md#ai-power-swings).")
    swing_period_s: float = Field(4.0, ge=0.05, le=600, description="Iteration period [s] (1-30 s typical). Default 4 (0.25 Hz; Choukse et al.: energy mostly at 0.2-3 Hz).")
    duty: float = Field(0.7, gt=0, le=1, description="Share of each iteration at full compute [-]. Default 0.7 (assumption).")
    idle_share: float = Field(0.15, ge=0, le=1, description="Near-idle level in checkpoints and after a crash [-]. Default 0.15 (assumption).")
    checkpoint_every_s: float = Field(1800, ge=0, description="Checkpoint period [s]; 0 = none. Default 1800 (assumption).")
    checkpoint_s: float = Field(60, ge=0, description="Checkpoint dip length [s]. Default 60 (assumption).")
    crashes_per_day: float = Field(8.6, ge=0, description="Job crash rate [1/day]. Default 8.6 (Llama 3: 466 interruptions in 54 days, arXiv 2407.21783).")
    restart_s: float = Field(600, ge=0, description="Time down after a crash [s]. Default 600 (assumption: 'minutes').")
    start_ramp_s: float = Field(30, ge=0, description="Idle to full after a restart [s]. Default 30 (assumption).")
    gpu_power_floor_share: float = Field(0.0, ge=0, le=0.9, description="GPU power floor [share of full]; 0 = off. At most 0.9 (GB200 floors, Choukse et al.).")


class ReplaySpec(StrictModel):
    """A measured AI power trace (``ai.profile: replay``): CSV of power against time."""

    source: str = Field(description="CSV path (relative to the scenario file).")
    time_column: str = Field("time_s", description="Seconds from the trace start [s], increasing.")
    power_column: str = Field("power_mw", description="Facility power [MW] (PUE already applied).")


class DynamicsSpec(StrictModel):
    """How a miner group answers commands (LuxOS sleep/wake; docs/sources.md#miner-response).

    Only sleep and wake: every host commands whole miners, never a power target, so the former
    power-target fields (profile_ramp_s, min_power_share, profile_step_share) had no effect and
    were removed (CHANGELOG.md, Unreleased)."""

    latency_s: float = Field(1.0, ge=0, le=600, description="Command to first power change [s]. Default 1 (assumption).")
    sleep_s: float = Field(5.0, gt=0, le=600, description="Ramp to ~25 W on sleep [s]. Default 5 (LuxOS).")
    wake_s: float = Field(10.0, gt=0, le=600, description="Ramp back to full power on wake [s]. Default 10 (LuxOS).")


class BatterySpec(StrictModel):
    power_mw: float = Field(gt=0, description="Inverter power [MW], both directions.")
    energy_mwh: float = Field(gt=0, description="Usable energy [MWh].")
    round_trip_efficiency: float = Field(0.88, gt=0, le=1, description="Round-trip efficiency [-]. Default 0.88 (assumption, Li-ion).")
    initial_soc_share: float = Field(0.5, ge=0, le=1, description="Initial state of charge [-]. Default 0.5.")

    @property
    def one_way_efficiency(self) -> float:
        """Efficiency of each direction [-]: the square root of the round trip."""
        return math.sqrt(self.round_trip_efficiency)


class SmoothingSpec(StrictModel):
    """The grid's smoothness spec and how the controller meets it (Choukse et al. cite specs in
    ramp MW/s, a dynamic range, a 0.1-20 Hz energy cap and 5-15 min planned-vs-actual checks)."""

    enabled: bool = Field(True, description="Use the miners (and battery) to smooth. Default true.")
    ramp_up_mw_per_s: float = Field(gt=0, description="Ramp-up limit [MW/s] over ramp_window_s.")
    ramp_down_mw_per_s: float = Field(gt=0, description="Ramp-down limit [MW/s] over ramp_window_s.")
    ramp_window_s: float = Field(60, gt=0, description="Window over which ramps are measured [s]. Default 60.")
    dynamic_range_mw: float | None = Field(None, gt=0, description="Allowed deviation of import from its slow target [MW]. Default none (unbounded).")
    target_tau_s: float = Field(300, gt=0, description="Time constant of the slow target [s]. Default 300.")
    band_energy_share_max: float = Field(0.2, gt=0, le=1, description="Cap on oscillation energy in 0.1-20 Hz [-]. Default 0.2 (Choukse et al.).")
    step_share: float = Field(0.8, gt=0, lt=1, description="Share of the window's ramp budget kept for unavoidable steps (the rest paces planned moves) [-]. Default 0.8.")
    reserve_cover_share: float = Field(1.0, ge=0, le=1, description="Share of the sized reserve actually held [-]. Default 1.")
    ai_filter_s: float | None = Field(None, ge=0, description="Moving-average window on the AI reading [s]. Default: the swing period.")

    @property
    def dynamic_range_limit_mw(self) -> float:
        """``dynamic_range_mw``, infinite when none is set."""
        return float("inf") if self.dynamic_range_mw is None else self.dynamic_range_mw
