"""The live runtime's background readers: the meter poller (also the under-frequency relay fast
path, ``live.ufr``), the AI telemetry poller, the periodic fleet read-back and the relay
sessions. Each ``*_once`` step is awaited by hand in tests; the loops only call it and sleep.
Readings are checked by ``live.sensing``; a refused or failed reading only ages the data (the
watchdog judges)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ballast.live.ufr import check_ufr

if TYPE_CHECKING:
    from ballast.live.runtime import Runtime

log = logging.getLogger("ballast.live")


async def poll_meter_once(rt: Runtime) -> bool:
    """Read the meter once; check the reading; if accepted, make it the latest sample, refresh
    the meter's last-good time (monotonic) and run the relay fast path on its frequency."""
    timeout = rt.site.meter.timeout_s if rt.site.meter else 0.5
    try:
        sample = await asyncio.wait_for(rt.meter.read(), timeout)
    except Exception as e:  # any failure only ages the data; the watchdog judges
        rt.sensing.read_failed("meter", "meter", e)
        return False
    witness = (rt.ai_power_mw, rt._fleet_witness)
    if not rt.sensing.check_meter(sample, witness, rt.monotonic()):
        return False
    rt.meter_sample = sample
    rt.meter_ok_s = rt.monotonic()
    if rt.site.ufr.enabled:
        await check_ufr(rt, sample.frequency_hz)
    return True


async def poll_ai_once(rt: Runtime) -> bool:
    """Read the AI telemetry once; if the value passes its checks, make it the latest AI power
    and refresh its last-good time (monotonic)."""
    if rt.ai is None:
        return False
    timeout = rt.site.ai.timeout_s if rt.site.ai else 0.5
    try:
        power_mw = float(await asyncio.wait_for(rt.ai.read_power_mw(), timeout))
    except Exception as e:
        rt.sensing.read_failed("AI telemetry", "ai_telemetry", e)
        return False
    if not rt.sensing.check_ai(power_mw):
        return False
    rt.ai_power_mw = power_mw
    rt.ai_ok_s = rt.monotonic()
    return True


async def meter_loop(rt: Runtime) -> None:
    period = rt.site.ufr.poll_s if rt.site.ufr.enabled else min(rt.site.tick_s, 0.5)
    while True:
        await rt.poll_meter_once()
        await asyncio.sleep(period)


async def ai_loop(rt: Runtime) -> None:
    while True:
        await rt.poll_ai_once()
        await asyncio.sleep(min(rt.site.tick_s, 1.0) / 2)


async def fleet_read_loop(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(rt.site.fleet.read_every_s)
        try:
            await rt.cmd.read(True, rt._forced_groups, rt.clock())
        except Exception as e:  # keep reading next period
            log.warning("fleet read failed: %s", e)


async def keep_relay_sessions(rt: Runtime) -> None:
    """Hold sessions on the relay miners (if the fleet can) so a trip is one round trip;
    failures are counted per miner (``keepalive_failures``)."""
    if rt.site.ufr.enabled:
        await rt.cmd.keep_sessions([d.ip for d in rt.devices.values() if d.group in rt.ufr_groups])


async def session_loop(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(rt.site.fleet.session_keepalive_s)
        await keep_relay_sessions(rt)
