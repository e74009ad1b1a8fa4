"""Driver outcomes per fault, and verified fan-out over a fleet of emulated miners."""

from __future__ import annotations

import pytest

from ballast.live.adapters import LuxosFleet
from ballast.live.drivers.fleet import FleetCommander
from ballast.live.drivers.luxos import LuxosMiner
from ballast.live.emulators.luxos import MinerEmulator
from ballast.live.interfaces import KeepsSessions, MinerFleet
from ballast.live.serve import _NoFleet


def test_fleets_have_the_runtime_capabilities() -> None:
    """The runtime dispatches through ``MinerFleet`` and checks the optional ``KeepsSessions``
    with isinstance (no attribute strings): LuxOS holds sessions, a site without miners not."""
    luxos = LuxosFleet({"127.0.0.2": 4028})
    assert isinstance(luxos, MinerFleet) and isinstance(luxos, KeepsSessions)
    assert isinstance(_NoFleet(), MinerFleet) and not isinstance(_NoFleet(), KeepsSessions)


@pytest.mark.parametrize("sessions_held", [False, True], ids=["cold", "warm-fast-path"])
@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"delay_s": 4.0}, "timeout"),
        ({"refuse": True}, "refused"),
        ({"ignore_commands": True}, "ignored"),
    ],
)
async def test_fault_gives_outcome(base_ip: str, fault: dict, status: str, sessions_held: bool) -> None:
    async with MinerEmulator(3, base_ip) as emu:
        bad = emu.ips[1]
        fleet = FleetCommander(emu.ips, timeout_s=1.0, retries=1)  # generous for a busy host
        if sessions_held:
            assert (await fleet.refresh_sessions()).all_ok
        await emu.inject(bad, **fault)
        result = await fleet.sleep()
        by_ip = {o.ip: o for o in result.outcomes}
        assert by_ip[bad].status == status
        assert not by_ip[bad].compliant
        assert [o.ip for o in result.non_compliant] == [bad]
        for ip in (emu.ips[0], emu.ips[2]):
            assert by_ip[ip].status == "ok"
            assert by_ip[ip].reading is not None and by_ip[ip].reading.asleep
            assert emu.true_state(ip).asleep


async def test_expired_session_is_renewed(base_ip: str) -> None:
    async with MinerEmulator(2, base_ip) as emu:
        fleet = FleetCommander(emu.ips, timeout_s=1.0)
        assert (await fleet.refresh_sessions()).all_ok
        emu.expire_session(emu.ips[0])
        result = await fleet.sleep()  # fast path fails on the dead session, slow path renews
        assert result.all_ok
        assert fleet.miners[emu.ips[0]].session_renewals == 2
        assert fleet.miners[emu.ips[1]].session_renewals == 1
        assert all(s.asleep for s in emu.states())


async def test_foreign_session_is_adopted(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip) as emu:
        other = LuxosMiner(emu.ips[0])
        sid = await other.renew_session()  # another tool holds the only session
        fleet = FleetCommander(emu.ips)
        assert (await fleet.sleep()).all_ok
        assert fleet.miners[emu.ips[0]].session_id == sid


async def test_rebooting_miner_is_refused_then_comes_back_asleep(base_ip: str) -> None:
    async with MinerEmulator(2, base_ip) as emu:
        fleet = FleetCommander(emu.ips, timeout_s=2.0, retries=0)
        assert (await fleet.sleep()).all_ok
        emu.reboot(emu.ips[0], downtime_s=None)
        result = await fleet.read_all()
        assert result.counts == {"refused": 1, "ok": 1}
        await emu.power_on(emu.ips[0])
        result = await fleet.read_all()
        assert result.all_ok
        assert all(o.reading is not None and o.reading.asleep for o in result.outcomes)


@pytest.mark.parametrize("fast_path", [False, True])
async def test_fanout_200_all_verified_asleep_then_awake(base_ip: str, fast_path: bool) -> None:
    async with MinerEmulator(200, base_ip) as emu:
        fleet = FleetCommander(emu.ips, concurrency=100, timeout_s=2.0, fast_path=fast_path)
        assert (await fleet.refresh_sessions()).all_ok
        result = await fleet.sleep()
        assert result.counts == {"ok": 200}
        assert all(s.asleep for s in emu.states())
        assert all(o.latency_s > 0 for o in result.outcomes)
        result = await fleet.wake()
        assert result.all_ok
        assert not any(s.asleep for s in emu.states())


async def test_fanout_200_with_5_percent_ignoring(base_ip: str) -> None:
    async with MinerEmulator(200, base_ip) as emu:
        ignoring = emu.ips[::20]  # 10 of 200
        for ip in ignoring:
            await emu.inject(ip, ignore_commands=True)
        fleet = FleetCommander(emu.ips, concurrency=100, timeout_s=2.0)
        assert (await fleet.refresh_sessions()).all_ok
        result = await fleet.sleep()
        assert result.counts == {"ok": 190, "ignored": 10}
        assert sorted(o.ip for o in result.non_compliant) == sorted(ignoring)
        assert {s.ip for s in emu.states() if not s.asleep} == set(ignoring)


async def test_power_target_picks_highest_fitting_profile(base_ip: str) -> None:
    async with MinerEmulator(3, base_ip) as emu:
        fleet = FleetCommander(emu.ips)
        result = await fleet.set_power_target(2800.0)
        assert result.all_ok
        for ip in emu.ips:
            m = emu.miner(ip)
            chosen = m.model.profile(emu.true_state(ip).profile)
            assert chosen.power_w <= 2800.0
            higher = [p for p in m.model.profiles if chosen.power_w < p.power_w <= 2800.0]
            assert higher == []


async def test_power_target_with_ignoring_miner_is_ignored(base_ip: str) -> None:
    async with MinerEmulator(2, base_ip) as emu:
        await emu.inject(emu.ips[0], ignore_commands=True)
        result = await FleetCommander(emu.ips).set_power_target(2000.0)
        assert {o.ip: o.status for o in result.outcomes} == {
            emu.ips[0]: "ignored",
            emu.ips[1]: "ok",
        }


def test_bad_fleet_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        FleetCommander(["127.0.0.2"], concurrency=0)
    with pytest.raises(ValueError, match="at least one"):
        FleetCommander([])
    with pytest.raises(ValueError, match="timeout_s"):
        LuxosMiner("127.0.0.2", timeout_s=0)
