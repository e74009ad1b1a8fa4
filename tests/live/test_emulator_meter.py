"""The Modbus meter emulator read back by the pymodbus-client driver over TCP."""

from __future__ import annotations

import pytest

from ballast.live.drivers.meter import MeterError, ModbusMeter
from ballast.live.emulators.meter import (
    REGISTER_MAP,
    MeterEmulator,
    decode_float32,
    encode_float32,
)

from .conftest import FakeClock

SITE = {
    "campus_import_power_mw": 212.5,
    "ai_feeder_power_mw": 150.25,
    "miners_feeder_power_mw": 92.0,
    "renewables_feeder_power_mw": 29.75,
    "voltage_kv": 137.5,
}


def test_register_map_is_contiguous_float32() -> None:
    assert [r.address for r in REGISTER_MAP] == list(range(0, 2 * len(REGISTER_MAP), 2))
    assert encode_float32(59.6) == (0x426E, 0x6666)  # big-endian words of IEEE-754 59.6
    assert decode_float32(*encode_float32(-12.5)) == -12.5


@pytest.mark.parametrize("input_registers", [False, True])
async def test_client_reads_back_what_the_site_set(
    free_port: int, clock: FakeClock, input_registers: bool
) -> None:
    async with MeterEmulator(port=free_port, clock=clock) as meter:
        meter.set_site(**SITE)
        async with ModbusMeter("127.0.0.1", free_port, input_registers=input_registers) as c:
            reading = await c.read()
    for name, value in SITE.items():
        assert getattr(reading, name) == pytest.approx(value)
    assert reading.frequency_hz == pytest.approx(60.0)
    assert reading.read_at.tzinfo is not None


async def test_step_loss_of_generation_shows_in_frequency(free_port: int, clock: FakeClock) -> None:
    async with MeterEmulator(port=free_port, clock=clock) as meter:
        meter.step_loss_of_generation(59.6, fall_s=4.0, hold_s=10.0, recover_s=60.0)
        async with ModbusMeter("127.0.0.1", free_port) as c:
            seen = []
            for dt_s in (0.0, 2.0, 2.0, 10.0, 30.0, 30.0, 100.0):
                clock.advance(dt_s)
                seen.append((await c.read()).frequency_hz)
    assert seen == pytest.approx([60.0, 59.8, 59.6, 59.6, 59.8, 60.0, 60.0], abs=1e-4)


async def test_slow_decline_reaches_floor(free_port: int, clock: FakeClock) -> None:
    async with MeterEmulator(port=free_port, clock=clock) as meter:
        meter.slow_decline(rate_hz_per_s=0.01, floor_hz=59.5)
        async with ModbusMeter("127.0.0.1", free_port) as c:
            clock.advance(20.0)
            mid_hz = (await c.read()).frequency_hz
            clock.advance(1000.0)
            end_hz = (await c.read()).frequency_hz
    assert mid_hz == pytest.approx(59.8, abs=1e-4)
    assert end_hz == pytest.approx(59.5, abs=1e-4)


def test_bad_site_values_and_events_are_named() -> None:
    meter = MeterEmulator()
    with pytest.raises(ValueError, match="ai_feeder_power_mw"):
        meter.set_site(ai_feeder_power_mw=float("nan"))
    with pytest.raises(ValueError, match="nadir_hz"):
        meter.step_loss_of_generation(61.0)
    with pytest.raises(ValueError, match="rate_hz_per_s"):
        meter.slow_decline(rate_hz_per_s=0.0)


async def test_unreachable_meter_raises(free_port: int) -> None:
    with pytest.raises(MeterError, match=str(free_port)):
        async with ModbusMeter("127.0.0.1", free_port, timeout_s=0.2):
            pass


async def test_fault_hooks_force_freeze_and_release(free_port: int, clock: FakeClock) -> None:
    """The emulator's fault hooks over the real protocol: a forced NaN register is refused by
    the driver naming its channel; a frozen meter serves the old values whatever the physics
    writes; release_faults shows the physics again."""
    from ballast.live.drivers.meter import NonFiniteMeterValue

    async with MeterEmulator(port=free_port, clock=clock) as meter:
        meter.set_site(**SITE)
        async with ModbusMeter("127.0.0.1", free_port) as c:
            meter.force_register("ai_feeder_power_mw", float("nan"))
            with pytest.raises(NonFiniteMeterValue, match="ai_feeder_power_mw") as err:
                await c.read()
            assert err.value.channel == "ai_feeder"
            meter.force_register("frequency_hz", 1e30)  # absurd but a float32: served as is
            meter.release_faults()
            meter.freeze()
            meter.set_site(campus_import_power_mw=50.0)
            assert (await c.read()).campus_import_power_mw == 212.5  # frozen
            meter.release_faults()
            assert (await c.read()).campus_import_power_mw == 50.0
    with pytest.raises(ValueError, match="float32"):
        meter.force_register("frequency_hz", 1e39)
    with pytest.raises(KeyError, match="nope"):
        meter.force_register("nope", 1.0)
