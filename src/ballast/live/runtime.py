"""The live runtime: an asyncio loop that runs the shared controller on real (or emulated) devices.

Each tick (default 1 s): freeze a snapshot of the site (latest meter sample, AI power, market
policy, obligations), call ``ballast.control.step`` (the same compiled rule stack as the
backtest), turn the miners-per-group decision into sleep/wake commands for particular miners,
fan them out with read-back verification, and commit everything the tick saw and did to the
store in one transaction. Alongside the tick:

- a meter poller (every ``ufr.poll_s``) that is also the under-frequency relay *fast path*:
  below 59.70 Hz (ERCOT NPRR828) the relay-assigned miners are slept at once, without waiting
  for a tick, and the trip is logged with its latency;
- the watchdog: no good meter read for ``watchdog.meter_stale_s`` puts the site in the safe
  state (every miner asleep) until the meter is back; stale AI telemetry is replaced by the AI
  tenant's full facility load;
- a periodic fleet read-back that marks miners reachable/compliant again or not, and re-sends
  the wanted state to non-compliant ones.

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
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ballast.control import ControllerConfig, ControllerState, Snapshot, step
from ballast.live.devices import (
    Device,
    apply_outcomes,
    group_counts,
    plan_commands,
    planned_miner_mw,
    split_fleet,
)
from ballast.live.interfaces import AiTelemetry, Meter, MeterSample, MinerFleet
from ballast.live.market_replay import MarketReplay
from ballast.live.obligations import (
    DrEvent,
    dr_cap_mw,
    dr_reduction_mw,
    meter_stale,
    ufr_may_restore,
    ufr_should_trip,
)
from ballast.live.site_config import SiteConfig
from ballast.live.store import CommandRecord, EventRecord, Store, TickRecord
from ballast.scenario import Scenario

log = logging.getLogger("ballast.live")

GroupMode = str  # "auto" | "curtailed" (manual) ; "ufr_tripped" is reported, not set


@dataclass
class Policy:
    """Operator-settable controller inputs (API ``PUT /api/v1/policy``)."""

    price_usd_per_mwh: float
    hashprice_usd_per_ph_day: float
    economic_dispatch: bool
    import_margin_mw: float


def scaled_controller_config(scenario: Scenario, site: SiteConfig) -> ControllerConfig:
    """The scenario's controller config with each group's count = its addresses and each
    unit's power x ``miners_per_device``. Groups without addresses get count 0."""
    cfg = ControllerConfig.from_scenario(scenario)
    g = cfg.groups
    names = list(g.names)
    devices = {m.group: m for m in site.miners}
    unknown = sorted(set(devices) - set(names))
    if unknown:
        raise ValueError(f"site config miners: group(s) {unknown} are not in the scenario "
                         f"(groups: {names})")
    count = np.zeros(len(names), dtype=np.int64)
    per = np.ones(len(names))
    for i, name in enumerate(names):
        if name in devices:
            count[i] = len(devices[name].addresses())
            per[i] = devices[name].miners_per_device
    groups = replace(g, count=count, run_mw=g.run_mw * per, sleep_mw=g.sleep_mw * per)
    return replace(cfg, groups=groups)


async def cancel_and_wait(tasks: list[asyncio.Task], retry_s: float = 0.2) -> None:
    """Cancel ``tasks`` and wait until all are done, cancelling again any that swallowed the
    cancellation: ``asyncio.wait_for`` on Python < 3.12 loses a cancel that arrives as its inner
    call completes (CPython gh-86296), and such a poller would otherwise run on forever and
    block the shutdown (and the miners' shutdown action) behind it."""
    for task in tasks:
        task.cancel()
    pending = {t for t in tasks if not t.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=retry_s)
        for task in pending:
            task.cancel()
    for task in tasks:  # retrieve outcomes so none is reported as never retrieved
        if not task.cancelled():
            with contextlib.suppress(Exception):
                task.exception()


def _utc(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, UTC).isoformat().replace("+00:00", "Z")


def _nulls(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (the tick document is strict
    JSON: the stream refuses NaN/Infinity, which browsers cannot parse)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulls(v) for v in value]
    return value


