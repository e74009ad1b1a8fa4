"""Miner models the emulator can impersonate, with their LuxOS-style frequency profiles.

Nameplate figures (hashrate, wall power) come from the miner catalog (docs/sources.md#miner-catalog):
- Antminer S19j Pro: 100 TH/s, 3050 W, 30.5 J/TH (vendor spec via miningstore.com)
- Antminer S19 XP:   140 TH/s, 3010 W, 21.5 J/TH (vendor spec via miningstore.com)
- Antminer S21:      200 TH/s, 3500 W, 17.5 J/TH (Bitmain launch, 2023-10, secondary)

Profiles follow the LuxOS scheme (Luxor firmware docs; docs/sources.md#luxos-api): ~25 built-in
profiles in 25 MHz steps around the factory default frequency; an S19j Pro at 525 MHz gives
~100 TH/s. Default frequencies of the S19 XP and S21 are assumptions (not sourced).
Off-default profiles scale hashrate linearly with frequency and power as
``power = idle + (nominal - idle) * (f / f0) ** POWER_EXPONENT`` (voltage rises with frequency;
an assumption, shaped so that lower profiles are more efficient).
"""

from __future__ import annotations

from dataclasses import dataclass, field

LUXOS_PORT = 4028  # the LuxOS (cgminer-compatible) API port
DEFAULT_MODELS: tuple[str, ...] = ("s19jpro", "s19xp", "s21")  # emulated models, assigned in turn

# LuxOS sleep leaves ~25 W (Luxor / Hashrate Index, "How LuxOS Powers Down Fast")
SLEEP_POWER_W = 25.0
IDLE_POWER_W = 150.0  # control board + fans with boards at minimum clock (assumption)
POWER_EXPONENT = 1.6  # power ~ f * V^2 with V rising with f (assumption)
PROFILE_STEP_MHZ = 25  # LuxOS built-in profile spacing (docs/sources.md#luxos-api)
PROFILES_BELOW_DEFAULT = 18
PROFILES_ABOVE_DEFAULT = 6  # 18 + 1 + 6 = 25 profiles; overclock headroom is small


@dataclass(frozen=True)
class Profile:
    """One LuxOS frequency profile."""

    name: str
    frequency_mhz: int
    voltage_v: float
    power_w: float
    hashrate_th_s: float
    is_default: bool = False


@dataclass(frozen=True)
class MinerModel:
    """A miner model: nameplate figures and board layout."""

    key: str
    type_name: str  # LuxOS ``VERSION[0].Type``, what clients map to a model class
    hashrate_th_s: float
    power_w: float
    default_frequency_mhz: int
    boards: int = 3
    chips_per_board: int = 126
    fans: int = 4
    profiles: tuple[Profile, ...] = field(default=(), compare=False)

    @property
    def efficiency_j_per_th(self) -> float:
        return self.power_w / self.hashrate_th_s

    def profile(self, name: str) -> Profile:
        """Return the profile called ``name``; raise KeyError naming the valid ones."""
        for p in self.profiles:
            if p.name == name:
                return p
        raise KeyError(f"{self.type_name} has no profile {name!r}; valid: {[p.name for p in self.profiles]}")

    @property
    def default_profile(self) -> Profile:
        return next(p for p in self.profiles if p.is_default)


def build_profiles(hashrate_th_s: float, power_w: float, default_frequency_mhz: int) -> tuple[Profile, ...]:
    """Return the ~25 frequency-step profiles around the default, lowest frequency first."""
    profiles = []
    for step in range(-PROFILES_BELOW_DEFAULT, PROFILES_ABOVE_DEFAULT + 1):
        f_mhz = default_frequency_mhz + step * PROFILE_STEP_MHZ
        ratio = f_mhz / default_frequency_mhz
        p_w = IDLE_POWER_W + (power_w - IDLE_POWER_W) * ratio**POWER_EXPONENT
        profiles.append(
            Profile(
                name="default" if step == 0 else f"{f_mhz}MHz",
                frequency_mhz=f_mhz,
                voltage_v=round(12.0 + 2.0 * (ratio - 1.0), 2),  # board voltage, illustrative
                power_w=round(p_w, 1),
                hashrate_th_s=round(hashrate_th_s * ratio, 2),
                is_default=step == 0,
            )
        )
    return tuple(profiles)


def _model(key: str, type_name: str, th_s: float, w: float, f_mhz: int, chips: int) -> MinerModel:
    return MinerModel(
        key=key,
        type_name=type_name,
        hashrate_th_s=th_s,
        power_w=w,
        default_frequency_mhz=f_mhz,
        chips_per_board=chips,
        profiles=build_profiles(th_s, w, f_mhz),
    )


CATALOG: dict[str, MinerModel] = {
    m.key: m
    for m in (
        # vendor spec via miningstore.com; 525 MHz ~ 100 TH/s per the LuxOS note
        _model("s19jpro", "Antminer S19j Pro", 100.0, 3050.0, 525, 126),
        # vendor spec via miningstore.com; default frequency assumed
        _model("s19xp", "Antminer S19 XP", 140.0, 3010.0, 500, 110),
        # Bitmain launch 2023-10 (secondary); default frequency assumed
        _model("s21", "Antminer S21", 200.0, 3500.0, 490, 108),
    )
}


def get_model(key: str) -> MinerModel:
    """Look a model up by catalog key (``s19jpro``, ``s19xp``, ``s21``)."""
    try:
        return CATALOG[key]
    except KeyError:
        raise KeyError(f"unknown miner model {key!r}; known: {sorted(CATALOG)}") from None
