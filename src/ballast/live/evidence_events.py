"""The events ``live/evidence`` reports on, read from the store: a DR event (``dr_events``), or
a grid program window recorded live (``live/grid_programs``): a reserve deployment or a 4CP
alert, found by its id in the ``deployment_start`` / ``4cp_alert_start`` events.

For each: its window [start, end), the reduction asked of a baseline, and the baseline the
runtime latched (``meter_before_event``):

- DR: asked = the MW given or the share of the baseline (``programs/dr.py``); latched = the
  import of the ``dr_start`` event.
- Deployment: asked = the MW sold at its first fresh tick (``commit_mw``), against which the
  runtime capped the miners; latched = the metered import of that tick (the tick that latched
  the miners' reference power, before they were commanded down).
- 4CP alert: no MW is committed (the miners are capped at ``curtail_to_mw``), so no reduction
  is asked and no shortfall reported; latched = the import of its first tick.

A window ends at its ``*_end`` event (a cancellation: the first tick after it), else at its
planned end (an alert the load feed computed, ``feed-<hour>``: the clock hour). EEA levels
have no id in the store and no committed MW: not covered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ballast.live.obligations import utc_iso
from ballast.live.store import Store
from ballast.programs.dr import DrRequest, dr_reduction_mw

PROGRAM_KINDS = ("deployment", "4cp_alert")  # Window.kind of live/program_windows


class EvidenceNotFound(LookupError):
    """No DR event or grid program window with that id in the store."""


@dataclass(frozen=True)
class EvidenceEvent:
    """One event's window and terms."""

    id: str
    kind: str  # "dr" | "deployment" | "4cp_alert"
    start_s: float
    end_s: float
    document: dict[str, Any]  # the evidence's "event" object
    latched_import_mw: float | None  # meter_before_event as the runtime latched it
    latched_miners_mw: float | None
    latched_source: str
    committed_mw: float | None = None  # deployments: MW asked whatever the baseline
    request: DrRequest | None = None  # DR: MW or share of the baseline
    markers: list[dict[str, Any]] = field(default_factory=list)  # start/end events

    def asked_mw(self, baseline_import_mw: float) -> float | None:
        """The reduction asked against ``baseline_import_mw`` [MW]; None: nothing committed."""
        if self.request is not None:
            return dr_reduction_mw(self.request, baseline_import_mw)
        return self.committed_mw


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


def _markers(store: Store, event_id: str, kinds: tuple[str, str], since_s: float) -> list[dict[str, Any]]:
    rows = store.select(
        "SELECT tick, time_s, kind, data FROM events WHERE time_s >= ? AND kind IN (?, ?) ORDER BY id",
        (since_s, *kinds),
    )
    for r in rows:
        r["data"] = _json(r["data"])
    return [r for r in rows if r["data"].get("id") == event_id]


def find_event(store: Store, event_id: str) -> EvidenceEvent:
    """The DR event or program window ``event_id``; EvidenceNotFound if the store has neither."""
    found = store.select("SELECT * FROM dr_events WHERE id = ?", (event_id,))
    if found:
        return _dr_event(store, found[0])
    starts = store.select(
        "SELECT tick, time_s, kind, data FROM events WHERE kind IN (?, ?) ORDER BY id",
        tuple(f"{k}_start" for k in PROGRAM_KINDS),
    )
    for r in starts:
        data = _json(r["data"])
        if data.get("id") == event_id:
            return _program_event(store, r, data)
    raise EvidenceNotFound(f"no DR event or grid program window {event_id!r} in the store")


def _dr_event(store: Store, ev: dict[str, Any]) -> EvidenceEvent:
    start_s, end_s = float(ev["start_s"]), float(ev["end_s"])
    if ev["cancelled_s"] is not None:
        end_s = min(end_s, float(ev["cancelled_s"]))
    marks = _markers(store, ev["id"], ("dr_start", "dr_end"), start_s)
    latched = [m["data"] for m in marks if m["kind"] == "dr_start"][:1]
    return EvidenceEvent(
        ev["id"],
        "dr",
        start_s,
        end_s,
        {
            "kind": "dr",
            "id": ev["id"],
            "start": utc_iso(start_s),
            "end": utc_iso(float(ev["end_s"])),
            "cancelled": None if ev["cancelled_s"] is None else utc_iso(float(ev["cancelled_s"])),
            "reduction_mw": ev["reduction_mw"],
            "reduction_share": ev["reduction_share"],
            "created_by": ev["created_by"],
        },
        latched[0].get("baseline_import_mw") if latched else None,
        latched[0].get("baseline_miners_mw") if latched else None,
        "latched by the runtime at the event's first fresh tick (dr_start event)",
        request=DrRequest(ev["reduction_mw"], ev["reduction_share"]),
        markers=marks,
    )


def _program_event(store: Store, start: dict[str, Any], data: dict[str, Any]) -> EvidenceEvent:
    kind = start["kind"].removesuffix("_start")
    start_s = datetime.fromisoformat(data["start"]).timestamp()
    end_s = datetime.fromisoformat(data["end"]).timestamp()
    marks = _markers(store, data["id"], (start["kind"], f"{kind}_end"), start_s)
    ends = [float(m["time_s"]) for m in marks if m["kind"] == f"{kind}_end"]
    if ends:
        end_s = min(end_s, ends[0])
    first = store.select(
        "SELECT import_mw, miners_mw, safe_mode FROM measurements WHERE tick = ?", (start["tick"],)
    )
    fresh = first and first[0]["import_mw"] is not None and not first[0]["safe_mode"]
    doc = {
        "kind": kind,
        "id": data["id"],
        "program": data.get("program"),
        "start": data["start"],
        "end": data["end"],
        "ended": utc_iso(ends[0]) if ends else None,
        "cap_mw": data.get("cap_mw"),
        "created_by": data.get("source"),
    }
    if kind == "deployment":
        doc |= {"committed_mw": data.get("commit_mw"), "reference_miners_mw": data.get("reference_mw")}
    return EvidenceEvent(
        data["id"],
        kind,
        start_s,
        end_s,
        doc,
        first[0]["import_mw"] if fresh else None,
        data.get("reference_mw") if kind == "deployment" else (first[0]["miners_mw"] if fresh else None),
        f"metered import of the {kind}'s first tick ({start['kind']} event)",
        committed_mw=None if kind != "deployment" else data.get("commit_mw"),
        markers=marks,
    )
