"""One control cycle of the live runtime (``Runtime.tick``).

Freeze a snapshot of the site (the latest *accepted* meter sample, AI power, market policy,
obligations), call ``ballast.control.step`` (the same compiled rule stack as the backtest), turn
the miners-per-group decision into sleep/wake commands for particular miners, fan them out with
read-back verification, and commit everything the tick saw and did to the store in one
transaction. The battery's part is ``live.battery_tick``; the market policy's is
``live.market`` and ``live.market_replay``; the grid programs' (caps and floors) is
``live.grid_programs``, DR's ``live.obligations``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ballast.control import Snapshot, step
from ballast.live.battery_tick import battery_command, battery_document, battery_inputs
from ballast.live.devices import plan_commands, split_fleet
from ballast.live.market.feeds import market_policy
from ballast.live.obligations import meter_stale
from ballast.live.program_settlement import tick_commitments
from ballast.live.resume import state_document
from ballast.live.sensing import worst_case_ai_mw
from ballast.live.site_model import Policy
from ballast.live.store import EventRecord, TickRecord
from ballast.live.tickdoc import tick_document

if TYPE_CHECKING:
    from ballast.live.runtime import Runtime

log = logging.getLogger("ballast.live")


@dataclass(frozen=True)
class Metered:
    """What the tick reads from the latest accepted meter sample (NaN / empty when stale)."""

    stale: bool
    age_s: float | None
    import_mw: float
    miners_mw: float
    renew_mw: float
    frequency_hz: float
    ai_mw: float  # worst case of the meter's AI feeder and the telemetry (full load if blind)


def watchdog(rt: Runtime, now: float, now_m: float, events: list[EventRecord]) -> Metered:
    """The watchdog's verdict on the meter (entering or leaving the safe state is an event) and
    the readings the tick may use."""
    wd = rt.site.watchdog
    stale = meter_stale(now_m, rt.meter_ok_s, wd.meter_stale_s)
    age_s = None if rt.meter_ok_s is None else now_m - rt.meter_ok_s
    if stale != rt.safe_mode:
        rt.safe_mode = stale
        rt._seed_restore = rt._seed_restore or not stale
        events.append(
            EventRecord(
                now,
                "watchdog" if stale else "watchdog_clear",
                "meter data stale: safe state, all miners asleep"
                if stale
                else "meter data fresh again: control resumed",
                {
                    "meter_age_s": age_s,
                    "stale_s": wd.meter_stale_s,
                    "last_refusal": rt.sensing.stats.last_reason.get("meter"),
                },
            )
        )
    m = rt.meter_sample if not stale else None
    ai_sources = [m.ai_feeder_power_mw] if m else []
    if rt.ai_power_mw is not None and rt.ai_ok_s is not None and (now_m - rt.ai_ok_s <= wd.ai_stale_s):
        ai_sources.append(rt.ai_power_mw)
    return Metered(
        stale,
        age_s,
        m.campus_import_power_mw if m else float("nan"),
        m.miners_feeder_power_mw if m else float("nan"),
        max(0.0, m.renewables_feeder_power_mw) if m else 0.0,
        m.frequency_hz if m else float("nan"),
        worst_case_ai_mw(ai_sources, rt.ai_full_mw),
    )  # worst case when blind


def tick_policy(rt: Runtime, now: float) -> tuple[Policy, float | None]:
    """The market policy this tick (replayed prices, then the live feeds' numbers or their stale
    fallback) and the replay's scenario time [s] (None without a replay)."""
    replay_s = None
    if rt.replay is not None:
        price, hashprice, replay_s = rt.replay.at(now)
        rt.policy = replace(rt.policy, price_usd_per_mwh=price, hashprice_usd_per_ph_day=hashprice)
    rt.policy = market_policy(rt, now)
    return rt.policy, replay_s


