"""Power response of one emulated miner: a small state machine over an injected clock.

Two dynamics, sleep/wake and power-target moves, each with its own ramp (docs/sources.md#miner-response):
- sleep: power falls linearly to ~25 W within ``SLEEP_RAMP_S`` (~5 s), hashrate stops at once;
- wakeup: boards re-initialise like a reboot; power ramps linearly back to the active profile
  within ``WAKE_RAMP_S`` (~10 s) (Luxor / Hashrate Index, "How LuxOS Powers Down Fast");
- profile change: power and hashrate move linearly to the new profile over
  ``PROFILE_RAMP_S`` (tens of seconds; assumption consistent with docs/sources.md#miner-response).
Time is whatever the injected clock returns [s]; nothing here sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ballast.live.emulators.catalog import SLEEP_POWER_W, MinerModel, Profile

Clock = Callable[[], float]

SLEEP_RAMP_S = 5.0
WAKE_RAMP_S = 10.0
PROFILE_RAMP_S = 30.0


@dataclass
class _Ramp:
    t_start_s: float
    duration_s: float
    from_power_w: float
    to_power_w: float
    from_hashrate_th_s: float
    to_hashrate_th_s: float

    def fraction(self, t_s: float) -> float:
        if self.duration_s <= 0 or t_s >= self.t_start_s + self.duration_s:
            return 1.0
        return max(0.0, (t_s - self.t_start_s) / self.duration_s)

    def power_w(self, t_s: float) -> float:
        return self.from_power_w + (self.to_power_w - self.from_power_w) * self.fraction(t_s)

    def hashrate_th_s(self, t_s: float) -> float:
        f = self.fraction(t_s)
        return self.from_hashrate_th_s + (self.to_hashrate_th_s - self.from_hashrate_th_s) * f


class MinerDynamics:
    """Commanded state (asleep, profile) and the resulting true power/hashrate over time."""

    def __init__(self, model: MinerModel, clock: Clock, *, asleep: bool = False) -> None:
        self.model = model
        self.clock = clock
        self.profile: Profile = model.default_profile
        self.asleep = asleep
        p0 = SLEEP_POWER_W if asleep else self.profile.power_w
        h0 = 0.0 if asleep else self.profile.hashrate_th_s
        self._ramp = _Ramp(clock(), 0.0, p0, p0, h0, h0)

    def _start_ramp(
        self,
        to_power_w: float,
        to_hashrate_th_s: float,
        duration_s: float,
        *,
        hash_now: float | None = None,
    ) -> None:
        now = self.clock()
        h_from = self.hashrate_th_s() if hash_now is None else hash_now
        self._ramp = _Ramp(now, duration_s, self.power_w(), to_power_w, h_from, to_hashrate_th_s)

    def sleep(self) -> None:
        """Curtail: hashboards and PSU output off."""
        if not self.asleep:
            self.asleep = True
            self._start_ramp(SLEEP_POWER_W, 0.0, SLEEP_RAMP_S, hash_now=0.0)

    def wakeup(self) -> None:
        """Resume: boards ramp back to the active profile."""
        if self.asleep:
            self.asleep = False
            self._start_ramp(self.profile.power_w, self.profile.hashrate_th_s, WAKE_RAMP_S)

    def set_profile(self, name: str) -> Profile:
        """Switch profile; while asleep only the target changes."""
        self.profile = self.model.profile(name)
        if not self.asleep:
            self._start_ramp(self.profile.power_w, self.profile.hashrate_th_s, PROFILE_RAMP_S)
        return self.profile

    def restart(self) -> None:
        """Power-cycle: comes back asleep if it was curtailed, else ramps up like a wakeup."""
        now = self.clock()
        if self.asleep:
            self._ramp = _Ramp(now, 0.0, SLEEP_POWER_W, SLEEP_POWER_W, 0.0, 0.0)
        else:
            p = self.profile
            self._ramp = _Ramp(now, WAKE_RAMP_S, SLEEP_POWER_W, p.power_w, 0.0, p.hashrate_th_s)

    def power_w(self) -> float:
        """True wall power now [W]."""
        return self._ramp.power_w(self.clock())

    def hashrate_th_s(self) -> float:
        """True hashrate now [TH/s]: zero from the moment of sleep, ramps with power otherwise."""
        return self._ramp.hashrate_th_s(self.clock())
