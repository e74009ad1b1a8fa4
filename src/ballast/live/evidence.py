"""Settlement evidence (M&V) of one live DR event, grid program window (a reserve deployment,
a 4CP alert) or EEA episode (``live/evidence_events``), read from the store: per settlement interval,
the metered campus import, the miner power metered and planned, the commanded miner states, the
fleet commands with their verified outcomes, the baseline by a named method
(``programs/baselines.py``), the reduction achieved against it and the shortfall
(``programs/dr.py``). ``build_evidence`` returns the JSON document (schema
``ballast.evidence/1``); ``evidence_csv`` renders its intervals as CSV.

What the store records and this reads: ``dr_events`` (a DR event; a program window: its
``*_start``/``*_end`` events), ``measurements`` (one row per
tick: import, miners, planned, cap, safe mode), ``setpoints`` (per tick and group: the running
target = commanded state, and the miners verified asleep after the tick's fan-out),
``commands`` (every fan-out: miners sent to, verified compliant by read-back, failed with
their status), ``events`` (``dr_start`` holds the baseline the runtime latched and commanded
against).

Miner states per interval, per group at the interval's last tick: commanded = the running
target (``running_target``); verified = the miners verified asleep by read-back after that
tick's fan-out (``verified_asleep``, the runtime's fleet witness the meter checks use: a miner
that only acknowledged a sleep is not counted; None where the store did not record it, ticks
written by a version before it was stored). And the read-back outcomes of the commands recorded
in the interval, by kind (``sleep_verified`` of ``sleep_commanded``, ``wake_verified`` of
``wake_commanded``, a wake's verification after the ramp included) and by status
(``outcomes``: ok, timeout, ramping, ...).

Intervals: the UTC clock grid of ``interval_s`` (default 900 s, the ERCOT settlement interval),
clipped to the event's window [start, end or cancellation). An interval's metered import is the
mean over its ticks with a fresh meter reading; ticks without one are counted, never filled.

Baselines: ``meter_before_event`` is the import the runtime latched at the event's first fresh
tick (the ``dr_start`` event: what the miners were commanded against; for a program window the
import of the tick of its start event); if none was recorded,
the last fresh tick in the interval before the start (none: refused, naming the event).
``middle_8_of_10`` and ``regression`` read the import history as interval means (aggregated by
the database) at the event's hours on each of the ``HISTORY_DAYS`` before it, in the site's
time zone ``tz``. Reduction asked (and so shortfall): DR the MW or share posted, a deployment
the MW committed at its first tick, an EEA episode the miner power metered before it above the
cap (per interval: times the share under a curtailing level), a 4CP alert none (shortfall
None). ``miners_reduction_mw``: the latched miner power minus the interval's metered miner
power (an EEA's "MW actually curtailed" per interval).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from ballast.live.evidence_events import EvidenceEvent, EvidenceNotFound, find_event
from ballast.live.obligations import utc_iso
from ballast.live.store import Store
from ballast.programs.baselines import BASELINE_METHODS, BaselineError, baseline_import_mw
from ballast.programs.dr import dr_achieved_reduction_mw, dr_shortfall_mw

__all__ = ["BASELINE_METHODS", "EvidenceNotFound", "build_evidence", "evidence_csv"]

SCHEMA = "ballast.evidence/1"
INTERVAL_S = 900.0  # ERCOT settles 15-minute intervals
HISTORY_DAYS = 70  # enough calendar days for 10 like weekend days with holidays between
INTERVAL_COLUMNS = [
    "event_id",
    "method",
    "interval_start_utc",
    "interval_end_utc",
    "ticks",
    "ticks_without_meter",
    "metered_import_mw",
    "miners_mw",
    "miners_planned_mw",
    "cap_mw",
    "baseline_import_mw",
    "reduction_asked_mw",
    "achieved_reduction_mw",
    "shortfall_mw",
    "reduced_mwh",
    "shortfall_mwh",
    "commands",
    "miners_commanded",
    "miners_verified",
    "miners_not_verified",
    "sleep_commanded",
    "sleep_verified",
    "wake_commanded",
    "wake_verified",
    "outcomes",
    "miners_reduction_mw",
]


def _num(x: Any) -> float | None:
    """A finite float, else None (JSON has no NaN)."""
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _grid(start_s: float, end_s: float, interval_s: float) -> list[tuple[float, float]]:
    """[start, end) cut at the UTC multiples of ``interval_s``."""
    out, t = [], start_s
    while t < end_s:
        nxt = min((math.floor(t / interval_s) + 1) * interval_s, end_s)
        out.append((t, nxt))
        t = nxt
    return out


def _history_means(store: Store, first_s: float, last_s: float, interval_s: float) -> pd.Series:
    """Mean fresh import per UTC interval [MW], by the database, over the same hours as
    [first_s, last_s) on each of the ``HISTORY_DAYS`` days before, widened by an hour each side
    (a daylight-saving shift moves the local wall time by one): the like days' intervals, not
    the whole history."""
    bucket = (
        "floor(time_s / ?)" if store.kind == "postgresql" else "CAST(time_s / ? AS INTEGER)"
    )  # SQLite: truncation = floor for t >= 0
    windows: list[float] = []
    for k in range(1, HISTORY_DAYS + 1):
        windows += [first_s - k * 86400.0 - 3600.0, min(last_s - k * 86400.0 + 3600.0, first_s)]
    ranges = " OR ".join(["(time_s >= ? AND time_s < ?)"] * HISTORY_DAYS)
    rows = store.select(
        f"SELECT {bucket} AS b, avg(import_mw) AS mw FROM measurements WHERE ({ranges}) "
        "AND import_mw IS NOT NULL AND safe_mode = 0 GROUP BY 1 ORDER BY 1",
        (interval_s, *windows),
    )
    times = pd.to_datetime([int(r["b"]) * interval_s for r in rows], unit="s", utc=True)
    return pd.Series([float(r["mw"]) for r in rows], index=times, dtype=float)


def _baseline(
    store: Store,
    ev: EvidenceEvent,
    method: str,
    grid: list[tuple[float, float]],
    interval_s: float,
    tz: str,
) -> tuple[np.ndarray, str]:
    """Baseline per interval [MW] and where it came from."""
    start_s = ev.start_s
    event_times = pd.to_datetime([a for a, _ in grid], unit="s", utc=True)
    if method == "meter_before_event":
        if ev.latched_import_mw is not None:
            return np.full(len(grid), float(ev.latched_import_mw)), ev.latched_source
        rows = store.select(
            "SELECT time_s, import_mw FROM measurements WHERE time_s < ? AND "
            "time_s >= ? AND import_mw IS NOT NULL AND safe_mode = 0 ORDER BY "
            "time_s DESC LIMIT 1",
            (start_s, start_s - interval_s),
        )
        if not rows:
            raise BaselineError(
                f"meter_before_event: the runtime latched no baseline for "
                f"event {ev.id} (no {ev.kind}_start event) and no fresh tick was "
                f"recorded in the {interval_s:g} s before its start"
            )
        times = pd.to_datetime([r["time_s"] for r in rows], unit="s", utc=True)
        return (
            baseline_import_mw(method, times, [r["import_mw"] for r in rows], event_times),
            f"last fresh tick before the start (no {ev.kind}_start event recorded)",
        )
    # like days: the history on the event's own grid (aligned to the UTC interval multiples)
    first = math.floor(start_s / interval_s) * interval_s
    hist = _history_means(store, first, grid[-1][1], interval_s)
    aligned = pd.to_datetime([math.floor(a / interval_s) * interval_s for a, _ in grid], unit="s", utc=True)
    return (
        baseline_import_mw(method, hist.index, hist.to_numpy(), aligned, tz=tz),
        f"{method} over the metered import of the {HISTORY_DAYS} days before the event, "
        f"{interval_s:g}-s interval means, days in {tz}",
    )


def build_evidence(
    store: Store,
    event_id: str,
    method: str = "meter_before_event",
    interval_s: float = INTERVAL_S,
    tz: str = "UTC",
) -> dict[str, Any]:
    """The evidence document of DR event ``event_id`` (module docstring). EvidenceNotFound for
    an unknown id; ``BaselineError`` (ValueError) when the history cannot support ``method``."""
    if method not in BASELINE_METHODS:
        raise ValueError(f"unknown baseline method {method!r}; one of {', '.join(BASELINE_METHODS)}")
    if not (isinstance(interval_s, int | float) and math.isfinite(interval_s) and interval_s > 0):
        raise ValueError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"tz {tz!r} is not a time zone of the tz database") from None
    ev = find_event(store, event_id)
    start_s, end_s = ev.start_s, ev.end_s
    grid = _grid(start_s, end_s, interval_s) if end_s > start_s else []
    ticks = store.select(
        "SELECT tick, time_s, import_mw, miners_mw, miners_planned_mw, cap_mw, "
        "safe_mode FROM measurements WHERE time_s >= ? AND time_s < ? "
        "ORDER BY tick",
        (start_s, end_s),
    )
    setpoints = (
        store.select(
            "SELECT tick, group_name, running_target, controllable, mode, verified_asleep "
            "FROM setpoints WHERE tick >= ? AND tick <= ? ORDER BY tick, "
            "group_name",
            (ticks[0]["tick"], ticks[-1]["tick"]),
        )
        if ticks
        else []
    )
    commands = store.select(
        "SELECT time_s, group_name, command, miners, ok, failed, elapsed_s, "
        "counts, failures FROM commands WHERE time_s >= ? AND time_s < ? "
        "ORDER BY id",
        (start_s, end_s),
    )
    no_rows = (np.zeros(0), "no intervals")
    base, source = _baseline(store, ev, method, grid, interval_s, tz) if grid else no_rows
    rows = _interval_rows(ev, method, grid, base, ticks, setpoints, commands)
    groups = sorted({s["group_name"] for s in setpoints})
    done = [r for r in rows if r["achieved_reduction_mw"] is not None]
    return {
        "schema": SCHEMA,
        "event": ev.document,
        "baseline": {
            "method": method,
            "source": source,
            "interval_s": interval_s,
            "tz": tz,
            "latched_import_mw": _num(ev.latched_import_mw),
            "latched_miners_mw": _num(ev.latched_miners_mw),
        },
        "totals": {
            "intervals": len(rows),
            "intervals_metered": len(done),
            "ticks": len(ticks),
            "ticks_without_meter": sum(r["ticks_without_meter"] for r in rows),
            "reduced_mwh": sum(r["reduced_mwh"] for r in done),
            "shortfall_mwh": None  # nothing committed (a 4CP alert)
            if any(r["shortfall_mwh"] is None for r in done)
            else sum(r["shortfall_mwh"] for r in done),
            "achieved_reduction_mw_mean": _num(np.mean([r["achieved_reduction_mw"] for r in done]))
            if done
            else None,
        },
        "groups": groups,
        "intervals": rows,
        "commands": [
            {
                "time": utc_iso(float(c["time_s"])),
                "group": c["group_name"],
                "command": c["command"],
                "miners": c["miners"],
                "verified": c["ok"],
                "not_verified": c["failed"],
                "elapsed_s": _num(c["elapsed_s"]),
                "counts": _json(c["counts"]),
                "failures": _json(c["failures"]),
            }
            for c in commands
        ],
        "markers": [
            {"time": utc_iso(float(r["time_s"])), "kind": r["kind"], "data": r["data"]} for r in ev.markers
        ],
    }


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


def _interval_rows(
    ev: EvidenceEvent,
    method: str,
    grid: list[tuple[float, float]],
    base: np.ndarray,
    ticks: list[dict[str, Any]],
    setpoints: list[dict[str, Any]],
    commands: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    t = np.array([r["time_s"] for r in ticks], dtype=float)
    fresh = np.array([r["import_mw"] is not None and not r["safe_mode"] for r in ticks], dtype=bool)

    def col(name: str) -> np.ndarray:
        return np.array([np.nan if r[name] is None else r[name] for r in ticks], dtype=float)

    imp, mnr, plan, cap = col("import_mw"), col("miners_mw"), col("miners_planned_mw"), col("cap_mw")
    tick_no = np.array([r["tick"] for r in ticks], dtype=np.int64)
    last_target: dict[int, dict[str, int]] = {}
    last_asleep: dict[int, dict[str, int | None]] = {}
    for s in setpoints:
        last_target.setdefault(int(s["tick"]), {})[s["group_name"]] = int(s["running_target"])
        asleep = s["verified_asleep"]
        last_asleep.setdefault(int(s["tick"]), {})[s["group_name"]] = None if asleep is None else int(asleep)
    ct = np.array([c["time_s"] for c in commands], dtype=float)
    rows = []
    for i, (a, b) in enumerate(grid):
        sel = (t >= a) & (t < b)
        ok = sel & fresh
        meas = float(imp[ok].mean()) if ok.any() else None
        baseline = float(base[i])
        asked = ev.asked_mw(baseline, a, b)
        hours = (b - a) / 3600.0
        achieved = short = None
        if meas is not None:
            achieved = float(dr_achieved_reduction_mw(baseline, meas))
            short = None if asked is None else float(dr_shortfall_mw(asked, achieved))
        csel = (ct >= a) & (ct < b)
        cmds = [c for c, s in zip(commands, csel, strict=True) if s]
        last = int(tick_no[sel][-1]) if sel.any() else None
        target = last_target.get(last, {}) if last is not None else {}
        asleep = last_asleep.get(last, {}) if last is not None else {}
        rows.append(
            {
                "event_id": ev.id,
                "method": method,
                "interval_start_utc": utc_iso(a),
                "interval_end_utc": utc_iso(b),
                "ticks": int(sel.sum()),
                "ticks_without_meter": int((sel & ~fresh).sum()),
                "metered_import_mw": meas,
                "miners_mw": _num(np.nanmean(mnr[ok])) if ok.any() else None,
                "miners_planned_mw": _num(np.nanmean(plan[sel])) if np.isfinite(plan[sel]).any() else None,
                "cap_mw": _num(np.nanmin(cap[sel])) if np.isfinite(cap[sel]).any() else None,
                "baseline_import_mw": baseline,
                "reduction_asked_mw": asked,
                "achieved_reduction_mw": achieved,
                "shortfall_mw": short,
                "reduced_mwh": None if achieved is None else max(achieved, 0.0) * hours,
                "shortfall_mwh": None if short is None else short * hours,
                "commands": len(cmds),
                "miners_commanded": sum(int(c["miners"]) for c in cmds),
                "miners_verified": sum(int(c["ok"]) for c in cmds),
                "miners_not_verified": sum(int(c["failed"]) for c in cmds),
                **_verified_by_kind(cmds),
                "miners_reduction_mw": _num(ev.latched_miners_mw - np.nanmean(mnr[ok]))
                if ok.any() and ev.latched_miners_mw is not None and np.isfinite(mnr[ok]).any()
                else None,
                "running_target": target,
                "verified_asleep": asleep,
            }
        )
    return rows


def _verified_by_kind(cmds: list[dict[str, Any]]) -> dict[str, Any]:
    """Miners commanded and verified by read-back, per command kind, and the outcomes by status."""
    out: dict[str, Any] = {}
    for kind in ("sleep", "wake"):
        mine = [c for c in cmds if c["command"] == kind]
        out[f"{kind}_commanded"] = sum(int(c["miners"]) for c in mine)
        out[f"{kind}_verified"] = sum(int(c["ok"]) for c in mine)
    statuses: dict[str, int] = {}
    for c in cmds:
        for status, n in _json(c["counts"]).items():
            statuses[status] = statuses.get(status, 0) + int(n)
    out["outcomes"] = dict(sorted(statuses.items()))
    return out


def _cell(v: Any) -> Any:
    """A CSV cell: empty for None, ``status=n;...`` for the outcomes."""
    if v is None:
        return ""
    return ";".join(f"{k}={n}" for k, n in v.items()) if isinstance(v, dict) else v


def evidence_csv(doc: dict[str, Any]) -> str:
    """The document's intervals as CSV: ``INTERVAL_COLUMNS`` (``outcomes`` as ``status=n;...``),
    then per group ``running_target[<group>]`` (devices commanded to run at the interval's last
    tick), then per group ``verified_asleep[<group>]`` (miners verified asleep after that
    tick's fan-out); empty = not known or not recorded."""
    groups = doc["groups"]
    per_group = ("running_target", "verified_asleep")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(INTERVAL_COLUMNS + [f"{k}[{g}]" for k in per_group for g in groups])
    for r in doc["intervals"]:
        w.writerow(
            [_cell(r[c]) for c in INTERVAL_COLUMNS] + [_cell(r[k].get(g)) for k in per_group for g in groups]
        )
    return out.getvalue()