class Runtime:
    """One campus, live. ``await run()`` until ``stop()``; see the module docstring."""

    def __init__(self, scenario: Scenario, site: SiteConfig, *, fleet: MinerFleet, meter: Meter,
                 store: Store, ai: AiTelemetry | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.scenario = scenario
        self.site = site
        self.fleet = fleet
        self.meter = meter
        self.ai = ai
        self.store = store
        self.clock = clock
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
        ai_cfg = scenario.ai
        self.ai_full_mw = ai_cfg.it_load_mw * ai_cfg.pue if ai_cfg else 0.0
        self.policy = Policy(site.market.price_usd_per_mwh, site.market.hashprice_usd_per_ph_day,
                             scenario.control.economic_dispatch, scenario.control.import_margin_mw)
        self.modes: dict[str, GroupMode] = {n: "auto" for n in self.group_names}
        self.state = ControllerState.initial(self.base_cfg, clock(), running=True)
        self.tick_no = 0
        self.resumed_from_tick: int | None = None  # last committed tick found at start
        self.safe_mode = False
        self.meter_sample: MeterSample | None = None
        self.meter_ok_s: float | None = None
        self.ai_power_mw: float | None = None
        self.ai_ok_s: float | None = None
        self.ufr_tripped = False
        self.ufr_above_since_s: float | None = None
        self.ufr_trips = 0
        self.tick_errors = 0
        self.ufr_cap_mw: float | None = None  # miner power latched at the trip [MW]
        self.dr_events: dict[str, DrEvent] = {}
        self.dr_baselines: dict[str, tuple[float, float]] = {}  # id -> (import, miners) [MW]
        self.last_tick: dict[str, Any] | None = None
        self.subscribers: set[asyncio.Queue] = set()
        self.on_tick: list[Callable[[dict[str, Any]], None]] = []
        self._pending_events: list[EventRecord] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._command_lock = asyncio.Lock()
        self.started = asyncio.Event()
        self.replay: MarketReplay | None = None  # set in start() when configured

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Resume from the store, learn the fleet's state, start the pollers."""
        self._resume()
        replay = self.site.market.replay
        if replay is not None and self.replay is None:
            self.replay = MarketReplay(self.scenario, self.site.path(self.site.scenario).parent,
                                       replay.start, replay.speed, self.clock())
        await self._read_fleet(resend=False)
        await self._keep_relay_sessions()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._meter_loop(), name="meter"),
                       loop.create_task(self._fleet_read_loop(), name="fleet-read"),
                       loop.create_task(self._session_loop(), name="sessions")]
        if self.ai is not None:
            self._tasks.append(loop.create_task(self._ai_loop(), name="ai"))
        await self._wait_first_meter()
        self.started.set()

    async def _wait_first_meter(self) -> None:
        limit = self.clock() + self.site.watchdog.meter_stale_s
        while self.meter_ok_s is None and self.clock() < limit and not self._stop.is_set():
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
                except Exception:  # keep controlling: a failed store write must not stop it
                    self.tick_errors += 1
                    log.exception("tick %d failed", self.tick_no)
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
        action = self.site.shutdown_action
        asleep = None
        if action == "sleep" and self.devices:
            # Nobody watches the limit once we are gone: leave the miners asleep (safe state).
            with contextlib.suppress(Exception):
                res = await self._fleet("sleep", list(self.devices))
                self._apply_outcomes(res.outcomes, want_run=False)
                self.store.add_command(self._command_record(self.clock(), None, "sleep", res),
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

    def _resume(self) -> None:
        saved = self.store.load_state()
        for row in self.store.dr_events():
            self.dr_events[row["id"]] = DrEvent(row["id"], row["start_s"], row["end_s"],
                                                row["reduction_mw"], row["reduction_share"],
                                                row["cancelled_s"])
        if saved is None:
            self.store.add_event(EventRecord(self.clock(), "start", "fresh start"))
            return
        tick, time_s, st = saved
        self.tick_no = self.resumed_from_tick = tick
        n = len(self.group_names)
        if len(st.get("econ_on", [])) == n:
            self.state.econ_on[:] = np.asarray(st["econ_on"], dtype=bool)
            self.state.last_change_s[:] = np.asarray(st["last_change_s"], dtype="float64")
            self.state.running[:] = np.asarray(st["running"], dtype=np.int64)
        for name in ("smooth", "ai_buf"):  # smoothing memory, when its shape still fits
            arr = getattr(self.state, name)
            if len(st.get(name, [])) == arr.shape[0]:
                arr[:] = np.asarray(st[name], dtype="float64")
        self.modes.update({k: v for k, v in st.get("modes", {}).items() if k in self.modes})
        pol = st.get("policy")
        if pol:
            self.policy = Policy(**pol)
        self.ufr_tripped = bool(st.get("ufr_tripped", False))
        self.ufr_above_since_s = st.get("ufr_above_since_s")
        self.ufr_cap_mw = st.get("ufr_cap_mw")
        self.dr_baselines = {k: tuple(v) for k, v in st.get("dr_baselines", {}).items()}
        self.safe_mode = bool(st.get("safe_mode", False))
        self.store.add_event(EventRecord(self.clock(), "resume",
                                         f"resumed after tick {tick} ({_utc(time_s)})",
                                         {"from_tick": tick, "from_time_s": time_s}))

    def _state_doc(self) -> dict[str, Any]:
        return {"econ_on": self.state.econ_on.tolist(),
                "last_change_s": self.state.last_change_s.tolist(),
                "running": self.state.running.tolist(),
                "smooth": self.state.smooth.tolist(), "ai_buf": self.state.ai_buf.tolist(),
                "modes": dict(self.modes),
                "policy": vars(self.policy).copy(), "ufr_tripped": self.ufr_tripped,
                "ufr_above_since_s": self.ufr_above_since_s, "ufr_cap_mw": self.ufr_cap_mw,
                "dr_baselines": {k: list(v) for k, v in self.dr_baselines.items()},
                "safe_mode": self.safe_mode}

    # --------------------------------------------------------------- pollers
    async def _meter_loop(self) -> None:
        period = self.site.ufr.poll_s if self.site.ufr.enabled else min(self.site.tick_s, 0.5)
        timeout = self.site.meter.timeout_s if self.site.meter else 0.5
        while True:
            try:
                sample = await asyncio.wait_for(self.meter.read(), timeout)
            except Exception as e:  # any failure only ages the data; the watchdog judges
                log.debug("meter read failed: %s", e)
            else:
                self.meter_sample = sample
                self.meter_ok_s = self.clock()
                if self.site.ufr.enabled:
                    await self._check_ufr(sample.frequency_hz)
            await asyncio.sleep(period)

    async def _ai_loop(self) -> None:
        assert self.ai is not None
        timeout = self.site.ai.timeout_s if self.site.ai else 0.5
        while True:
            try:
                self.ai_power_mw = float(await asyncio.wait_for(self.ai.read_power_mw(), timeout))
                self.ai_ok_s = self.clock()
            except Exception as e:
                log.debug("AI telemetry read failed: %s", e)
            await asyncio.sleep(min(self.site.tick_s, 1.0) / 2)

    async def _fleet_read_loop(self) -> None:
        while True:
            await asyncio.sleep(self.site.fleet.read_every_s)
            try:
                await self._read_fleet(resend=True)
            except Exception as e:  # keep reading next period
                log.warning("fleet read failed: %s", e)

    async def _keep_relay_sessions(self) -> None:
        """Hold sessions on the relay miners (if the fleet can) so a trip is one round trip."""
        keep = getattr(self.fleet, "keep_sessions", None)
        ips = [d.ip for d in self.devices.values() if d.group in self.ufr_groups]
        if keep is None or not ips or not self.site.ufr.enabled:
            return
        try:
            await asyncio.wait_for(keep(ips), 30.0)
        except Exception as e:
            log.warning("session keep-alive failed: %s", e)

    async def _session_loop(self) -> None:
        while True:
            await asyncio.sleep(self.site.fleet.session_keepalive_s)
            await self._keep_relay_sessions()

    async def _read_fleet(self, resend: bool) -> None:
        """Read every miner; recover or mark; optionally re-send the wanted state to those
        that disagree. Holds the command lock so a read never races a tick's commands."""
        if not self.devices:
            return
        async with self._command_lock:
            res = await self._fleet("read_all", list(self.devices))
            forced = self._forced_groups()
            disagree_sleep, disagree_wake = [], []
            for o in res.outcomes:
                d = self.devices[o.ip]
                if not o.compliant or o.reading is None:
                    d.status = o.status
                    continue
                d.asleep = bool(o.reading.asleep)
                if d.want_run is None:  # first contact: adopt what it does
                    d.want_run = not d.asleep
                if d.group in forced:
                    d.want_run = False  # never wake a miner that must sleep
                if d.want_run == (not d.asleep):
                    d.status = "ok"
                else:
                    d.status = "ignored"
                    (disagree_wake if d.want_run else disagree_sleep).append(o.ip)
            if resend and (disagree_sleep or disagree_wake):
                await self._send_locked(disagree_sleep, disagree_wake, None)

    def _forced_groups(self) -> set[int]:
        """Groups whose miners must all sleep: manual curtail, tripped relay, safe state."""
        if self.safe_mode:
            return set(range(len(self.group_names)))
        forced = {i for i, n in enumerate(self.group_names) if self.modes[n] == "curtailed"}
        if self.ufr_tripped:
            forced |= self.ufr_groups
        return forced

    # --------------------------------------------------------- UFR fast path
    async def _check_ufr(self, frequency_hz: float) -> None:
        cfg = self.site.ufr
        now = self.clock()
        if not self.ufr_tripped and self.ufr_groups and ufr_should_trip(frequency_hz, cfg.trip_hz):
            self.ufr_tripped = True
            self.ufr_above_since_s = None
            self.ufr_trips += 1
            t_detect = time.perf_counter()
            ips = [d.ip for d in self.devices.values() if d.group in self.ufr_groups]
            for ip in ips:  # intent first: no concurrent tick or read may wake them
                self.devices[ip].want_run = False
            res = await self._fleet("sleep", ips)
            latency_s = time.perf_counter() - t_detect
            self._apply_outcomes(res.outcomes, want_run=False)
            # Other miners must not take up the power the relay shed (that would undo the
            # frequency response): latch the miners' total after the trip as a cap.
            self.ufr_cap_mw = self._planned_miner_mw()
            ok = sum(1 for o in res.outcomes if o.compliant)
            data = {"frequency_hz": frequency_hz, "trip_hz": cfg.trip_hz, "miners": len(ips),
                    "asleep_verified": ok, "latency_s": latency_s, "budget_s": cfg.budget_s,
                    "on_time": latency_s <= cfg.budget_s and ok == len(ips),
                    "groups": [self.group_names[g] for g in sorted(self.ufr_groups)],
                    "tick": self.tick_no}
            msg = (f"under-frequency {frequency_hz:.3f} Hz < {cfg.trip_hz:.2f} Hz: slept "
                   f"{ok}/{len(ips)} relay miners in {latency_s * 1000:.0f} ms")
            log.warning(msg)
            self.store.add_event(EventRecord(now, "ufr_trip", msg, data), self.tick_no)
            self.store.add_command(self._command_record(now, "ufr", "sleep", res), self.tick_no)
            return
        if self.ufr_tripped:
            if self.ufr_cap_mw is None:
                self.ufr_cap_mw = self._planned_miner_mw()
            if frequency_hz >= cfg.restore_hz:
                if self.ufr_above_since_s is None:
                    self.ufr_above_since_s = now
                if ufr_may_restore(now, self.ufr_above_since_s, cfg.restore_hold_s):
                    self.ufr_tripped = False
                    self.ufr_cap_mw = None
                    self._pending_events.append(EventRecord(
                        now, "ufr_restore", f"frequency above {cfg.restore_hz} Hz for "
                        f"{cfg.restore_hold_s:.0f} s: relay miners back under control"))
            else:
                self.ufr_above_since_s = None

    def reset_ufr(self) -> None:
        """Operator reset of the relay (e.g. on the QSE's recall instruction)."""
        if self.ufr_tripped:
            self.ufr_tripped = False
            self.ufr_cap_mw = None
            self._pending_events.append(EventRecord(self.clock(), "ufr_restore",
                                                    "relay reset by operator"))

    def _planned_miner_mw(self) -> float:
        g = self.base_cfg.groups
        return planned_miner_mw(self.devices.values(), g.run_mw, g.sleep_mw)

    def set_policy(self, **changes: Any) -> Policy:
        if self.replay is not None and changes.keys() & {"price_usd_per_mwh",
                                                         "hashprice_usd_per_ph_day"}:
            self.replay = None  # the operator's numbers win over the replay from now on
            self._pending_events.append(EventRecord(self.clock(), "market_replay_end",
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
        if end_s <= start_s:
            raise ValueError("end must be after start")
        if (reduction_mw is None) == (reduction_share is None):
            raise ValueError("give exactly one of reduction_mw or reduction_share")
        ev = DrEvent(uuid.uuid4().hex[:12], start_s, end_s, reduction_mw, reduction_share)
        self.store.add_dr_event(ev.id, start_s, end_s, reduction_mw, reduction_share,
                                self.clock(), created_by)
        self.dr_events[ev.id] = ev
        return ev

    def cancel_dr_event(self, event_id: str) -> bool:
        now = self.clock()
        if event_id not in self.dr_events or not self.store.cancel_dr_event(event_id, now):
            return False
        self.dr_events[event_id] = replace(self.dr_events[event_id], cancelled_s=now)
        return True

    # ------------------------------------------------------------------ tick
    def _apply_outcomes(self, outcomes: list, want_run: bool) -> None:
        apply_outcomes(self.devices, outcomes, want_run)

    def _command_record(self, now: float, group: str | None, cmd: str, res: Any) -> CommandRecord:
        ok = sum(1 for o in res.outcomes if o.compliant)
        fails = [(o.ip, o.status) for o in res.outcomes if not o.compliant]
        return CommandRecord(now, group, cmd, len(res.outcomes), ok, float(res.elapsed_s),
                             dict(res.counts), fails)

    async def _fleet(self, command: str, ips: list[str]) -> Any:
        """A fleet command with an overall deadline: a driver that never answers must not
        stall the runtime (every miner it covered then counts as unreachable this time)."""
        f = self.site.fleet
        budget_s = 2.0 + 4.0 * f.timeout_s * (f.retries + 1)
        try:
            return await asyncio.wait_for(getattr(self.fleet, command)(ips), budget_s)
        except TimeoutError:
            log.warning("fleet %s to %d miners: no result within %.1f s", command, len(ips),
                        budget_s)
            return _TimedOut(command, ips, budget_s)

    async def _send(self, to_sleep: list[str], to_wake: list[str],
                    group_name: str | None) -> list[CommandRecord]:
        async with self._command_lock:
            return await self._send_locked(to_sleep, to_wake, group_name)

    async def _send_locked(self, to_sleep: list[str], to_wake: list[str],
                           group_name: str | None) -> list[CommandRecord]:
        """Record the intent first (so a concurrent reader never undoes it), then fan out."""
        now = self.clock()
        for ips, run in ((to_sleep, False), (to_wake, True)):
            for ip in ips:
                self.devices[ip].want_run = run
        jobs = []
        if to_sleep:
            jobs.append(("sleep", self._fleet("sleep", to_sleep)))
        if to_wake:
            jobs.append(("wake", self._fleet("wake", to_wake)))
        results = await asyncio.gather(*(j for _, j in jobs))
        records: list[CommandRecord] = []
        for (cmd, _), res in zip(jobs, results, strict=True):
            self._apply_outcomes(res.outcomes, want_run=cmd == "wake")
            records.append(self._command_record(now, group_name, cmd, res))
        return records

    def _active_dr(self, now: float, import_mw: float | None, miners_mw: float | None
                   ) -> tuple[float, list[dict[str, Any]], list[EventRecord]]:
        """Cap on miner power from the active DR events [MW] (inf: none), their documents,
        and start/end events. A baseline is latched at an event's first tick with fresh meter
        data (``import_mw``/``miners_mw`` None while stale: cap 0 until then)."""
        cap = float("inf")
        active: list[dict[str, Any]] = []
        events: list[EventRecord] = []
        for ev in list(self.dr_events.values()):
            if not ev.active(now):
                if now >= ev.end_s or ev.cancelled_s is not None:
                    del self.dr_events[ev.id]  # over: the store keeps it
                    if self.dr_baselines.pop(ev.id, None) is not None:
                        events.append(EventRecord(now, "dr_end", f"DR event {ev.id} ended",
                                                  {"id": ev.id}))
                continue
            if ev.id not in self.dr_baselines:  # latch the baseline at the event's start
                if import_mw is None or miners_mw is None:
                    cap = 0.0  # blind: the safest way to deliver any reduction
                    continue
                self.dr_baselines[ev.id] = (import_mw, miners_mw)
                red = dr_reduction_mw(ev, import_mw)
                events.append(EventRecord(now, "dr_start", f"DR event {ev.id} started",
                                          {"id": ev.id, "baseline_import_mw": import_mw,
                                           "baseline_miners_mw": miners_mw,
                                           "reduction_mw": red,
                                           "shortfall_mw": max(0.0, red - miners_mw)}))
            b_import, b_miners = self.dr_baselines[ev.id]
            red = dr_reduction_mw(ev, b_import)
            c = dr_cap_mw(b_import, b_miners, red)
            cap = min(cap, c)
            active.append({"kind": "dr", "id": ev.id, "start": _utc(ev.start_s),
                           "end": _utc(ev.end_s), "reduction_mw": red, "cap_mw": c,
                           "baseline_import_mw": b_import, "target_import_mw": b_import - red,
                           "shortfall_mw": max(0.0, red - b_miners)})
        return cap, active, events

    async def tick(self) -> dict[str, Any]:
        """One control cycle; returns the tick document (see ``ballast.live.api``)."""
        t_start = time.perf_counter()
        now = self.clock()
        tick_no = self.tick_no + 1  # becomes self.tick_no once committed
        events, self._pending_events = self._pending_events, []
        wd = self.site.watchdog
        stale = meter_stale(now, self.meter_ok_s, wd.meter_stale_s)
        if stale != self.safe_mode:
            self.safe_mode = stale
            age = None if self.meter_ok_s is None else now - self.meter_ok_s
            events.append(EventRecord(now, "watchdog" if stale else "watchdog_clear",
                                      "meter data stale: safe state, all miners asleep" if stale
                                      else "meter data fresh again: control resumed",
                                      {"meter_age_s": age, "stale_s": wd.meter_stale_s}))
        m = self.meter_sample
        import_mw = m.campus_import_power_mw if m and not stale else float("nan")
        miners_mw = m.miners_feeder_power_mw if m and not stale else float("nan")
        renew_mw = max(0.0, m.renewables_feeder_power_mw) if m and not stale else 0.0
        freq = m.frequency_hz if m and not stale else float("nan")
        ai_sources = []
        if m is not None and not stale:
            ai_sources.append(m.ai_feeder_power_mw)
        if self.ai_power_mw is not None and self.ai_ok_s is not None and (
                now - self.ai_ok_s <= wd.ai_stale_s):
            ai_sources.append(self.ai_power_mw)
        ai_mw = max(ai_sources) if ai_sources else self.ai_full_mw  # worst case when blind

        forced = self._forced_groups()
        g = self.base_cfg.groups
        controllable, fixed_mw, force_sleep = split_fleet(self.devices.values(), forced,
                                                          g.run_mw, g.sleep_mw)

        dr_cap, active, dr_events = self._active_dr(
            now, None if stale else import_mw, None if stale else miners_mw)
        events += dr_events
        cap = 0.0 if stale else dr_cap
        if self.ufr_tripped and self.ufr_cap_mw is not None:
            cap = min(cap, self.ufr_cap_mw)
        replay_s = None
        if self.replay is not None:
            price, hashprice, replay_s = self.replay.at(now)
            self.policy = replace(self.policy, price_usd_per_mwh=price,
                                  hashprice_usd_per_ph_day=hashprice)
        pol = self.policy
        snap = Snapshot(time_s=now, price_usd_per_mwh=pol.price_usd_per_mwh,
                        hashprice_usd_per_ph_day=pol.hashprice_usd_per_ph_day,
                        ai_load_mw=ai_mw + fixed_mw, renewable_mw=renew_mw,
                        cap_mw=max(0.0, cap - fixed_mw) if np.isfinite(cap) else cap)
        groups = replace(self.base_cfg.groups, count=controllable)
        cfg = replace(self.base_cfg, groups=groups, economic_dispatch=pol.economic_dispatch,
                      import_margin_mw=pol.import_margin_mw)
        self.state.running[:] = np.minimum(self.state.running, controllable)
        decision = step(cfg, self.state, snap)
        rule = "watchdog" if stale else decision.binding_rule

        to_sleep, to_wake = plan_commands(self.devices.values(), decision.running, forced)
        commands = await self._send(force_sleep + to_sleep, to_wake, None)
        if self.ufr_tripped:  # a trip during our commands: make sure no relay miner runs
            late = [d.ip for d in self.devices.values()
                    if d.group in self.ufr_groups and d.want_run is not False]
            if late:
                commands += await self._send(late, [], "ufr")

        if stale:
            active.append({"kind": "watchdog", "meter_age_s": None if self.meter_ok_s is None
                           else now - self.meter_ok_s})
        if self.ufr_tripped:
            active.append({"kind": "ufr", "groups": [self.group_names[i]
                                                     for i in sorted(self.ufr_groups)]})
        doc = self._tick_doc(tick_no, now, replay_s, import_mw, freq, ai_mw, renew_mw, miners_mw,
                             decision.miner_power_mw + fixed_mw, snap, rule, active, decision)
        meas = {"tick": tick_no, "time_s": now, "import_mw": import_mw,
                "frequency_hz": freq, "ai_load_mw": ai_mw, "renewable_mw": renew_mw,
                "miners_mw": miners_mw, "miners_planned_mw": decision.miner_power_mw + fixed_mw,
                "cap_mw": cap, "floor_mw": 0.0, "price_usd_per_mwh": pol.price_usd_per_mwh,
                "hashprice_usd_per_ph_day": pol.hashprice_usd_per_ph_day, "binding_rule": rule,
                "safe_mode": int(stale),
                "meter_age_s": None if self.meter_ok_s is None else now - self.meter_ok_s}
        setpoints = [(name, int(decision.running[i]), int(controllable[i]), self._mode(i))
                     for i, name in enumerate(self.group_names)]
        for e in events:
            log.info("%s: %s", e.kind, e.message)
        try:
            self.store.write_tick(TickRecord(tick_no, meas, setpoints, commands, events,
                                             self._state_doc()))
        except Exception:
            self._pending_events = events + self._pending_events  # retried with the next tick
            raise
        self.tick_no = tick_no
        doc["tick_duration_s"] = time.perf_counter() - t_start
        self.last_tick = doc
        self._publish(doc)
        return doc

    def _mode(self, gi: int) -> str:
        if self.safe_mode:
            return "safe"
        if self.ufr_tripped and gi in self.ufr_groups:
            return "ufr_tripped"
        return self.modes[self.group_names[gi]]

    def group_counts(self) -> list[dict[str, Any]]:
        """Per group: name, device counts by state (``devices.group_counts``), mode."""
        counts = group_counts(self.devices.values(), len(self.group_names))
        return [{"name": name, **counts[gi], "mode": self._mode(gi)}
                for gi, name in enumerate(self.group_names)]

    def _tick_doc(self, tick_no: int, now: float, replay_s: float | None, import_mw: float,
                  freq: float, ai_mw: float, renew_mw: float, miners_mw: float,
                  planned_mw: float, snap: Snapshot,
                  rule: str, active: list[dict[str, Any]], decision: Any) -> dict[str, Any]:
        groups = self.group_counts()
        per = {m.group: m.miners_per_device for m in self.site.miners}
        for gi, grp in enumerate(groups):
            grp["miners_per_device"] = per.get(grp["name"], 1.0)
            grp["target_running"] = int(decision.running[gi])
            grp["power_planned_mw"] = float(decision.group_power_mw[gi])

        def num(x: float) -> float | None:
            return None if x is None or not np.isfinite(x) else round(float(x), 6)

        return {
            "tick": tick_no, "time": _utc(now), "time_s": now,
            "safe_mode": self.safe_mode, "binding_rule": rule,
            "power_mw": {"import": num(import_mw), "ai": num(ai_mw), "miners": num(miners_mw),
                         "miners_planned": num(planned_mw), "renewables": num(renew_mw),
                         "import_limit": self.base_cfg.import_limit_mw,
                         "cap": num(snap.cap_mw),
                         "plan_import": num(decision.plan_import_mw),
                         "reserve_up": num(decision.reserve_up_mw),
                         "reserve_down": num(decision.reserve_down_mw)},
            "frequency_hz": num(freq),
            "market": {"price_usd_per_mwh": self.policy.price_usd_per_mwh,
                       "hashprice_usd_per_ph_day": self.policy.hashprice_usd_per_ph_day,
                       "replay_time": None if replay_s is None else _utc(replay_s)},
            "groups": groups, "active_events": _nulls(active),
        }

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


@dataclass(frozen=True)
class _Unanswered:
    ip: str
    status: str = "timeout"
    reading: None = None
    compliant: bool = False


class _TimedOut:
    """Stands in for a fleet result when the whole command overran its deadline."""

    def __init__(self, command: str, ips: list[str], elapsed_s: float) -> None:
        self.command = command
        self.outcomes = [_Unanswered(ip) for ip in ips]
        self.elapsed_s = elapsed_s
        self.counts = {"timeout": len(ips)}
