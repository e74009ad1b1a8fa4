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

- EEA episode (``live/eea_episodes``: level set -> level cleared, found by the id of its
  ``eea_start`` event): latched = the import and miner power metered by its first tick (read
  before that tick's commands), else the last fresh tick in the 900 s before it; committed =
  that miner power above the lowest cap the episode reached, down to the fleet's sleep power
  (a sleeping miner still draws its standby power), None if no level reached
  ``curtail_at_level``; asked per interval = committed x the share of the interval under a
  curtailing level (the ``eea`` level events); curtailed = miner power before minus the mean
  metered during (fresh ticks after the first).

A window ends at its ``*_end`` event (a cancellation: the first tick after it), else at its
planned end (an alert the load feed computed, ``feed-<hour>``: the clock hour); an EEA still in
force ends a millisecond after the last stored tick.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ballast.live.obligations import utc_iso
from ballast.live.store import Store
from ballast.programs.dr import DrRequest, dr_reduction_mw

PROGRAM_KINDS = ("deployment", "4cp_alert", "eea")  # <kind>_start events found by id
BEFORE_S = 900.0  # an EEA without a latched reference: the last fresh tick this long before


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
    committed_mw: float | None = None  # deployments, EEA: MW asked whatever the baseline
    request: DrRequest | None = None  # DR: MW or share of the baseline
    markers: list[dict[str, Any]] = field(default_factory=list)  # start/end events
    cap_steps: list[tuple[float, float | None]] | None = None  # EEA: (from [s], cap [MW] or None)

    def asked_mw(
        self, baseline_import_mw: float, a_s: float = -math.inf, b_s: float = math.inf
    ) -> float | None:
        """The reduction asked over [a_s, b_s) against ``baseline_import_mw`` [MW]; None:
        nothing committed (an EEA: no curtailing level in the interval)."""
        if self.request is not None:
            return dr_reduction_mw(self.request, baseline_import_mw)
        if self.cap_steps is None or self.committed_mw is None:
            return self.committed_mw
        share = curtailing_share(self.cap_steps, max(a_s, self.start_s), min(b_s, self.end_s))
        return self.committed_mw * share if share > 0 else None


def curtailing_share(steps: list[tuple[float, float | None]], a_s: float, b_s: float) -> float:
    """Share of [a_s, b_s) under a cap (``steps``: each cap from its time to the next's)."""
    if b_s <= a_s:
        return 0.0
    capped = 0.0
    for i, (t, cap) in enumerate(steps):
        nxt = steps[i + 1][0] if i + 1 < len(steps) else math.inf
        if cap is not None:
            capped += max(0.0, min(nxt, b_s) - max(t, a_s))
    return capped / (b_s - a_s)


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


def _markers(store: Store, event_id: str, kinds: tuple[str, ...], since_s: float) -> list[dict[str, Any]]:
    rows = store.select(
        "SELECT tick, time_s, kind, data FROM events WHERE time_s >= ? AND kind IN "
        f"({', '.join('?' * len(kinds))}) ORDER BY id",
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
        "SELECT tick, time_s, kind, data FROM events WHERE kind IN (?, ?, ?) ORDER BY id",
        tuple(f"{k}_start" for k in PROGRAM_KINDS),
    )
    for r in starts:
        data = _json(r["data"])
        if data.get("id") == event_id:
            return _eea_event(store, r, data) if r["kind"] == "eea_start" else _program_event(store, r, data)
    raise EvidenceNotFound(f"no DR event, grid program window or EEA {event_id!r} in the store")


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


def _eea_event(store: Store, start: dict[str, Any], data: dict[str, Any]) -> EvidenceEvent:
    """An EEA episode from its ``eea_start`` event (module docstring)."""
    start_s = datetime.fromisoformat(data["start"]).timestamp()
    # from a second before: "start" is ISO text to the microsecond, the level event's time exact
    marks = _markers(store, data["id"], ("eea", "eea_start", "eea_end"), start_s - 1.0)
    ends = [m for m in marks if m["kind"] == "eea_end"]
    if ends:
        end_s = float(ends[0]["time_s"])
    else:  # in force: to a millisecond after the last stored tick (it included)
        last = store.select("SELECT max(time_s) AS t FROM measurements", ())[0]["t"]
        end_s = float(last) + 1e-3 if last is not None and last >= start_s else start_s
    levels = [m for m in marks if m["kind"] == "eea"]
    steps = [(float(m["time_s"]), m["data"].get("cap_mw")) for m in levels] or [(start_s, data.get("cap_mw"))]
    ref_import, ref_miners = data.get("reference_import_mw"), data.get("reference_miners_mw")
    source = "metered by the EEA's first tick (eea_start event)"
    if ref_miners is None:
        before = store.select(
            "SELECT import_mw, miners_mw FROM measurements WHERE time_s < ? AND time_s >= ? AND "
            "import_mw IS NOT NULL AND miners_mw IS NOT NULL AND safe_mode = 0 ORDER BY time_s DESC LIMIT 1",
            (start_s, start_s - BEFORE_S),
        )
        ref_miners = before[0]["miners_mw"] if before else None
        source = f"last fresh tick in the {BEFORE_S:g} s before the EEA (none latched at its first tick)"
    during = store.select(
        "SELECT avg(miners_mw) AS mw, min(miners_mw) AS lo, count(*) AS n FROM measurements "
        "WHERE time_s >= ? AND time_s < ? AND tick > ? AND import_mw IS NOT NULL "
        "AND miners_mw IS NOT NULL AND safe_mode = 0",
        (start_s, end_s, start["tick"]),
    )[0]
    caps = [c for _, c in steps if c is not None]
    floor = float(data.get("sleep_floor_mw") or 0.0)
    committed = (
        max(float(ref_miners) - max(min(caps), floor), 0.0) if caps and ref_miners is not None else None
    )
    mean = during["mw"]
    doc = {
        "kind": "eea",
        "id": data["id"],
        "start": data["start"],
        "ended": utc_iso(end_s) if ends else None,
        "in_force": not ends,
        "level": data.get("level"),
        "max_level": max(int(m["data"]["level"]) for m in levels) if levels else data.get("level"),
        "levels": [
            {
                "time": utc_iso(float(m["time_s"])),
                "level": m["data"]["level"],
                "cap_mw": m["data"].get("cap_mw"),
            }
            for m in levels
        ],
        "curtail_at_level": data.get("curtail_at_level"),
        "cap_mw": min(caps) if caps else None,
        "committed_mw": committed,
        "miners_mw_before": ref_miners,
        "miners_mw_before_source": source,
        "miners_mw_during_mean": mean,
        "miners_mw_during_min": during["lo"],
        "ticks_during": int(during["n"]),
        "curtailed_mw": None if mean is None or ref_miners is None else float(ref_miners) - float(mean),
        "sleep_floor_mw": floor,
        "created_by": data.get("source"),
    }
    return EvidenceEvent(
        data["id"],
        "eea",
        start_s,
        end_s,
        doc,
        ref_import,
        ref_miners,
        source,
        committed_mw=committed,
        markers=marks,
        cap_steps=steps,
    )
