"""The SunSpec battery inverter emulator read and commanded by the pymodbus driver over TCP:
the model chain, the setpoint round trip with read-back, the state of charge integrated with
the round-trip efficiency, the power and energy limits, the revert time, and the faults."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

import ballast
from ballast.live.drivers.battery import (
    BatteryError,
    BatterySetpointNotApplied,
    BatteryStale,
    ModbusBattery,
)
from ballast.live.emulators.battery import BatteryEmulator
from tests.process_helpers import finish, start_until_ready

from .conftest import FakeClock

# From the SunSpec model definitions (github.com/sunspec/models json/model_1.json, model_124.json,
# model_802.json): model lengths L 66, 24 and 62, so from base 40000 the chain served is
# SunS @40000, model 1 @40002, 124 @40070, 802 @40096, end @40160.
CHAIN = [(40002, 1, 66), (40070, 124, 24), (40096, 802, 62)]
END_AT = 40160
STOR_CTL_MOD, OUT_W_RTE, IN_W_RTE = 40070 + 5, 40070 + 12, 40070 + 13  # model 124 offsets
SOC_AT = 40096 + 11  # model 802 SoC


def _battery(port: int, clock: FakeClock, **kw) -> BatteryEmulator:
    args = {
        "power_mw": 20.0,
        "energy_mwh": 40.0,
        "round_trip_efficiency": 0.81,
        "initial_soc_share": 0.5,
        "clock": clock,
        **kw,
    }
    return BatteryEmulator("127.0.0.1", port, **args)


async def test_the_model_chain_is_sunspec(free_port: int, clock: FakeClock) -> None:
    async with _battery(free_port, clock):
        client = AsyncModbusTcpClient("127.0.0.1", port=free_port, timeout=2)
        await client.connect()
        try:
            marker = (await client.read_holding_registers(40000, count=2)).registers
            assert bytes(b for r in marker for b in (r >> 8, r & 0xFF)) == b"SunS"
            for addr, mid, length in CHAIN:
                assert (await client.read_holding_registers(addr, count=2)).registers == [mid, length]
            assert (await client.read_holding_registers(END_AT, count=2)).registers == [0xFFFF, 0]
        finally:
            client.close()


async def test_setpoint_round_trip_and_state_of_charge(free_port: int, clock: FakeClock) -> None:
    async with (
        _battery(free_port, clock) as emu,
        ModbusBattery("127.0.0.1", free_port, revert_s=7200, monotonic=clock) as drv,
    ):
        assert (drv.energy_mwh, drv.power_max_mw) == (40.0, 20.0)
        start = await drv.read()
        assert start.soc_mwh == pytest.approx(20.0) and start.power_mw == 0.0
        assert await drv.set_power_mw(10.0) == pytest.approx(10.0)
        assert (await drv.read()).power_mw == pytest.approx(10.0)
        clock.advance(1800.0)  # half an hour at 10 MW: 5 MWh delivered, 5 / 0.9 drawn
        mid = await drv.read()
        assert mid.soc_mwh == pytest.approx(20.0 - 5.0 / 0.9, abs=0.01)  # 0.01 % SoC steps
        assert await drv.set_power_mw(-8.0) == pytest.approx(-8.0)
        clock.advance(900.0)  # a quarter hour at 8 MW charging: 2 MWh in, 2 x 0.9 stored
        end = await drv.read()
        assert end.power_mw == pytest.approx(-8.0)
        assert end.soc_mwh == pytest.approx(20.0 - 5.0 / 0.9 + 1.8, abs=0.01)
        assert emu.commands == 4  # two writes per setpoint: OutWRte+InWRte, then StorCtl_Mod


async def test_energy_limits_stop_the_battery_at_empty_and_full(free_port, clock) -> None:
    async with (
        _battery(free_port, clock, initial_soc_share=0.1) as emu,
        ModbusBattery("127.0.0.1", free_port, revert_s=60_000, monotonic=clock) as drv,
    ):
        await drv.set_power_mw(20.0)  # 4 MWh x 0.9 = 3.6 MWh deliverable: 10.8 min at 20 MW
        clock.advance(3600.0)
        empty = await drv.read()
        assert empty.soc_mwh == pytest.approx(0.0, abs=1e-9) and empty.power_mw == 0.0
        await drv.set_power_mw(-20.0)  # 40 MWh / 0.9 = 44.4 MWh of charge fill it
        clock.advance(3 * 3600.0)
        full = await drv.read()
        assert full.soc_share == pytest.approx(1.0) and full.power_mw == 0.0
        assert emu.stored_mwh == pytest.approx(40.0)


async def test_power_limits_are_refused(free_port: int, clock: FakeClock) -> None:
    async with _battery(free_port, clock), ModbusBattery("127.0.0.1", free_port, monotonic=clock) as drv:
        for wrong in (25.0, -25.0, math.nan):
            with pytest.raises(BatteryError, match="not within the nameplate"):
                await drv.set_power_mw(wrong)
        client = AsyncModbusTcpClient("127.0.0.1", port=free_port, timeout=2)
        await client.connect()
        try:
            too_much = await client.write_registers(OUT_W_RTE, [15000])  # 150 % in 0.01 %
            assert too_much.isError() and too_much.exception_code == 3
            read_only = await client.write_registers(SOC_AT, [0])
            assert read_only.isError() and read_only.exception_code == 2
            bad_mode = await client.write_registers(STOR_CTL_MOD, [4])
            assert bad_mode.isError() and bad_mode.exception_code == 3
        finally:
            client.close()


async def test_a_command_lapses_after_the_revert_time(free_port: int, clock: FakeClock) -> None:
    async with (
        _battery(free_port, clock) as emu,
        ModbusBattery("127.0.0.1", free_port, revert_s=30, monotonic=clock) as drv,
    ):
        await drv.set_power_mw(-10.0)
        clock.advance(29.0)
        assert emu.advance() == pytest.approx(-10.0)
        clock.advance(600.0)
        assert (await drv.read()).power_mw == 0.0
        # charged for 30 s only: 10 MW x 30 s x 0.9
        assert emu.stored_mwh == pytest.approx(20.0 + 10.0 * 30.0 / 3600.0 * 0.9)


async def test_faults_are_refused_by_the_driver(free_port: int, clock: FakeClock) -> None:
    async with (
        _battery(free_port, clock) as emu,
        ModbusBattery("127.0.0.1", free_port, stale_s=5.0, monotonic=clock) as drv,
    ):
        emu.freeze()
        await drv.read()
        clock.advance(3.0)
        await drv.read()  # the heartbeat may pause shortly
        clock.advance(3.0)
        with pytest.raises(BatteryStale, match="Hb stuck"):
            await drv.read()
        emu.release_faults()
        await drv.read()
        emu.ignore_writes()
        with pytest.raises(BatterySetpointNotApplied, match="read back"):
            await drv.set_power_mw(5.0)
        emu.release_faults()
        emu.force_point("SoC", 10_500)  # 105 %
        with pytest.raises(BatteryError, match="outside 0-100"):
            await drv.read()
        emu.release_faults()
        emu.trip()
        with pytest.raises(BatteryError, match="FAULT"):
            await drv.read()
        assert emu.advance() == 0.0


async def test_unreachable_battery_raises(free_port: int) -> None:
    with pytest.raises(BatteryError, match=str(free_port)):
        await ModbusBattery("127.0.0.1", free_port, timeout_s=0.2).connect()


def test_bad_emulator_values_are_named() -> None:
    with pytest.raises(ValueError, match="energy_mwh"):
        BatteryEmulator(power_mw=1.0, energy_mwh=math.nan)
    with pytest.raises(ValueError, match="initial_soc_share"):
        BatteryEmulator(power_mw=1.0, energy_mwh=1.0, initial_soc_share=1.5)


async def test_emulate_battery_process_is_commanded_by_the_driver() -> None:
    src = str(Path(ballast.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    cmd = [
        sys.executable,
        "-m",
        "ballast",
        "emulate",
        "battery",
        "--port",
        "0",
        "--unit-id",
        "7",
        "--power-mw",
        "10",
        "--energy-mwh",
        "20",
        "--soc",
        "0.25",
    ]
    proc = start_until_ready(cmd, env=env)
    try:
        ready = next(line for line in proc.lines if line.startswith("ready:"))  # type: ignore[attr-defined]
        match = re.search(r"on ([\d.]+):(\d+) unit 7", ready)
        assert match, ready
        async with ModbusBattery(match[1], int(match[2]), device_id=7) as drv:
            assert (drv.power_max_mw, drv.energy_mwh) == (10.0, 20.0)
            assert (await drv.read()).soc_mwh == pytest.approx(5.0)
            assert await drv.set_power_mw(-4.0) == pytest.approx(-4.0)
            assert (await drv.read()).power_mw == pytest.approx(-4.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, "".join(proc.lines)  # type: ignore[attr-defined]
    finally:
        finish(proc)


def test_emulate_battery_command_line_names_bad_options() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ballast",
            "emulate",
            "battery",
            "--power-mw",
            "10",
            "--energy-mwh",
            "20",
            "--soc",
            "1.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "--soc must be <= 1" in out.stderr


def test_battery_energy_arithmetic() -> None:
    from ballast.physics import battery_max_discharge_mw, battery_stored_change_mwh

    # one-way 0.9 (round trip 0.81): 10 MW out for half an hour draws 5 / 0.9 MWh from the
    # cells; 10 MW in for half an hour stores 4.5 MWh
    assert battery_stored_change_mwh(10.0, 0.5, 0.9) == pytest.approx(-5.0 / 0.9)
    assert battery_stored_change_mwh(-10.0, 0.5, 0.9) == pytest.approx(4.5)
    assert battery_stored_change_mwh(0.0, 0.5, 0.9) == 0.0
    # 1 MWh stored delivers 0.9 MWh: 3.6 MW for a quarter hour
    assert battery_max_discharge_mw(1.0, 0.25, 0.9) == pytest.approx(3.6)
