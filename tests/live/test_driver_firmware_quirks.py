"""Firmware quirks over real TCP against the LuxOS emulator, and the capability matrix.

The emulator's ``FirmwareQuirks`` vary what real releases and other emulators vary (the ATM
refusal's code and message, which commands ATM blocks, whether ``config`` reports the curtail
state); its ``command_counts`` show exactly what the driver sent, so each test can prove that
no command was sent twice blindly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ballast.live.drivers.base import MinerApiError
from ballast.live.drivers.capabilities import (
    CAPABILITIES,
    FIRMWARES,
    UnsupportedByFirmware,
    render_markdown,
    require,
    supports,
)
from ballast.live.drivers.fleet import FleetCommander
from ballast.live.drivers.luxos import LuxosMiner
from ballast.live.emulators.luxos import MinerEmulator

from .conftest import FakeClock

ATM_MESSAGES = [
    (338, "Cannot change profile while ATM is enabled"),
    (341, "Command not allowed: Advanced Thermal Management is active"),
]


def sent(emu: MinerEmulator, ip: str, command: str, args: str = "") -> int:
    return emu.miner(ip).command_counts[(command, args)]


# ------------------------------------------------------------------------------------ ATM
@pytest.mark.parametrize(("code", "msg"), ATM_MESSAGES, ids=["ballast-338", "other-341"])
async def test_atm_refusal_is_recognised_by_its_message_not_its_code(
    base_ip: str, code: int, msg: str
) -> None:
    async with MinerEmulator(2, base_ip, ["s19jpro"]) as emu:
        for ip in emu.ips:
            emu.set_quirks(ip, atm_refusal_code=code, atm_refusal_msg=msg)
        result = await FleetCommander(emu.ips).set_power_target(2800.0)
        assert result.all_ok
        for ip in emu.ips:
            chosen = emu.true_state(ip).profile
            assert emu.miner(ip).model.profile(chosen).power_w <= 2800.0
            assert not emu.miner(ip).atm_enabled
            assert sent(emu, ip, "profileset", chosen) == 2  # refused once, once after the fix
            assert sent(emu, ip, "atmset", "enabled=false") == 1
            assert sent(emu, ip, "atm") == 1  # re-read to verify ATM is off


@pytest.mark.parametrize("sessions_held", [False, True], ids=["cold", "warm-fast-path"])
async def test_curtail_refused_for_atm_is_fixed_and_sent_once_more(base_ip: str, sessions_held: bool) -> None:
    async with MinerEmulator(3, base_ip) as emu:
        blocked = emu.ips[1]
        emu.set_quirks(
            blocked,
            atm_blocks={"curtail"},
            atm_refusal_code=341,
            atm_refusal_msg="Curtailment unavailable while ATM is enabled",
        )
        fleet = FleetCommander(emu.ips, timeout_s=2.0)
        if sessions_held:
            assert (await fleet.refresh_sessions()).all_ok
        result = await fleet.sleep()
        assert result.counts == {"ok": 3}
        assert all(s.asleep for s in emu.states())
        assert sent(emu, blocked, "curtail", "sleep") == 2
        assert sent(emu, blocked, "atmset", "enabled=false") == 1
        for ip in (emu.ips[0], emu.ips[2]):
            assert sent(emu, ip, "curtail", "sleep") == 1
            assert sent(emu, ip, "atmset", "enabled=false") == 0


async def test_atm_refusal_with_an_unhelpful_message_is_found_by_reading_atm(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip, ["s21"]) as emu:
        ip = emu.ips[0]
        emu.set_quirks(ip, atm_refusal_code=341, atm_refusal_msg="Operation not permitted")
        miner = LuxosMiner(ip)
        await miner.set_profile("default")
        assert emu.true_state(ip).profile == "default"
        assert not emu.miner(ip).atm_enabled
        assert sent(emu, ip, "session") == 2  # first session + re-read: the session was fine
        assert sent(emu, ip, "atm") == 2  # the cause found, then verified off
        assert sent(emu, ip, "profileset", "default") == 2


async def test_atm_re_enabled_by_the_miner_is_disabled_again(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip, ["s19jpro"]) as emu:
        ip = emu.ips[0]
        miner = LuxosMiner(ip)
        names = [p.name for p in emu.miner(ip).model.profiles]
        await miner.set_profile(names[0])
        emu.miner(ip).atm_enabled = True  # e.g. an operator or a config push turned it on
        await miner.set_profile(names[1])
        assert emu.true_state(ip).profile == names[1]
        assert miner.atm_disables == 2
        assert not emu.miner(ip).atm_enabled


async def test_atm_that_stays_on_is_ignored_and_the_command_not_resent(base_ip: str) -> None:
    async with MinerEmulator(2, base_ip) as emu:
        stuck = emu.ips[0]
        await emu.inject(stuck, ignore_commands=True)  # acknowledges atmset, changes nothing
        result = await FleetCommander(emu.ips).set_power_target(2800.0)
        by_ip = {o.ip: o for o in result.outcomes}
        assert by_ip[stuck].status == "ignored"
        assert "ATM still enabled" in by_ip[stuck].detail
        assert by_ip[emu.ips[1]].status == "ok"
        assert sum(n for (c, _), n in emu.miner(stuck).command_counts.items() if c == "profileset") == 1


async def test_a_refusal_with_no_fixable_cause_is_not_resent(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip) as emu:
        ip = emu.ips[0]
        emu.miner(ip).atm_enabled = False
        with pytest.raises(MinerApiError, match="no-such-profile"):
            await LuxosMiner(ip).set_profile("no-such-profile")
        assert sent(emu, ip, "profileset", "no-such-profile") == 1


# ---------------------------------------------------------------- sessions
@pytest.mark.parametrize("foreign", [False, True], ids=["expired", "taken-by-another-client"])
async def test_stale_session_command_is_sent_once_after_renewal(base_ip: str, foreign: bool) -> None:
    async with MinerEmulator(2, base_ip) as emu:
        fleet = FleetCommander(emu.ips, timeout_s=2.0)
        assert (await fleet.refresh_sessions()).all_ok
        stale = emu.ips[0]
        emu.expire_session(stale)
        if foreign:
            await LuxosMiner(stale).renew_session()  # logs on: the only session is now theirs
        result = await fleet.sleep()
        assert result.all_ok
        # once with the dead session (refused), once after the renewal; never twice with it
        assert sent(emu, stale, "curtail", "sleep") == 2
        assert sent(emu, emu.ips[1], "curtail", "sleep") == 1
        assert fleet.miners[stale].session_id == emu.miner(stale).session_id


# ------------------------------------------------------- curtail state / ramps
def fake_wait(clock: FakeClock, waits: list[float]):
    async def wait(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    return wait


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "slow-path"])
async def test_without_curtail_state_sleep_and_wake_are_judged_by_power_after_the_ramp(
    base_ip: str, clock: FakeClock, fast_path: bool
) -> None:
    async with MinerEmulator(3, base_ip, clock=clock) as emu:
        for ip in emu.ips:
            emu.set_quirks(ip, reports_curtail_state=False)
        waits: list[float] = []
        fleet = FleetCommander(emu.ips, fast_path=fast_path, wait=fake_wait(clock, waits))
        result = await fleet.sleep()
        assert result.counts == {"ok": 3}
        assert waits == [5.0, 5.0, 5.0]  # the documented sleep ramp, once per miner
        for o in result.outcomes:
            assert o.reading is not None and not o.reading.curtail_state_reported
            assert o.reading.power_w <= 100.0
            assert sent(emu, o.ip, "curtail", "sleep") == 1  # waited, not resent
        waits.clear()
        result = await fleet.wake()
        assert result.counts == {"ok": 3}
        assert waits == [10.0, 10.0, 10.0]
        assert all(o.reading is not None and o.reading.power_w > 1000.0 for o in result.outcomes)


async def test_without_curtail_state_a_miner_is_non_compliant_only_after_the_ramp(
    base_ip: str, clock: FakeClock
) -> None:
    async with MinerEmulator(2, base_ip, clock=clock) as emu:
        for ip in emu.ips:
            emu.set_quirks(ip, reports_curtail_state=False)
        bad = emu.ips[0]
        await emu.inject(bad, ignore_commands=True)
        waits: list[float] = []
        fleet = FleetCommander(emu.ips, wait=fake_wait(clock, waits))
        result = await fleet.sleep()
        by_ip = {o.ip: o for o in result.outcomes}
        assert by_ip[bad].status == "ignored"
        assert "after the 5 s ramp" in by_ip[bad].detail
        assert by_ip[emu.ips[1]].status == "ok"
        # the ignoring miner: ramp, resend after the disagreeing read-back, ramp again
        assert waits.count(5.0) == 3
        assert sent(emu, bad, "curtail", "sleep") == 2


async def test_reported_curtail_state_needs_no_wait(base_ip: str, clock: FakeClock) -> None:
    async with MinerEmulator(2, base_ip, clock=clock) as emu:
        await emu.inject(emu.ips[0], ignore_commands=True)
        waits: list[float] = []
        result = await FleetCommander(emu.ips, wait=fake_wait(clock, waits)).sleep()
        assert {o.status for o in result.outcomes} == {"ignored", "ok"}
        assert waits == []
        assert all(o.reading is not None and o.reading.curtail_state_reported for o in result.outcomes)


async def test_pyasic_driver_reports_whether_the_state_was_reported(base_ip: str) -> None:
    pytest.importorskip("pyasic")
    from ballast.live.drivers.pyasic_driver import PyasicMinerDriver

    async with MinerEmulator(2, base_ip, ["s19jpro"]) as emu:
        emu.set_quirks(emu.ips[1], reports_curtail_state=False)
        readings = [await PyasicMinerDriver(ip).read() for ip in emu.ips]
        assert [r.curtail_state_reported for r in readings] == [True, False]
        driver = PyasicMinerDriver(emu.ips[0])
        await driver.sleep()
        assert driver.firmware == "luxos"
        assert (await driver.read()).asleep


# -------------------------------------------------------------- the matrix
def test_require_names_firmware_and_capability() -> None:
    with pytest.raises(UnsupportedByFirmware, match=r"'power_target'.*'stock'.*no power target"):
        require("stock", "power_target")
    require("luxos", "power_target")  # supported: no error
    with pytest.raises(ValueError, match="unknown firmware 'whatsminer'"):
        require("whatsminer", "sleep_wake")
    with pytest.raises(ValueError, match="unknown capability 'overclock'"):
        supports("luxos", "overclock")


def test_every_firmware_has_every_capability_cell() -> None:
    assert set(FIRMWARES) == {"luxos", "braiins_os", "vnish", "stock"}
    for firmware in FIRMWARES:
        for capability in CAPABILITIES:
            assert supports(firmware, capability) in ("yes", "no", "varies")


def test_firmware_doc_is_current() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "firmware.md"
    assert doc.read_text() == render_markdown(), (
        "docs/firmware.md is stale: run `python -m ballast.live.drivers.capabilities > docs/firmware.md`"
    )


# ------------------------------------------------------------------ timeouts
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "slow-path"])
async def test_after_a_lost_reply_the_miner_is_read_back_before_any_resend(
    base_ip: str, fast_path: bool
) -> None:
    async with MinerEmulator(2, base_ip) as emu:
        mute = emu.ips[0]
        fleet = FleetCommander(emu.ips, timeout_s=0.5, retries=1, fast_path=fast_path)
        assert (await fleet.refresh_sessions()).all_ok
        await emu.inject(mute, lose_privileged_replies=True)  # it sleeps, the ack is lost
        result = await fleet.sleep()
        assert result.counts == {"ok": 2}
        assert emu.true_state(mute).asleep
        assert sent(emu, mute, "curtail", "sleep") == 1  # the read-back showed it asleep


def test_pyasic_firmware_names_map_onto_the_matrix() -> None:
    pyasic_firmware = pytest.importorskip("pyasic.device.firmware")
    from ballast.live.drivers.pyasic_driver import PYASIC_FIRMWARES

    names = {str(f) for f in pyasic_firmware.MinerFirmware}
    assert names >= set(PYASIC_FIRMWARES)  # pyasic's own spelling
    assert set(PYASIC_FIRMWARES.values()) == set(FIRMWARES)
