"""Miner response dynamics, table-driven over an injected clock (no sleeping)."""

from __future__ import annotations

import itertools

import pytest

from ballast.live.emulators.catalog import CATALOG, SLEEP_POWER_W, get_model
from ballast.live.emulators.dynamics import MinerDynamics

from .conftest import FakeClock

S19J = get_model("s19jpro")
FULL_W = S19J.default_profile.power_w


@pytest.mark.parametrize(
    ("action", "t_s", "power_w", "hashrate_th_s"),
    [
        ("sleep", 0.0, FULL_W, 0.0),
        ("sleep", 2.5, (FULL_W + SLEEP_POWER_W) / 2, 0.0),
        ("sleep", 5.0, SLEEP_POWER_W, 0.0),
        ("sleep", 60.0, SLEEP_POWER_W, 0.0),
    ],
)
def test_sleep_reaches_25_w_within_5_s(action: str, t_s: float, power_w: float, hashrate_th_s: float) -> None:
    clock = FakeClock()
    d = MinerDynamics(S19J, clock)
    getattr(d, action)()
    clock.advance(t_s)
    assert d.power_w() == pytest.approx(power_w)
    assert d.hashrate_th_s() == pytest.approx(hashrate_th_s)


@pytest.mark.parametrize(
    ("t_s", "power_w", "hashrate_th_s"),
    [
        (0.0, SLEEP_POWER_W, 0.0),
        (5.0, (FULL_W + SLEEP_POWER_W) / 2, 50.0),
        (10.0, FULL_W, 100.0),
        (30.0, FULL_W, 100.0),
    ],
)
def test_wakeup_ramps_to_full_power_within_10_s(t_s: float, power_w: float, hashrate_th_s: float) -> None:
    clock = FakeClock()
    d = MinerDynamics(S19J, clock, asleep=True)
    d.wakeup()
    clock.advance(t_s)
    assert d.power_w() == pytest.approx(power_w)
    assert d.hashrate_th_s() == pytest.approx(hashrate_th_s)


@pytest.mark.parametrize("t_s", [0.0, 10.0, 15.0, 30.0, 120.0])
def test_profile_change_moves_over_tens_of_seconds(t_s: float) -> None:
    clock = FakeClock()
    d = MinerDynamics(S19J, clock)
    low = S19J.profiles[6]
    d.set_profile(low.name)
    clock.advance(t_s)
    frac = min(1.0, t_s / 30.0)
    assert d.power_w() == pytest.approx(FULL_W + (low.power_w - FULL_W) * frac)
    assert d.hashrate_th_s() == pytest.approx(100.0 + (low.hashrate_th_s - 100.0) * frac)


def test_profile_set_while_asleep_applies_on_wakeup() -> None:
    clock = FakeClock()
    d = MinerDynamics(S19J, clock, asleep=True)
    target = S19J.profiles[10]
    d.set_profile(target.name)
    clock.advance(100.0)
    assert d.power_w() == pytest.approx(SLEEP_POWER_W)
    d.wakeup()
    clock.advance(10.0)
    assert d.power_w() == pytest.approx(target.power_w)


@pytest.mark.parametrize(("asleep", "power_after_restart_w"), [(True, SLEEP_POWER_W), (False, FULL_W)])
def test_restart_keeps_curtailed_state(asleep: bool, power_after_restart_w: float) -> None:
    clock = FakeClock()
    d = MinerDynamics(S19J, clock, asleep=asleep)
    d.restart()
    clock.advance(10.0)
    assert d.asleep is asleep
    assert d.power_w() == pytest.approx(power_after_restart_w)


@pytest.mark.parametrize(
    ("key", "type_name", "hashrate_th_s", "power_w"),
    [
        ("s19jpro", "Antminer S19j Pro", 100.0, 3050.0),
        ("s19xp", "Antminer S19 XP", 140.0, 3010.0),
        ("s21", "Antminer S21", 200.0, 3500.0),
    ],
)
def test_catalog_nameplate_and_25_profiles(
    key: str, type_name: str, hashrate_th_s: float, power_w: float
) -> None:
    m = CATALOG[key]
    assert m.type_name == type_name
    assert len(m.profiles) == 25
    assert m.default_profile.hashrate_th_s == hashrate_th_s
    assert m.default_profile.power_w == power_w
    freqs = [p.frequency_mhz for p in m.profiles]
    assert all(b - a == 25 for a, b in itertools.pairwise(freqs))
    powers = [p.power_w for p in m.profiles]
    assert powers == sorted(powers)


def test_unknown_model_and_profile_are_named() -> None:
    with pytest.raises(KeyError, match="s99"):
        get_model("s99")
    with pytest.raises(KeyError, match="9999MHz"):
        S19J.profile("9999MHz")