async def run_tick(rt: Runtime) -> dict[str, Any]:
    """One control cycle; returns the tick document (see ``ballast.live.api``)."""
    t_start = time.perf_counter()
    now = rt.clock()  # records, DR schedule, the controller's snapshot
    now_m = rt.monotonic()  # ages
    tick_no = rt.tick_no + 1  # becomes rt.tick_no once committed
    events, rt.pending_events = rt.pending_events, []
    me = watchdog(rt, now, now_m, events)
    stale = me.stale

    forced = rt._forced_groups()
    g = rt.base_cfg.groups
    controllable, fixed_mw, force_sleep = split_fleet(rt.fleet_table, forced, g.run_mw, g.sleep_mw)
    if not stale and (rt._seed_restore or not rt.state.restore_seeded):
        # the ramp starts from the metered import, never from a stale or saved level that is
        # higher (the miners may have slept meanwhile); fixed miners count as AI load
        rt.state.restore_from_meter(now, me.import_mw, max(0.0, me.miners_mw - fixed_mw))
        rt._seed_restore = False

    dr_cap, active, dr_events = rt.dr.cap(
        now, None if stale else me.import_mw, None if stale else me.miners_mw
    )
    events += dr_events
    pol, replay_s = tick_policy(rt, now)
    floor = 0.0
    if rt.programs is not None:  # grid programs hook (live.grid_programs)
        pl = rt.programs.limits(
            now,
            None if stale else (me.import_mw, me.miners_mw),
            me.ai_mw,
            pol.import_margin_mw,
            pol.price_usd_per_mwh,
            pol.hashprice_usd_per_ph_day,
            bool(np.isfinite(dr_cap)),
            rt.ufr_tripped,
        )
        events += pl.events
        active += pl.active
        dr_cap, floor = min(dr_cap, pl.cap_mw), pl.floor_mw
        rt.programs.settlement.settle(  # the interval since the last tick, on this meter
            tick_commitments(rt, now, pl.sold_mw, stale, active),
            None if stale else (me.import_mw, me.miners_mw),
            max(rt.site.tick_s, rt.site.watchdog.meter_stale_s),  # longer: not under control
        )
    cap = 0.0 if stale else dr_cap
    if rt.ufr_tripped and rt.ufr_cap_mw is not None:
        cap = min(cap, rt.ufr_cap_mw)
    batt = battery_inputs(rt, now_m, events)  # battery hook
    snap = Snapshot(
        time_s=now,
        price_usd_per_mwh=pol.price_usd_per_mwh,
        hashprice_usd_per_ph_day=pol.hashprice_usd_per_ph_day,
        ai_load_mw=me.ai_mw + fixed_mw + batt.load_mw,
        renewable_mw=me.renew_mw,
        cap_mw=max(0.0, cap - fixed_mw) if np.isfinite(cap) else cap,
        # fixed miners (forced asleep, non-compliant) count towards the floor
        floor_mw=0.0 if stale else max(0.0, floor - fixed_mw),
        # metered power of the miners the controller commands (the battery covers
        # what they have not reached yet, as in the fine backtest)
        miner_measured_mw=max(0.0, me.miners_mw - fixed_mw) if not stale else float("nan"),
        battery_soc_mwh=batt.soc_mwh or 0.0,
    )
    groups = replace(batt.cfg.groups, count=controllable)
    cfg = replace(
        batt.cfg,
        groups=groups,
        economic_dispatch=pol.economic_dispatch,
        import_margin_mw=pol.import_margin_mw,
    )
    rt.state.running[:] = np.minimum(rt.state.running, controllable)
    decision = step(cfg, rt.state, snap)
    rule = "watchdog" if stale else decision.binding_rule
    battery_command(
        rt,
        batt,
        cfg,
        snap,
        decision,  # battery hook: never charge over the limit
        stale or rt.ticks.failsafe_reason is not None,
        me.import_mw,
        me.renew_mw,
    )

    commands = await send_commands(rt, decision.running, forced, force_sleep, now)
    if stale:
        active.append({"kind": "watchdog", "meter_age_s": me.age_s})
    if rt.ufr_tripped:
        active.append({"kind": "ufr", "groups": [rt.group_names[i] for i in sorted(rt.ufr_groups)]})
    planned_mw = decision.miner_power_mw + fixed_mw
    doc = tick_document(
        rt,
        tick_no,
        now,
        replay_s,
        me.import_mw,
        me.frequency_hz,
        me.ai_mw,
        me.renew_mw,
        me.miners_mw,
        planned_mw,
        snap,
        rule,
        active,
        decision,
    )
    battery_document(rt, doc)  # battery hook
    meas = {
        "tick": tick_no,
        "time_s": now,
        "import_mw": me.import_mw,
        "frequency_hz": me.frequency_hz,
        "ai_load_mw": me.ai_mw,
        "renewable_mw": me.renew_mw,
        "miners_mw": me.miners_mw,
        "miners_planned_mw": planned_mw,
        "cap_mw": cap,
        "floor_mw": 0.0 if stale else floor,
        "price_usd_per_mwh": pol.price_usd_per_mwh,
        "hashprice_usd_per_ph_day": pol.hashprice_usd_per_ph_day,
        "binding_rule": rule,
        "safe_mode": int(stale),
        "meter_age_s": me.age_s,
    }
    setpoints = [  # with the miners verified asleep after this tick's fan-out (send_commands)
        (name, int(decision.running[i]), int(controllable[i]), rt._mode(i), rt._fleet_witness[i])
        for i, name in enumerate(rt.group_names)
    ]
    commit(rt, TickRecord(tick_no, meas, setpoints, commands, events, state_document(rt)), now)
    doc["tick_duration_s"] = time.perf_counter() - t_start
    rt.last_tick = doc
    rt._publish(doc)
    return doc


async def send_commands(
    rt: Runtime, running: np.ndarray, forced: set[int], force_sleep: list[str], now: float
) -> list:
    """Sleep/wake the particular miners the decision asks for (verified by read-back); keep the
    relay miners asleep if the relay tripped meanwhile; update the fleet witness the meter
    checks use. Returns the command records."""
    to_sleep, to_wake = plan_commands(rt.fleet_table, running, forced)
    commands = await rt.cmd.send(force_sleep + to_sleep, to_wake, None, now)
    if rt.ufr_tripped:  # a trip during our commands: make sure no relay miner runs
        late = [d.ip for d in rt.devices.values() if d.group in rt.ufr_groups and d.want_run is not False]
        if late:
            commands += await rt.cmd.send(late, [], "ufr", now)
    # what a live meter must reflect: miners verified asleep, per group (a miner that only
    # acknowledged a command changes no power, so commands alone are no evidence)
    asleep = [0] * len(rt.group_names)
    for d in rt.devices.values():
        asleep[d.group] += d.asleep is True
    rt._fleet_witness = tuple(asleep)
    return commands


def commit(rt: Runtime, record: TickRecord, now: float) -> None:
    """Write the tick in one transaction (its events retried with the next tick on failure);
    a committed tick clears the fail-safe."""
    for e in record.events:
        log.info("%s: %s", e.kind, e.message)
    try:
        rt.store.write_tick(record)
    except Exception:
        rt.pending_events = record.events + rt.pending_events  # retried with the next tick
        raise
    rt.tick_no = record.tick
    cleared = rt.ticks.succeeded(rt.monotonic())
    if cleared is not None:
        log.warning("fail-safe cleared: tick %d committed; control resumed", record.tick)
        rt.pending_events.append(
            EventRecord(now, "failsafe_clear", "ticks commit again: control resumed", {"was": cleared})
        )
