"""The LuxOS emulator over real TCP on loopback: transport, STATUS codes, sessions, faults."""

from __future__ import annotations

import asyncio
import json

import pytest

from ballast.live.drivers.base import MinerApiError, MinerRefused
from ballast.live.drivers.luxos_client import request, send_raw
from ballast.live.emulators.luxos import MinerEmulator, loopback_ips
from ballast.live.emulators.luxos_miner import SESSION_IDLE_TIMEOUT_S

from .conftest import FakeClock


async def test_version_identifies_luxos_and_model(base_ip: str) -> None:
    async with MinerEmulator(3, base_ip) as emu:
        types = []
        for ip in emu.ips:
            reply = await request(ip, "version")
            assert reply["STATUS"][0]["STATUS"] == "S"
            assert "LUXminer" in reply["STATUS"][0]["Description"]
            assert "LUXminer" in reply["VERSION"][0]
            assert reply["id"] == 1
            types.append(reply["VERSION"][0]["Type"])
        assert types == ["Antminer S19j Pro", "Antminer S19 XP", "Antminer S21"]


async def test_multicommand_reply_is_keyed_by_command(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip, ["s21"]) as emu:
        reply = await request(emu.ips[0], "fans+power+stats+version+summary+config")
        assert set(reply) >= {"fans", "power", "stats", "version", "summary", "config"}
        assert reply["power"][0]["POWER"][0]["Watts"] == 3500
        board = reply["stats"][0]["STATS"][1]
        assert float(board["chain_rate1"]) * 3 == pytest.approx(200_000.0)
        assert board["temp_chip1"].count("-") == 3
        assert reply["summary"][0]["SUMMARY"][0]["GHS 5s"] == pytest.approx(200_000.0)


async def test_trailing_nul_and_split_writes_are_tolerated(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip) as emu:
        raw = await send_raw(emu.ips[0], b'{"command": "summary"}\x00')
        assert json.loads(raw)["SUMMARY"][0]["Elapsed"] >= 0
        reader, writer = await asyncio.open_connection(emu.ips[0], 4028)
        writer.write(b'{"command": ')
        await writer.drain()
        writer.write(b'"power"}')
        reply = json.loads(await reader.read())
        writer.close()
        assert reply["POWER"][0]["Watts"] == 3050


@pytest.mark.parametrize(
    ("payload", "code"),
    [(b'{"command": "nosuch"}', 14), (b'{"cmd": 1}', 23), (b'{"command": "power+logon"}', 45)],
)
async def test_bad_requests_get_error_status(base_ip: str, payload: bytes, code: int) -> None:
    async with MinerEmulator(1, base_ip) as emu:
        reply = json.loads(await send_raw(emu.ips[0], payload))
        assert reply["STATUS"][0]["STATUS"] == "E"
        assert reply["STATUS"][0]["Code"] == code


async def test_sessions_one_at_a_time_and_expire(base_ip: str, clock: FakeClock) -> None:
    async with MinerEmulator(1, base_ip, clock=clock) as emu:
        ip = emu.ips[0]
        assert (await request(ip, "session"))["SESSION"][0]["SessionID"] == ""
        logon = await request(ip, "logon")
        assert logon["STATUS"][0]["Code"] == 316
        sid = logon["SESSION"][0]["SessionID"]
        with pytest.raises(MinerApiError) as err:
            await request(ip, "logon")
        assert err.value.code == 402
        assert (await request(ip, "session"))["SESSION"][0]["SessionID"] == sid
        clock.advance(SESSION_IDLE_TIMEOUT_S - 1)
        await request(ip, "curtail", f"{sid},sleep")  # use refreshes the session
        clock.advance(SESSION_IDLE_TIMEOUT_S - 1)
        assert (await request(ip, "session"))["SESSION"][0]["SessionID"] == sid
        clock.advance(2.0)
        assert (await request(ip, "session"))["SESSION"][0]["SessionID"] == ""
        with pytest.raises(MinerApiError, match="session"):
            await request(ip, "curtail", f"{sid},wakeup")
        sid2 = (await request(ip, "logon"))["SESSION"][0]["SessionID"]
        assert (await request(ip, "logoff", sid2))["STATUS"][0]["Code"] == 317


async def test_curtail_and_profileset_change_true_state(base_ip: str, clock: FakeClock) -> None:
    async with MinerEmulator(1, base_ip, ["s19jpro"], clock=clock) as emu:
        ip = emu.ips[0]
        sid = (await request(ip, "logon"))["SESSION"][0]["SessionID"]
        reply = await request(ip, "curtail", f"{sid},sleep")
        assert reply["STATUS"][0]["Code"] == 335
        assert reply["CURTAIL"][0]["Action"] == "sleep mode"
        clock.advance(5.0)
        state = emu.true_state(ip)
        assert state.asleep
        assert state.power_w == pytest.approx(25.0)
        with pytest.raises(MinerApiError, match="ATM"):
            await request(ip, "profileset", f"{sid},450MHz")
        assert (await request(ip, "atmset", f"{sid},enabled=false"))["STATUS"][0]["Code"] == 340
        reply = await request(ip, "profileset", f"{sid},450MHz")
        assert reply["PROFILE"][0]["Profile"] == "450MHz"
        reply = await request(ip, "curtail", f"{sid},wakeup")
        assert reply["CURTAIL"][0]["Action"] == "wake up"
        clock.advance(10.0)
        state = emu.true_state(ip)
        assert not state.asleep
        assert state.profile == "450MHz"
        assert state.power_w == pytest.approx(emu.miner(ip).model.profile("450MHz").power_w)


