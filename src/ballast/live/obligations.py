"""Grid obligations and protections of the live runtime as small pure functions of time.

They turn demand-response events, the under-frequency relay and the data watchdog into what the
shared controller understands: a cap on miner power (``Snapshot.cap_mw``) and groups whose
miners are forced asleep. DR times are UNIX seconds (UTC); the watchdog and relay hold take
monotonic seconds; powers facility MW. ``DrBook`` keeps the runtime's DR events and the
baselines latched at their starts; ``check_dr_window`` bounds every event's dates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ballast.live.store import EventRecord
from ballast.programs.dr import DrRequest, dr_cap

DR_WINDOW_S = 365 * 86400.0  # a DR event must start and end within one year of now [s]


def utc_iso(time_s: float) -> str | None:
    """UNIX seconds -> ``2026-11-25T08:00:00Z``; None for a time no calendar holds (never
    raises: a bad time must not break a tick document)."""
    try:
        return datetime.fromtimestamp(time_s, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def check_dr_window(start_s: float, end_s: float, now_s: float) -> None:
    """Raise ValueError unless a DR event's start and end are finite, ordered, and within
    ``DR_WINDOW_S`` (one year) of ``now_s`` [UNIX s]."""
    for name, t in (("start", start_s), ("end", end_s)):
        if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
            raise ValueError(f"DR event {name} must be a finite time, got {t!r}")
    if end_s <= start_s:
        raise ValueError("end must be after start")
    days = DR_WINDOW_S / 86400
    for name, t in (("start", start_s), ("end", end_s)):
        if abs(t - now_s) > DR_WINDOW_S:
            raise ValueError(f"DR event {name} {utc_iso(t) or t} is more than {days:.0f} days "
                             f"from now ({utc_iso(now_s)}); events must lie within that window")


def check_dr_policy(programs: Any, start_s: float, reduction_mw: float | None,
                    now_s: float) -> None:
    """Raise ValueError when the scenario's DR policy (``programs.demand_response``) declines
    an event, as the backtest's plan does: less notice than ``min_notice_minutes`` or more MW
    than ``max_reduction_mw``."""
    dr = getattr(programs, "demand_response", None)
    if dr is None:
        return
    notice_min = (start_s - now_s) / 60.0
    if notice_min < dr.min_notice_minutes:
        raise ValueError(f"declined: notice {max(notice_min, 0.0):.3g} min < policy "
                         f"programs.demand_response.min_notice_minutes "
                         f"{dr.min_notice_minutes:g}")
    if dr.max_reduction_mw is not None and reduction_mw is not None and (
            reduction_mw > dr.max_reduction_mw):
        raise ValueError(f"declined: asks {reduction_mw:g} MW > policy programs."
                         f"demand_response.max_reduction_mw {dr.max_reduction_mw:g}")


@dataclass(frozen=True)
class DrEvent:
    """A demand-response event: reduce campus import by ``reduction_mw`` or by
    ``reduction_share`` of the import metered at its start, during [start_s, end_s) (the one
    meaning of DR, ``programs/dr.py``)."""

    id: str
    start_s: float
    end_s: float
    reduction_mw: float | None = None
    reduction_share: float | None = None
    cancelled_s: float | None = None

    def __post_init__(self) -> None:
        DrRequest(self.reduction_mw, self.reduction_share)  # ValueError naming the field

    def active(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s and (
            self.cancelled_s is None or now_s < self.cancelled_s)

    @property
    def request(self) -> DrRequest:
        """The event as the one DR request (ValueError if the reduction is invalid)."""
        return DrRequest(self.reduction_mw, self.reduction_share)


def meter_stale(now_s: float, last_ok_s: float | None, stale_s: float) -> bool:
    """Watchdog: no good meter read for ``stale_s`` [s] (or never) -> stale. Monotonic times."""
    return last_ok_s is None or now_s - last_ok_s > stale_s


def ufr_should_trip(frequency_hz: float, trip_hz: float) -> bool:
    """Under-frequency relay: trip strictly below the threshold (59.70 Hz, ERCOT NPRR828)."""
    return frequency_hz < trip_hz


def ufr_may_restore(now_s: float, above_since_s: float | None, hold_s: float) -> bool:
    """The relay resets once frequency has stayed above the restore level for ``hold_s``."""
    return above_since_s is not None and now_s - above_since_s >= hold_s


def dr_event_from_row(row: dict[str, Any], now_s: float) -> DrEvent:
    """A stored DR event row -> ``DrEvent``; ValueError naming what is wrong (the runtime then
    quarantines the row). A row that is over (ended or cancelled) is only checked for finite,
    ordered times; one still to come or running must also lie in the DR window."""
    def num(name: str, optional: bool = False) -> float | None:
        v = row.get(name)
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"{name} is {v!r}, not a finite number")
        return float(v)

    start, end = num("start_s"), num("end_s")
    red_mw, red_share, cancelled = (num("reduction_mw", True), num("reduction_share", True),
                                    num("cancelled_s", True))
    assert start is not None and end is not None
    if end <= start:
        raise ValueError("end must be after start")
    if end > now_s and cancelled is None:
        check_dr_window(start, end, now_s)
    return DrEvent(str(row["id"]), start, end, red_mw, red_share, cancelled)


class DrBook:
    """The runtime's DR events (``events``, by id) and the (import, miners) baselines [MW]
    latched at each event's first tick with fresh meter data (``baselines``)."""

    def __init__(self) -> None:
        self.events: dict[str, DrEvent] = {}
        self.baselines: dict[str, tuple[float, float]] = {}

    def cancel(self, event_id: str, now_s: float) -> None:
        self.events[event_id] = replace(self.events[event_id], cancelled_s=now_s)

    def cap(self, now_s: float, import_mw: float | None, miners_mw: float | None
            ) -> tuple[float, list[dict[str, Any]], list[EventRecord]]:
        """Cap on miner power from the active events [MW] (inf: none), their documents, and
        start/end events. ``import_mw``/``miners_mw`` None while the meter is stale: an event
        that has not latched its baseline yet then caps at 0 (blind: the safest way to deliver
        any reduction). Events that are over leave the book (the store keeps them)."""
        cap = float("inf")
        active: list[dict[str, Any]] = []
        events: list[EventRecord] = []
        for ev in list(self.events.values()):
            if not ev.active(now_s):
                if now_s >= ev.end_s or ev.cancelled_s is not None:
                    del self.events[ev.id]
                    if self.baselines.pop(ev.id, None) is not None:
                        events.append(EventRecord(now_s, "dr_end", f"DR event {ev.id} ended",
                                                  {"id": ev.id}))
                continue
            if ev.id not in self.baselines:
                if import_mw is None or miners_mw is None:
                    cap = 0.0
                    continue
                self.baselines[ev.id] = (import_mw, miners_mw)
                c = dr_cap(ev.request, import_mw, miners_mw)
                events.append(EventRecord(now_s, "dr_start", f"DR event {ev.id} started",
                                          {"id": ev.id, "baseline_import_mw": import_mw,
                                           "baseline_miners_mw": miners_mw,
                                           "reduction_mw": c.reduction_mw,
                                           "shortfall_mw": c.expected_shortfall_mw}))
            c = dr_cap(ev.request, *self.baselines[ev.id])
            cap = min(cap, c.cap_mw)
            active.append({"kind": "dr", "id": ev.id, "start": utc_iso(ev.start_s),
                           "end": utc_iso(ev.end_s), "reduction_mw": c.reduction_mw,
                           "cap_mw": c.cap_mw, "baseline_import_mw": c.baseline_import_mw,
                           "target_import_mw": c.target_import_mw,
                           "shortfall_mw": c.expected_shortfall_mw})
        return cap, active, events
