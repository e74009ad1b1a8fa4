"""A shed never waits behind a wake's ramp verification (issue 15 item 5, live safety).

Miners whose firmware reports no curtail state are verified by waiting the ramp (wake ~10 s)
and judging by power. These tests hold that ramp open with a gate (an injected wait that
returns only when the test releases it) and command real TCP LuxOS emulators through the
runtime's ``FleetControl``: a shed sent while the wake is still being verified must reach the
miners before the ramp ends, and the wake's verification must not undo it afterwards. No wall
clock is asserted: the order of events (ramp still held, sleep already received) and the
emulators' command counters are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ballast.live.commands import FleetControl
from ballast.live.devices import Device
from ballast.live.drivers.capabilities import WAKE_RAMP_S
from ballast.live.drivers.fleet import FleetCommander
from ballast.live.emulators.luxos import MinerEmulator

from .conftest import FakeClock

HANG_S = 20.0  # only bounds a broken run; nothing below depends on how fast the machine is


class RampGate:
    """An injected wait: ramps shorter than a wake ramp pass at once (moving the emulators'
    clock); a wake ramp blocks until ``release()``, so its verification stays in progress."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.released = asyncio.Event()
        self.waiting = 0  # wake-ramp waits now in progress

    async def wait(self, seconds: float) -> None:
        if seconds >= WAKE_RAMP_S:
            self.waiting += 1
            try:
                await self.released.wait()
            finally:
                self.waiting -= 1
        self.clock.advance(seconds)

    def release(self) -> None:
        self.released.set()


async def until(pred: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_S
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)


def sent(emu: MinerEmulator, ip: str, arg: str) -> int:
    return emu.miner(ip).command_counts[("curtail", arg)]


async def fleet_without_curtail_state(
    emu: MinerEmulator, gate: RampGate, forced: Callable[[], set[int]] = set
) -> FleetControl:
    for ip in emu.ips:
        emu.set_quirks(ip, reports_curtail_state=False)
    fleet = FleetCommander(emu.ips, timeout_s=2.0, retries=0, wait=gate.wait)
    devices = {ip: Device(ip, 0) for ip in emu.ips}
    cmd = FleetControl(fleet, devices, 2.0, 0, wait=gate.wait, forced=forced)
    await cmd.read(False, set, 0.0)  # adopt what the miners do (all running)
    return cmd


async def test_a_shed_reaches_miners_whose_wake_is_still_being_verified(
    base_ip: str, clock: FakeClock
) -> None:
    async with MinerEmulator(4, base_ip, clock=clock) as emu:
        gate = RampGate(clock)
        cmd = await fleet_without_curtail_state(emu, gate)
        waking, running = emu.ips[:2], emu.ips[2:]
        await cmd.send(waking, [], None, 0.0)
        assert all(emu.true_state(ip).asleep for ip in waking)

        wake = asyncio.create_task(cmd.send([], waking, None, 1.0))
        await until(lambda: gate.waiting > 0, "the wake's ramp verification to begin")
        assert all(sent(emu, ip, "wakeup") == 1 for ip in waking)

        # the AI load rises: shed the miners being woken and the ones already running
        shed = asyncio.create_task(cmd.send(waking + running, [], None, 2.0))
        await until(shed.done, "the shed to finish while the wake ramp is held")
        assert not gate.released.is_set() and gate.waiting > 0  # the wake still verifying
        records = shed.result()
        assert [(r.command, r.ok) for r in records if r.command == "sleep"] == [("sleep", 4)]
        for ip in emu.ips:
            assert sent(emu, ip, "sleep") == (2 if ip in waking else 1)
            assert emu.true_state(ip).asleep

        # the wake's verification ends: it must neither resend the wake nor undo the shed
        gate.release()
        await wake
        await cmd.settle()
        for ip in waking:
            assert sent(emu, ip, "wakeup") == 1
        for ip in emu.ips:
            assert emu.true_state(ip).asleep
            d = cmd.devices[ip]
            assert (d.want_run, d.asleep, d.status) == (False, True, "ok")


async def test_a_wake_returns_before_its_ramp_and_is_verified_by_power_after_it(
    base_ip: str, clock: FakeClock
) -> None:
    async with MinerEmulator(3, base_ip, clock=clock) as emu:
        gate = RampGate(clock)
        cmd = await fleet_without_curtail_state(emu, gate)
        await cmd.send(emu.ips, [], None, 0.0)
        records = await asyncio.wait_for(cmd.send([], emu.ips, None, 1.0), HANG_S)
        assert not gate.released.is_set()  # the tick was not held by the ramp
        assert [r.command for r in records] == ["wake"]
        for ip in emu.ips:
            d = cmd.devices[ip]
            assert (d.want_run, d.status, d.asleep) == (True, "ok", None)  # not yet known
        gate.release()
        await cmd.settle()
        for ip in emu.ips:
            d = cmd.devices[ip]
            assert (d.want_run, d.status, d.asleep) == (True, "ok", False)
            assert emu.true_state(ip).power_w > 1000.0
            assert sent(emu, ip, "wakeup") == 1  # waited, not resent
        late = await cmd.send([], [], None, 2.0)  # the verification's record comes with a tick
        assert [(r.command, r.miners, r.ok) for r in late] == [("wake", 3, 3)]


async def test_a_miner_that_ignores_the_wake_gets_it_once_more_then_is_ignored(
    base_ip: str, clock: FakeClock
) -> None:
    async with MinerEmulator(2, base_ip, clock=clock) as emu:
        gate = RampGate(clock)
        cmd = await fleet_without_curtail_state(emu, gate)
        await cmd.send(emu.ips, [], None, 0.0)
        bad, good = emu.ips
        await emu.inject(bad, ignore_commands=True)
        gate.release()
        await cmd.send([], emu.ips, None, 1.0)
        await cmd.settle()
        assert sent(emu, bad, "wakeup") == 2  # a ramp, a read-back that disagrees, one resend
        assert sent(emu, good, "wakeup") == 1
        assert (cmd.devices[bad].status, cmd.devices[bad].asleep) == ("ignored", True)
        assert (cmd.devices[good].status, cmd.devices[good].asleep) == ("ok", False)


async def test_a_verification_never_resends_a_wake_to_a_group_that_must_sleep_now(
    base_ip: str, clock: FakeClock
) -> None:
    async with MinerEmulator(1, base_ip, clock=clock) as emu:
        gate = RampGate(clock)
        forced: set[int] = set()
        cmd = await fleet_without_curtail_state(emu, gate, lambda: forced)
        (ip,) = emu.ips
        await cmd.send([ip], [], None, 0.0)
        await emu.inject(ip, ignore_commands=True)  # stays asleep: would get the wake again
        await cmd.send([], [ip], None, 1.0)
        forced.add(0)  # e.g. the operator curtails the group during the ramp
        gate.release()
        await cmd.settle()
        assert sent(emu, ip, "wakeup") == 1
        d = cmd.devices[ip]
        assert (d.want_run, d.asleep, d.status) == (False, True, "ok")
        (record,) = await cmd.send([], [], None, 2.0)
        assert (record.command, record.counts) == ("wake", {"superseded": 1})