async def test_reboot_is_unreachable_then_keeps_curtailed_state(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip) as emu:
        ip = emu.ips[0]
        sid = (await request(ip, "logon"))["SESSION"][0]["SessionID"]
        await request(ip, "curtail", f"{sid},sleep")
        emu.reboot(ip, downtime_s=None)
        with pytest.raises(MinerRefused):
            await request(ip, "version", timeout_s=1.0)
        await emu.power_on(ip)
        config = (await request(ip, "config"))["CONFIG"][0]
        assert config["CurtailMode"] == "Sleep"
        assert config["IsPowerSupplyOn"] is False
        assert emu.true_state(ip).asleep
        assert (await request(ip, "session"))["SESSION"][0]["SessionID"] == ""


async def test_power_bias_fault_skews_the_reading_only(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip, ["s19xp"]) as emu:
        ip = emu.ips[0]
        await emu.inject(ip, power_bias_w=-500.0)
        assert (await request(ip, "power"))["POWER"][0]["Watts"] == 2510
        assert emu.true_state(ip).power_w == pytest.approx(3010.0)


def test_loopback_addresses_skip_network_and_broadcast() -> None:
    ips = loopback_ips(300, "127.0.0.2")
    assert ips[:2] == ["127.0.0.2", "127.0.0.3"]
    assert "127.0.0.255" not in ips and "127.0.1.0" not in ips
    assert ips[253] == "127.0.1.1"
    assert len(set(ips)) == 300


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"count": 0}, "count"),
        ({"count": 1, "base_ip": "10.0.0.2"}, "127.0.0.0/8"),
        ({"count": 1, "base_ip": "nonsense"}, "IPv4"),
        ({"count": 1, "models": ["s99"]}, "s99"),
    ],
)
def test_bad_emulator_arguments_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises((ValueError, KeyError), match=match):
        MinerEmulator(**kwargs)


async def test_unknown_fault_is_named(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip) as emu:
        with pytest.raises(ValueError, match="explode"):
            await emu.inject(emu.ips[0], explode=True)


async def test_reboot_command_takes_the_miner_down_until_power_on(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip) as emu:
        ip = emu.ips[0]
        sid = (await request(ip, "logon"))["SESSION"][0]["SessionID"]
        reply = await request(ip, "rebootdevice", sid)
        assert reply["STATUS"][0]["STATUS"] == "S"
        assert not emu.true_state(ip).reachable
        with pytest.raises(MinerRefused):
            await request(ip, "version", timeout_s=1.0)
        await emu.power_on(ip)  # ends the 30 s downtime early
        assert emu.true_state(ip).reachable
        assert (await request(ip, "version"))["VERSION"][0]["Type"] == "Antminer S19j Pro"


@pytest.mark.parametrize("reports_curtail_state", [True, False])
async def test_config_on_the_wire_follows_the_miner_state(
    base_ip: str, clock: FakeClock, reports_curtail_state: bool
) -> None:
    """``config`` is encoded from a per-miner fixed part and the state; the reply read over
    TCP must carry every field, with the state after each change (not a stale encoding)."""
    async with MinerEmulator(1, base_ip, ["s21"], clock=clock) as emu:
        ip = emu.ips[0]
        emu.set_quirks(ip, reports_curtail_state=reports_curtail_state)
        sid = (await request(ip, "logon"))["SESSION"][0]["SessionID"]
        await request(ip, "atmset", f"{sid},enabled=false")
        before = (await request(ip, "config+power"))["config"][0]["CONFIG"][0]
        await request(ip, "curtail", f"{sid},sleep")
        await request(ip, "profileset", f"{sid},440MHz")
        after = (await request(ip, "config"))["CONFIG"][0]
    assert before["MACAddr"] == after["MACAddr"] and before["Model"] == "Antminer S21"
    assert (before["Profile"], after["Profile"]) == ("default", "440MHz")
    assert (before["ProfileStep"], after["ProfileStep"]) == ("0", "-2")
    assert before["IsAtmEnabled"] is False
    if reports_curtail_state:
        assert (before["CurtailMode"], after["CurtailMode"]) == ("None", "Sleep")
        assert (before["IsPowerSupplyOn"], after["IsPowerSupplyOn"]) == (True, False)
    else:
        assert "CurtailMode" not in after and "IsPowerSupplyOn" not in after
    assert set(before) == set(after)
