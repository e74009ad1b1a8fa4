"""Health of the live runtime: failed and late ticks, the fail-safe latch, and their metrics.

``TickHealth`` counts failed ticks; after ``watchdog.max_failed_ticks`` in a row the runtime
enters the safe state on a path independent of the tick (every miner slept through the fleet,
verified) and ``TickHealth.failsafe_reason`` says why until a tick succeeds again. A tick is
*late* when none has succeeded for ``watchdog.late_ticks`` tick periods. All times are monotonic
seconds. ``Runtime.health()`` turns this into the document ``/healthz`` and ``/api/v1/state``
serve; ``RuntimeCollector`` puts the same (and the sensing and keep-alive counters) on
``/metrics`` at scrape time, so it is current even while no tick completes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ballast.live.store import EventRecord

if TYPE_CHECKING:
    from ballast.live.runtime import Runtime

log = logging.getLogger("ballast.live")

SAFE_REASONS = ("watchdog", "failed_ticks")  # label values of ballast_safe_mode_reason


class TickHealth:
    """Failed/late tick book-keeping (monotonic seconds)."""

    def __init__(self, max_failed: int, late_s: float, now_s: float) -> None:
        self.max_failed = max_failed
        self.late_s = late_s
        self.failed_total = 0
        self.consecutive = 0
        self.last_error: str | None = None
        self.since_s = now_s  # last successful tick, or when watching began
        self.ticked = False
        self.failsafe_reason: str | None = None

    def restart_clock(self, now_s: float) -> None:
        """Start the lateness clock (when control starts, after the warm-up)."""
        if not self.ticked:
            self.since_s = now_s

    def succeeded(self, now_s: float) -> str | None:
        """A tick committed; returns the fail-safe reason it clears (None if none)."""
        self.consecutive = 0
        self.since_s = now_s
        self.ticked = True
        cleared, self.failsafe_reason = self.failsafe_reason, None
        return cleared

    def failed(self, error: BaseException) -> bool:
        """A tick raised; True when this failure must enter the fail-safe."""
        self.failed_total += 1
        self.consecutive += 1
        self.last_error = f"{type(error).__name__}: {error}"[:500]
        if self.consecutive >= self.max_failed and self.failsafe_reason is None:
            self.failsafe_reason = (f"{self.consecutive} ticks failed in a row (last: "
                                    f"{self.last_error}): safe state, every miner asleep")
            return True
        return False

    def age_s(self, now_s: float) -> float:
        """Seconds since the last successful tick (or since watching began)."""
        return now_s - self.since_s

    def problem(self, now_s: float) -> str | None:
        """Why the runtime is unhealthy now, or None."""
        if self.consecutive:
            return f"{self.consecutive} tick(s) failed in a row (last: {self.last_error})"
        age = self.age_s(now_s)
        if age > self.late_s:
            what = "tick" if self.ticked else "first tick"
            return f"no successful {what} for {age:.1f} s (late after {self.late_s:g} s)"
        return None


async def tick_failed(rt: Runtime, error: BaseException) -> None:
    """Count a failed tick; at ``watchdog.max_failed_ticks`` in a row enter the fail-safe.
    Independent of the tick code and of the store: the event is written with the next
    tick that commits."""
    if rt.ticks.failed(error):
        reason = rt.ticks.failsafe_reason
        log.error("fail-safe: %s", reason)
        rt.pending_events.append(EventRecord(
            rt.clock(), "failsafe", str(reason),
            {"consecutive_failed_ticks": rt.ticks.consecutive, "error": str(error)}))
    if rt.ticks.failsafe_reason is not None:
        try:
            ok, n = await rt.cmd.sleep_unverified()
        except Exception as e:
            log.error("fail-safe: sleeping the miners failed: %r", e)
        else:
            if n:
                log.warning("fail-safe: %d/%d miners asleep (verified)", ok, n)


def safe_mode_reason(rt: Runtime) -> str | None:
    """Why the site is in the safe state now (watchdog and/or fail-safe), or None."""
    reasons = []
    if rt.safe_mode:
        why = rt.sensing.stats.last_reason.get("meter", "no answer")
        reasons.append(f"watchdog: no accepted meter reading for more than "
                       f"{rt.site.watchdog.meter_stale_s:g} s (last refusal: {why}); "
                       "every miner asleep")
    if rt.ticks.failsafe_reason is not None:
        reasons.append(f"failed ticks: {rt.ticks.failsafe_reason}")
    return "; ".join(reasons) or None


def health_document(rt: Runtime) -> dict[str, Any]:
    """``ok`` unless ticks fail or are late (monotonic clock); why; the safe state and why;
    tick counters (``/healthz``, ``/api/v1/state``, ``/metrics``)."""
    now = rt.monotonic()
    problem = rt.ticks.problem(now)
    reasons = [r for r, on in (("watchdog", rt.safe_mode),
                               ("failed_ticks", rt.ticks.failsafe_reason is not None)) if on]
    return {"ok": problem is None, "reason": problem, "tick": rt.tick_no,
            "safe_mode": bool(reasons), "safe_mode_reason": rt.safe_mode_reason,
            "safe_mode_reasons": reasons, "failed_ticks": rt.ticks.failed_total,
            "consecutive_failed_ticks": rt.ticks.consecutive,
            "last_error": rt.ticks.last_error,
            "last_tick_age_s": round(rt.ticks.age_s(now), 3),
            "meter_age_s": None if rt.meter_ok_s is None
            else round(now - rt.meter_ok_s, 3),
            "store": store_health(rt.store)}


def store_health(store: Any) -> dict[str, Any]:
    """The store writer's state (``Store.stats``): healthy, why not, backlog and counters. A
    store that cannot write does not make control unsafe (the tick goes on and the writer
    retries), so it does not fail ``ok``; it is reported here and on ``/metrics``."""
    stats = store.stats() if hasattr(store, "stats") else {}
    keys = ("healthy", "unhealthy_reason", "backlog_ticks", "backlog_rows", "oldest_pending_s",
            "write_failures", "ticks_coalesced", "rows_dropped", "last_committed_tick")
    return {k: stats.get(k) for k in keys}


class RuntimeCollector(Collector):
    """Scrape-time metrics of a runtime: tick health, safe-state reason, rejected readings,
    miner session keep-alive failures."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        rt = self.runtime
        h = rt.health()
        yield _gauge("ballast_healthy", "1 while /healthz reports ok", 1 if h["ok"] else 0)
        failed = CounterMetricFamily("ballast_failed_ticks", "Ticks that raised, since start")
        failed.add_metric([], h["failed_ticks"])
        yield failed
        yield _gauge("ballast_consecutive_failed_ticks", "Failed ticks in a row now",
                     h["consecutive_failed_ticks"])
        yield _gauge("ballast_last_tick_age_seconds", "Time since the last successful tick "
                     "(monotonic) [s]", h["last_tick_age_s"])
        reason = GaugeMetricFamily("ballast_safe_mode_reason", "1 for each reason the site is "
                                   "in the safe state", labels=["reason"])
        for r in SAFE_REASONS:
            reason.add_metric([r], 1 if r in h["safe_mode_reasons"] else 0)
        yield reason
        rejected = CounterMetricFamily("ballast_rejected_readings", "Measurements refused "
                                       "(counted as stale) by channel and reason",
                                       labels=["channel", "reason"])
        for (channel, why), n in sorted(rt.sensing.stats.rejected.items()):
            rejected.add_metric([channel, why], n)
        yield rejected
        keep = CounterMetricFamily("ballast_session_keepalive_failures", "Relay-miner session "
                                   "keep-alive failures by miner (all: the whole call failed)",
                                   labels=["miner"])
        for ip, n in sorted(rt.keepalive_failures.items()):
            keep.add_metric([ip], n)
        yield keep
        if rt.battery is not None:
            yield _gauge("ballast_battery_available", "1 while the battery answers with a usable "
                         "reading and is dispatched", 1 if rt.battery.available else 0)
            yield _gauge("ballast_battery_soc_mwh", "Battery state of charge, last usable "
                         "reading [MWh]", rt.battery.soc_mwh)
            lost = CounterMetricFamily("ballast_battery_failures", "Battery reads or setpoints "
                                       "that failed or were refused")
            lost.add_metric([], rt.battery.failures)
            yield lost
        st = rt.store.stats() if hasattr(rt.store, "stats") else {}
        if st:
            yield _gauge("ballast_store_healthy", "1 while the store writer keeps up",
                         1 if st["healthy"] else 0)
            yield _gauge("ballast_store_backlog_ticks", "Ticks queued for the store writer",
                         st["backlog_ticks"])
            yield _gauge("ballast_store_oldest_pending_seconds", "Age of the oldest queued write "
                         "[s]", st["oldest_pending_s"] or 0.0)
            for name, doc in (("write_failures", "Store write attempts that failed"),
                              ("ticks_coalesced", "Ticks whose measurement rows were dropped "
                               "because the writer queue was full"),
                              ("rows_dropped", "Event/command/audit rows refused at the row cap")):
                c = CounterMetricFamily(f"ballast_store_{name}", doc)
                c.add_metric([], st[name])
                yield c


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    g.add_metric([], value)
    return g
