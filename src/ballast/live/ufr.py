"""The under-frequency relay fast path of the live runtime (called by ``poll_meter_once`` on
every accepted meter reading): below 59.70 Hz (ERCOT NPRR828) the relay-assigned miners are
slept at once, without waiting for a tick. Event times are wall clock; the restore hold is
measured on the monotonic clock."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ballast.live.obligations import ufr_may_restore, ufr_should_trip
from ballast.live.store import EventRecord

if TYPE_CHECKING:
    from ballast.live.runtime import Runtime

log = logging.getLogger("ballast.live")


async def check_ufr(rt: Runtime, frequency_hz: float) -> None:
    """Trip the relay miners below ``ufr.trip_hz`` (verified sleep, latency logged; the miners'
    total after the trip is latched as a cap so others cannot take up the shed power); reset
    after ``ufr.restore_hold_s`` above ``ufr.restore_hz`` by the monotonic clock."""
    cfg = rt.site.ufr
    now = rt.clock()  # records
    now_m = rt.monotonic()  # the restore hold
    if not rt.ufr_tripped and rt.ufr_groups and ufr_should_trip(frequency_hz, cfg.trip_hz):
        rt.ufr_tripped = True
        rt.ufr_above_since_s = None
        rt.ufr_trips += 1
        t_detect = time.perf_counter()
        ips = [d.ip for d in rt.devices.values() if d.group in rt.ufr_groups]
        rt.cmd.intend_sleep(ips)  # intent first: no tick, read or verification may wake them
        res = await rt.cmd.call("sleep", ips)
        latency_s = time.perf_counter() - t_detect
        rt.cmd.apply(res.outcomes, want_run=False)
        # Other miners must not take up the power the relay shed (that would undo the
        # frequency response): latch the miners' total after the trip as a cap.
        rt.ufr_cap_mw = rt._planned_miner_mw()
        ok = sum(1 for o in res.outcomes if o.compliant)
        data = {"frequency_hz": frequency_hz, "trip_hz": cfg.trip_hz, "miners": len(ips),
                "asleep_verified": ok, "latency_s": latency_s, "budget_s": cfg.budget_s,
                "on_time": latency_s <= cfg.budget_s and ok == len(ips),
                "groups": [rt.group_names[g] for g in sorted(rt.ufr_groups)],
                "tick": rt.tick_no}
        msg = (f"under-frequency {frequency_hz:.3f} Hz < {cfg.trip_hz:.2f} Hz: slept "
               f"{ok}/{len(ips)} relay miners in {latency_s * 1000:.0f} ms")
        log.warning(msg)
        rt.store.add_event(EventRecord(now, "ufr_trip", msg, data), rt.tick_no)
        rt.store.add_command(rt.cmd.record(now, "ufr", "sleep", res), rt.tick_no)
        return
    if rt.ufr_tripped:
        if rt.ufr_cap_mw is None:
            rt.ufr_cap_mw = rt._planned_miner_mw()
        if frequency_hz >= cfg.restore_hz:
            if rt.ufr_above_since_s is None:
                rt.ufr_above_since_s = now_m
            if ufr_may_restore(now_m, rt.ufr_above_since_s, cfg.restore_hold_s):
                rt.ufr_tripped = False
                rt.ufr_cap_mw = None
                rt.pending_events.append(EventRecord(
                    now, "ufr_restore", f"frequency above {cfg.restore_hz} Hz for "
                    f"{cfg.restore_hold_s:.0f} s: relay miners back under control"))
        else:
            rt.ufr_above_since_s = None
