"""Time windows of the live grid programs (``live.grid_programs``): a 4CP alert or a reserve
deployment in force over [start_s, end_s) (UNIX seconds, UTC), the checks every posted one
passes, and the actions that post them on a runtime (the API, the OpenADR VEN)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ballast.live.obligations import utc_iso
from ballast.live.store import EventRecord
from ballast.programs.limits import NO_CAP_MW

MAX_WINDOW_S = 7 * 86400.0  # a posted 4CP alert or deployment lasts at most a week [s]


def check_window(what: str, start_s: float, end_s: float, now_s: float) -> None:
    """Raise ValueError naming ``what`` unless [start_s, end_s) is finite, ordered, at most
    ``MAX_WINDOW_S`` long and not over at ``now_s``."""
    for name, t in (("start", start_s), ("end", end_s)):
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise ValueError(f"{what} {name} must be a finite time, got {t!r}")
    if end_s <= start_s:
        raise ValueError(f"{what}: end must be after start")
    if end_s - start_s > MAX_WINDOW_S:
        raise ValueError(
            f"{what} lasts {(end_s - start_s) / 3600:.1f} h, more than {MAX_WINDOW_S / 3600:.0f} h"
        )
    if end_s <= now_s:
        raise ValueError(f"{what} ends {utc_iso(end_s)}, before now ({utc_iso(now_s)})")


@dataclass
class Window:
    """A 4CP alert or a reserve deployment in force over [start_s, end_s)."""

    id: str
    kind: str  # "4cp_alert" | "deployment"
    start_s: float
    end_s: float
    source: str  # who posted it: an operator's name, "openadr", "load feed"
    program: str = "coincident_peak"
    cancelled_s: float | None = None
    reference_mw: float | None = None  # deployments: metered miner power at the first tick
    commit_mw: float | None = None  # deployments: MW sold at the first tick
    cap_mw: float = NO_CAP_MW
    started: bool = False

    def active(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s and (self.cancelled_s is None or now_s < self.cancelled_s)

    def document(self) -> dict[str, Any]:
        doc = {
            "kind": self.kind,
            "id": self.id,
            "program": self.program,
            "start": utc_iso(self.start_s),
            "end": utc_iso(self.end_s),
            "source": self.source,
            "cap_mw": self.cap_mw if math.isfinite(self.cap_mw) else None,
        }
        if self.kind == "deployment":
            doc |= {"reference_mw": self.reference_mw, "commit_mw": self.commit_mw}
        return doc


# ------------------------------------------------- operator actions (API, OpenADR VEN)
def _programs(rt: Any) -> Any:
    if rt.programs is None:
        raise ValueError("the scenario has no programs section")
    return rt.programs


def set_eea(rt: Any, level: int, created_by: str) -> dict[str, Any]:
    """The EEA level in force (0: none); ValueError (422) for a bad level or a scenario
    without ``programs.emergency``. Recorded as an ``eea`` event with the next tick; its data
    (returned) carries the EEA episode's ``id`` (``live/eea_episodes``)."""
    return _programs(rt).set_eea(level, rt.clock(), created_by).data


def add_program_window(
    rt: Any,
    kind: str,
    start_s: float,
    end_s: float | None,
    created_by: str,
    program: str = "coincident_peak",
    duration_minutes: float | None = None,
) -> Window:
    """Arm a 4CP alert (``kind`` "4cp_alert", [start_s, end_s)) or a reserve deployment
    (``kind`` "deployment" of ``program`` for ``duration_minutes``) on the runtime ``rt``;
    ValueError (422) naming what is wrong. Recorded as an event with the next tick."""
    now, progs = rt.clock(), _programs(rt)
    if kind == "4cp_alert":
        w = progs.add_fourcp_alert(start_s, end_s if end_s is not None else float("nan"), now, created_by)
    else:
        w = progs.add_deployment(program, start_s, duration_minutes or float("nan"), now, created_by)
    rt.pending_events.append(
        EventRecord(now, f"{kind}_posted", f"{w.program} {kind} {w.id} posted by {created_by}", w.document())
    )
    return w


def cancel_program_window(rt: Any, window_id: str, created_by: str) -> bool:
    ok = rt.programs is not None and rt.programs.cancel(window_id, rt.clock())
    if ok:
        rt.pending_events.append(
            EventRecord(
                rt.clock(), "program_cancel", f"{window_id} cancelled by {created_by}", {"id": window_id}
            )
        )
    return ok
