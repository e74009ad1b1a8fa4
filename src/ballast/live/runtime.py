"""The live runtime: an asyncio loop that runs the shared controller on real (or emulated) devices.

Each tick (default 1 s, ``live.tick``): freeze a snapshot of the site, call
``ballast.control.step`` (the same compiled rule stack as the backtest), command particular
miners with read-back verification, and commit the tick to the store in one transaction.
Alongside the tick (``live.pollers``):

- a meter poller (every ``ufr.poll_s``) that is also the under-frequency relay *fast path*:
  below 59.70 Hz (ERCOT NPRR828) the relay-assigned miners are slept at once, without waiting
  for a tick, and the trip is logged with its latency;
- sensing (``live.sensing``): every meter and AI reading must be finite, plausible for its
  channel and (the meter) not frozen; a refused reading is stale data, counted per reason;
- the watchdog: no accepted meter reading for ``watchdog.meter_stale_s`` puts the site in the
  safe state (every miner asleep) until the meter is back; stale AI telemetry is replaced by
  the AI tenant's full facility load;
- the fail-safe (``live.health``): ``watchdog.max_failed_ticks`` failed ticks in a row sleep every
  miner through the fleet (verified), on a path independent of the tick, until a tick succeeds;
- a periodic fleet read-back that marks miners reachable/compliant again or not, and re-sends
  the wanted state to non-compliant ones.
- the battery, when the site config names one (``live.battery_link``): its own loop reads the
  state of charge for the snapshot and sends the controller's setpoint, verified by read-back;
  unavailable, it is left out of the controller and the charge it may still draw is load.

Clocks: ``clock`` (UTC wall time, default ``time.time``) stamps records, DR schedules and the
controller's snapshot; ``monotonic`` (default ``time.monotonic``) measures every age and timeout
(watchdog and AI staleness, relay restore hold, frozen meter, tick lateness), so a wall-clock
step neither hides stale data nor trips the safe state.

Stepping without sleeping (tests, simulated-time benchmarks): ``await poll_meter_once()`` reads,
checks and (if good) publishes one meter sample, and runs the relay fast path on it;
``await poll_ai_once()`` does the same for the AI telemetry; ``await tick()`` runs one control
cycle; ``await warm_up()`` compiles the controller. The background loops only call these and
sleep. ``health()`` is the document behind ``/healthz``.

A miner that does not comply (timeout, refused, acknowledged-but-ignored) is taken out of the
controller's hands for that tick: its power (assumed full unless it reads asleep) counts as
inflexible load, so the controller makes up the difference with the other miners.

Every fleet command has an overall deadline, so a stalled driver cannot stall control. Price
and hashprice come from the policy (site config, API) or a market replay of the scenario's own
series (``live.market_replay``).

Scaled emulation: a group's addresses may each stand for ``miners_per_device`` real miners; the
controller then sees a group of ``len(addresses)`` units of that many miners' power each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ballast.control import ControllerState, Snapshot, step
from ballast.live import pollers
from ballast.live.battery_link import BatteryLink, check_battery_config
from ballast.live.commands import FleetControl
from ballast.live.devices import Device, group_counts, planned_miner_mw
from ballast.live.drivers.aio import cancel_and_wait
from ballast.live.fleet_table import FleetTable
from ballast.live.fourcp_load import run_load_feed
from ballast.live.health import TickHealth, health_document, safe_mode_reason, tick_failed
from ballast.live.interfaces import AiTelemetry, Battery, Meter, MeterSample, MinerFleet
from ballast.live.market_replay import MarketReplay
from ballast.live.obligations import DrBook, DrEvent, check_dr_policy, check_dr_window
from ballast.live.program_windows import Window, add_program_window, cancel_program_window
from ballast.live.resume import resume
from ballast.live.sensing import Sensing, plausible_ranges
from ballast.live.site_config import SiteConfig
from ballast.live.site_model import (
    Policy,
    live_programs,
    refuse_unsupported,
    scaled_controller_config,
    site_nameplate,
)
from ballast.live.store import EventRecord, Store
from ballast.live.tick import run_tick
from ballast.scenario import Scenario

log = logging.getLogger("ballast.live")

GroupMode = str  # "auto" | "curtailed" (manual) ; "ufr_tripped" is reported, not set


class Runtime:
    """One campus, live. ``await run()`` until ``stop()``; see the module docstring."""

    def __init__(self, scenario: Scenario, site: SiteConfig, *, fleet: MinerFleet, meter: Meter,
                 store: Store, ai: AiTelemetry | None = None, battery: Battery | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        refuse_unsupported(scenario, site.path(site.scenario))  # never dropped silently
        self.scenario = scenario
        self.site = site
        self.fleet = fleet
        self.meter = meter
        self.ai = ai
        self.store = store
        self.clock = clock
        self.monotonic = monotonic
        self.base_cfg = scaled_controller_config(scenario, site)
        self.group_names = list(self.base_cfg.groups.names)
        gidx = {n: i for i, n in enumerate(self.group_names)}
        self.devices: dict[str, Device] = {}
        for m in site.miners:
            for ip in m.addresses():
                self.devices[ip] = Device(ip, gidx[m.group])
        bad = sorted(set(site.ufr.groups) - set(gidx))
        if bad:
            raise ValueError(f"site config ufr.groups: {bad} are not scenario groups "
                             f"({self.group_names})")
        self.ufr_groups = {gidx[n] for n in site.ufr.groups}
        plate = site_nameplate(scenario)
        self.ai_full_mw = plate.ai_full_mw
        self.sensing = Sensing(plausible_ranges(plate, site.sensing), site.sensing.frozen_after_s)
        self.ticks = TickHealth(site.watchdog.max_failed_ticks,
                                site.watchdog.late_ticks * site.tick_s, monotonic())
        self.policy = Policy(site.market.price_usd_per_mwh, site.market.hashprice_usd_per_ph_day,
                             scenario.control.economic_dispatch, scenario.control.import_margin_mw)
        self.modes: dict[str, GroupMode] = {n: "auto" for n in self.group_names}
        self.state = ControllerState.initial(self.base_cfg, clock(), running=True)
        self.tick_no = 0
        self.resumed_from_tick: int | None = None  # last committed tick found at start
        self.safe_mode = False  # the watchdog's safe state (the fail-safe is in self.ticks)
        self.meter_sample: MeterSample | None = None
        self.meter_ok_s: float | None = None  # monotonic time of the last accepted reading
        self.ai_power_mw: float | None = None
        self.ai_ok_s: float | None = None  # monotonic
        self.ufr_tripped = False
        self.ufr_above_since_s: float | None = None  # monotonic
        self.ufr_trips = 0
        self.ufr_cap_mw: float | None = None  # miner power latched at the trip [MW]
        self.dr = DrBook()
        # the grid programs' live parts (live.grid_programs), when the scenario has programs:
        self.programs = live_programs(scenario, self.base_cfg, site)
        # the devices' columns the tick plans with (live.fleet_table): built once with the fleet,
        # updated by every writer of a device record (live.commands)
        self.fleet_table = FleetTable(self.devices.values())
        self.cmd = FleetControl(fleet, self.devices, site.fleet.timeout_s, site.fleet.retries,
                                clock=clock, forced=self._forced_groups, table=self.fleet_table)
        self.last_tick: dict[str, Any] | None = None
        self.subscribers: set[asyncio.Queue] = set()
        self.on_tick: list[Callable[[dict[str, Any]], None]] = []
        self.pending_events: list[EventRecord] = []  # written with the next committed tick
        self._fleet_witness: tuple[int, ...] = ()  # miners verified asleep per group
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.started = asyncio.Event()
        self.replay: MarketReplay | None = None  # set in start() when configured
        # seed the restore ramp from the meter at the next fresh reading (start, watchdog clear)
        self._seed_restore = True
        # battery hook (live.battery_link): its own loop reads it and sends the setpoints
        if (battery is None) != (site.battery is None):
            raise ValueError("site config battery: give both the battery section and a battery "
                             "driver, or neither")
        self.battery = BatteryLink(battery, site.battery) if battery and site.battery else None

    @property
    def dr_events(self) -> dict[str, DrEvent]:
        return self.dr.events

    @property
    def keepalive_failures(self) -> Counter[str]:
        return self.cmd.keepalive_failures

    @property
    def tick_errors(self) -> int:
        return self.ticks.failed_total

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Resume from the store, compile the controller, learn the fleet's state, start the
        pollers."""
        resume(self)
        check_battery_config(self.base_cfg, self.site.battery,  # battery hook
                             f"site config battery (scenario {self.site.scenario})")
        replay = self.site.market.replay
        if replay is not None and self.replay is None:
            self.replay = MarketReplay(self.scenario, self.site.path(self.site.scenario).parent,
                                       replay.start, replay.speed, self.clock())
        await self.warm_up()
        await self.cmd.read(False, self._forced_groups, self.clock())
        await pollers.keep_relay_sessions(self)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(pollers.meter_loop(self), name="meter"),
                       loop.create_task(pollers.fleet_read_loop(self), name="fleet-read"),
                       loop.create_task(pollers.session_loop(self), name="sessions")]
        if self.ai is not None:
            self._tasks.append(loop.create_task(pollers.ai_loop(self), name="ai"))
        feed = self.site.market.system_load_feed  # grid programs hook: the 4CP load
        if feed is not None and self.programs is not None and self.programs.load is not None:
            self._tasks.append(loop.create_task(run_load_feed(feed, self.programs.load,
                                                              self.clock), name="system-load"))
        if self.battery is not None:  # battery hook
            self._tasks.append(loop.create_task(self.battery.run(
                self.clock, self.monotonic, min(self.site.tick_s, 1.0) / 2), name="battery"))
        await self._wait_first_meter()
        self.ticks.restart_clock(self.monotonic())
        self.started.set()

    async def warm_up(self) -> float:
        """Compile (or load) the controller before control starts, on a throwaway copy of the
        state, in a worker thread: a cold first ``step`` takes seconds, and inside the first
        tick it would block the meter poller until the watchdog fired. Returns its time [s]."""
        t0 = time.perf_counter()
        snap = Snapshot(time_s=self.clock(), price_usd_per_mwh=self.policy.price_usd_per_mwh,
                        hashprice_usd_per_ph_day=self.policy.hashprice_usd_per_ph_day,
                        ai_load_mw=self.ai_full_mw)
        await asyncio.to_thread(step, self.base_cfg, self.state.copy(), snap)
        elapsed = time.perf_counter() - t0
        log.info("controller warmed up in %.2f s", elapsed)
        return elapsed

    async def _wait_first_meter(self) -> None:
        limit = self.monotonic() + self.site.watchdog.meter_stale_s
        while self.meter_ok_s is None and self.monotonic() < limit and not self._stop.is_set():
            await asyncio.sleep(0.02)

    async def run(self) -> None:
        """Tick until ``stop()``; then shut down gracefully."""
        await self.start()
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        try:
            while not self._stop.is_set():
                try:
                    await self.tick()
                except Exception as e:  # keep controlling: a failed store write must not stop it
                    log.exception("tick %d failed", self.tick_no + 1)
                    await self._tick_failed(e)
                next_t += self.site.tick_s
                now = loop.time()
                if next_t < now:  # overran: skip missed ticks rather than bunch them
                    next_t = now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), next_t - now)
        finally:
            await self.shutdown()

    def stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.cmd.close()  # no wake verification may run on after us
        if self.battery is not None:  # battery hook: nobody dispatches it once we are gone
            with contextlib.suppress(Exception):
                await self.battery.command(0.0, self.clock(), self.monotonic())
        action = self.site.shutdown_action
        asleep = None
        if action == "sleep" and self.devices:
            # Nobody watches the limit once we are gone: leave the miners asleep (safe state).
            with contextlib.suppress(Exception):
                self.cmd.intend_sleep(self.devices)
                res = await self.cmd.call("sleep", list(self.devices))
                self.cmd.apply(res.outcomes, want_run=False)
                self.store.add_command(self.cmd.record(self.clock(), None, "sleep", res),
                                       self.tick_no)
                asleep = sum(1 for o in res.outcomes if o.compliant)
        with contextlib.suppress(Exception):
            self.store.add_event(EventRecord(
                self.clock(), "shutdown", f"runtime stopped; miners: {action}",
                {"action": action, "asleep_verified": asleep, "miners": len(self.devices)}),
                self.tick_no)
        log.info("runtime stopped after tick %d; miners: %s", self.tick_no, action)
        for q in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)

    # ------------------------------------------------------- health, fail-safe
    async def _tick_failed(self, error: BaseException) -> None:
        await tick_failed(self, error)
        if self.battery is not None and self.ticks.failsafe_reason is not None:
            self.battery.submit(0.0)  # battery hook: the fail-safe idles the battery too

    @property
    def safe_mode_reason(self) -> str | None:
        """Why the site is in the safe state now (watchdog and/or fail-safe), or None."""
        return safe_mode_reason(self)

    def health(self) -> dict[str, Any]:
        """``ok`` unless ticks fail or are late (monotonic clock); why; the safe state and why;
        tick counters (``/healthz``, ``/api/v1/state``, ``/metrics``)."""
        return health_document(self)

    # --------------------------------------------------------------- pollers
    async def poll_meter_once(self) -> bool:
        """Read, check and (if good) publish one meter sample; relay fast path on it
        (``live.pollers.poll_meter_once``). Returns whether the reading was accepted."""
        return await pollers.poll_meter_once(self)

    async def poll_ai_once(self) -> bool:
        """Read and check the AI telemetry once (``live.pollers.poll_ai_once``)."""
        return await pollers.poll_ai_once(self)

    def _forced_groups(self) -> set[int]:
        """Groups whose miners must all sleep: manual curtail, tripped relay, safe state."""
        if self.safe_mode or self.ticks.failsafe_reason is not None:
            return set(range(len(self.group_names)))
        forced = {i for i, n in enumerate(self.group_names) if self.modes[n] == "curtailed"}
        if self.ufr_tripped:
            forced |= self.ufr_groups
        return forced

    # --------------------------------------------------------- UFR fast path
    def reset_ufr(self) -> None:
        """Operator reset of the relay (e.g. on the QSE's recall instruction)."""
        if self.ufr_tripped:
            self.ufr_tripped = False
            self.ufr_cap_mw = None
            self.pending_events.append(EventRecord(self.clock(), "ufr_restore",
                                                    "relay reset by operator"))

    def _planned_miner_mw(self) -> float:
        g = self.base_cfg.groups
        return planned_miner_mw(self.devices.values(), g.run_mw, g.sleep_mw)

    def set_policy(self, **changes: Any) -> Policy:
        if self.replay is not None and changes.keys() & {"price_usd_per_mwh",
                                                         "hashprice_usd_per_ph_day"}:
            self.replay = None  # the operator's numbers win over the replay from now on
            self.pending_events.append(EventRecord(self.clock(), "market_replay_end",
                                                    "market replay ended by a policy update"))
        self.policy = replace(self.policy, **changes)
        return self.policy

    def set_group_mode(self, group: str, mode: GroupMode) -> None:
        if group not in self.modes:
            raise KeyError(f"no miner group {group!r}; groups: {self.group_names}")
        if mode not in ("auto", "curtailed"):
            raise ValueError(f"mode must be auto or curtailed, got {mode!r}")
        self.modes[group] = mode

    def add_dr_event(self, start_s: float, end_s: float, reduction_mw: float | None,
                     reduction_share: float | None, created_by: str) -> DrEvent:
        """Store and arm a DR event; ValueError (the API answers 422) for dates outside the
        window around now (``obligations.check_dr_window``) or a bad reduction."""
        check_dr_window(start_s, end_s, self.clock())
        check_dr_policy(self.scenario.programs, start_s, reduction_mw, self.clock())
        ev = DrEvent(uuid.uuid4().hex[:12], start_s, end_s, reduction_mw, reduction_share)
        self.store.add_dr_event(ev.id, start_s, end_s, reduction_mw, reduction_share,
                                self.clock(), created_by)
        self.dr.events[ev.id] = ev
        return ev

    def cancel_dr_event(self, event_id: str) -> bool:
        now = self.clock()
        ev = self.dr.events.get(event_id)
        if ev is None or ev.cancelled_s is not None:
            return False
        self.store.cancel_dr_event(event_id, now)
        self.dr.cancel(event_id, now)
        return True

    def add_program_window(self, *args: Any, **kwargs: Any) -> Window:
        """A 4CP alert or a reserve deployment (``program_windows.add_program_window``)."""
        return add_program_window(self, *args, **kwargs)

    def cancel_program_window(self, window_id: str, created_by: str) -> bool:
        return cancel_program_window(self, window_id, created_by)

    # ------------------------------------------------------------------ tick
    async def tick(self) -> dict[str, Any]:
        """One control cycle (``live.tick.run_tick``); returns the tick document (see
        ``ballast.live.api``)."""
        return await run_tick(self)

    def _mode(self, gi: int) -> str:
        if self.safe_mode or self.ticks.failsafe_reason is not None:
            return "safe"
        if self.ufr_tripped and gi in self.ufr_groups:
            return "ufr_tripped"
        return self.modes[self.group_names[gi]]

    def group_counts(self) -> list[dict[str, Any]]:
        """Per group: name, device counts by state (``devices.group_counts``), mode."""
        counts = group_counts(self.devices.values(), len(self.group_names))
        return [{"name": name, **counts[gi], "mode": self._mode(gi)}
                for gi, name in enumerate(self.group_names)]

    def _publish(self, doc: dict[str, Any]) -> None:
        for cb in self.on_tick:
            cb(doc)
        for q in list(self.subscribers):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()  # a slow client loses the oldest tick, not the newest
            q.put_nowait(doc)

    def subscribe(self, maxsize: int = 16) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.subscribers.discard(q)
