"""Resume the live runtime from its store; quarantine what cannot be loaded.

The runtime's state document (``runtime_state``, written with every tick) and the stored DR
events are checked before use: a document of the wrong shape, with invalid or non-finite
fields, or a DR event row with absurd or non-finite dates is *quarantined*: it is not used, a
``quarantine`` event records what and why, and a warning is logged. The runtime then starts from
its configured defaults for that part (fresh controller state, site-config policy) and never
wedges on a bad row. The tick counter continues after the last committed tick.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ballast.control.rules import RS_CEILING, RS_LAST_T
from ballast.control.smoothing import SS_INIT, SS_LAST_T
from ballast.live.obligations import dr_event_from_row, utc_iso
from ballast.live.site_model import Policy
from ballast.live.store import EventRecord

if TYPE_CHECKING:
    from ballast.live.runtime import Runtime

log = logging.getLogger("ballast.live")

_FiniteList = list[float]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)


class SavedPolicy(_Doc):
    price_usd_per_mwh: float
    hashprice_usd_per_ph_day: float = Field(ge=0)
    economic_dispatch: bool
    import_margin_mw: float = Field(ge=0)


class SavedWindow(_Doc):
    """A 4CP alert or reserve deployment in force or to come (``live.grid_programs.Window``)."""

    id: str = Field(min_length=1, max_length=64)
    kind: Literal["4cp_alert", "deployment"]
    start_s: float
    end_s: float
    source: str
    program: Literal["coincident_peak", "responsive_reserve", "ecrs", "ers"]
    cancelled_s: float | None = None
    reference_mw: float | None = None
    commit_mw: float | None = None
    cap_mw: float | None = Field(None, ge=0)  # None: no cap yet
    started: bool = False


class SavedSettlement(_Doc):
    """The programs' settlement so far (``ProgramSettlement.saved``): finite totals per
    program."""

    since_s: float | None = None
    until_s: float | None = None
    counted: list[str] = Field(default_factory=list)
    totals: dict[str, dict[str, float]] = Field(default_factory=dict)


class SavedEeaEpisode(_Doc):
    """The EEA episode in force (``live.eea_episodes.EeaEpisode``)."""

    id: str = Field(min_length=1, max_length=64)
    start_s: float
    source: str
    curtail_at_level: int = Field(ge=1, le=3)
    level: int = Field(ge=1, le=3)
    max_level: int = Field(ge=1, le=3)
    sleep_floor_mw: float = Field(ge=0)
    started: bool = False
    reference_import_mw: float | None = None
    reference_miners_mw: float | None = None
    latch: bool = True


class SavedPrograms(_Doc):
    """The grid programs' instructions (``LivePrograms.saved``): an EEA in force must survive
    a restart; so does the settlement so far."""

    eea_level: int = Field(0, ge=0, le=3)
    eea_since_s: float | None = None
    eea_episode: SavedEeaEpisode | None = None  # None: none in force, or a state before ids
    windows: list[SavedWindow] = Field(default_factory=list)
    settlement: SavedSettlement | None = None


class SavedState(_Doc):
    """The runtime state document as ``state_document`` writes it.

    ``smooth`` and ``ai_buf`` are the smoothing rules' memory (``control.smoothing.SS_*`` and
    the recent AI readings [MW]); they are restored when they fit (``_smoothing_fits``), else
    smoothing starts afresh. Older documents carry them as zeros (smoothing was refused live
    then): a zero memory is a fresh start."""

    econ_on: list[bool] = Field(default_factory=list)
    last_change_s: _FiniteList = Field(default_factory=list)
    running: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    modes: dict[str, Literal["auto", "curtailed"]] = Field(default_factory=dict)
    policy: SavedPolicy | None = None
    ufr_tripped: bool = False
    ufr_cap_mw: float | None = Field(None, ge=0)
    dr_baselines: dict[str, tuple[float, float]] = Field(default_factory=dict)
    safe_mode: bool = False
    # the restore ramp's import ceiling [MW] and its time [s] (None: not seeded yet)
    restore_ceiling_mw: float | None = None
    restore_time_s: float | None = None
    smooth: _FiniteList = Field(default_factory=list)
    ai_buf: _FiniteList = Field(default_factory=list)
    programs: SavedPrograms | None = None

    @model_validator(mode="after")
    def _same_length(self) -> SavedState:
        n = {len(self.econ_on), len(self.last_change_s), len(self.running)}
        if len(n) > 1:
            raise ValueError("econ_on, last_change_s and running differ in length")
        return self


def state_document(rt: Runtime) -> dict[str, Any]:
    """What a restart needs, written with every tick (``runtime_state``)."""
    st = rt.state
    return {"econ_on": st.econ_on.tolist(), "last_change_s": st.last_change_s.tolist(),
            "running": st.running.tolist(), "modes": dict(rt.modes),
            "policy": vars(rt.policy).copy(), "ufr_tripped": rt.ufr_tripped,
            "ufr_cap_mw": rt.ufr_cap_mw,
            "dr_baselines": {k: list(v) for k, v in rt.dr.baselines.items()},
            "safe_mode": rt.safe_mode, **_restore_document(st.restore),
            "programs": None if rt.programs is None else rt.programs.saved(),
            **_smoothing_document(st.smooth, st.ai_buf)}


def _smoothing_document(smooth: np.ndarray, ai_buf: np.ndarray) -> dict[str, list[float]]:
    """The smoothing memory, or none when a value is not finite (never saved, so a bad value
    cannot get the whole state quarantined at the next start)."""
    if not (np.isfinite(smooth).all() and np.isfinite(ai_buf).all()):
        return {"smooth": [], "ai_buf": []}
    return {"smooth": smooth.tolist(), "ai_buf": ai_buf.tolist()}


def _restore_document(rs: np.ndarray) -> dict[str, float | None]:
    ceiling, time_s = float(rs[RS_CEILING]), float(rs[RS_LAST_T])
    seeded = np.isfinite(ceiling) and np.isfinite(time_s)
    return {"restore_ceiling_mw": ceiling if seeded else None,
            "restore_time_s": time_s if seeded else None}


def quarantine(now_s: float, table: str, key: str, reason: str) -> EventRecord:
    msg = f"{table} {key} quarantined (not used): {reason}"
    log.warning(msg)
    return EventRecord(now_s, "quarantine", msg, {"table": table, "id": key, "reason": reason})


def _last_tick(rt: Runtime) -> int:
    """The last committed tick from the measurements (when the state row is unreadable)."""
    try:
        rows = rt.store.measurements(None, None, 1)
        return int(rows[-1]["tick"]) if rows else 0
    except Exception:  # a store this broken fails loudly at the first tick's write
        return 0


def resume(rt: Runtime) -> None:
    """Load the DR events and the state document into ``rt``; record a ``start``, ``resume``
    and any ``quarantine`` events."""
    now = rt.clock()
    events: list[EventRecord] = []
    for row in rt.store.dr_events():
        try:
            ev = dr_event_from_row(row, now)
        except (ValueError, TypeError, KeyError) as e:
            events.append(quarantine(now, "dr_events", str(row.get("id")), str(e)))
            continue
        rt.dr.events[ev.id] = ev
    try:
        saved = rt.store.load_state()
    except Exception as e:  # invalid JSON or columns: start fresh, keep counting ticks
        events.append(quarantine(now, "runtime_state", "runtime", f"cannot be read: {e!r}"))
        rt.tick_no = _last_tick(rt)
        saved = None
    if saved is None:
        events.append(EventRecord(now, "start", "fresh start" if not rt.tick_no else
                                  f"fresh state after tick {rt.tick_no} (state quarantined)"))
    else:
        tick, time_s, doc = saved
        rt.tick_no = rt.resumed_from_tick = tick
        try:
            st = SavedState.model_validate_json(json.dumps(doc))  # JSON mode: lists as pairs
        except ValidationError as e:
            errs = "; ".join(f"{'.'.join(map(str, x['loc'])) or 'document'}: {x['msg']}"
                             for x in e.errors()[:5])
            events.append(quarantine(now, "runtime_state", "runtime", errs))
        else:
            _apply(rt, st)
        events.append(EventRecord(now, "resume", f"resumed after tick {tick} "
                                  f"({utc_iso(time_s)})", {"from_tick": tick,
                                                           "from_time_s": time_s}))
    for e in events:
        rt.store.add_event(e)


def _apply(rt: Runtime, st: SavedState) -> None:
    n = len(rt.group_names)
    if len(st.econ_on) == n:  # the scenario may have changed its groups since
        rt.state.econ_on[:] = np.asarray(st.econ_on, dtype=bool)
        rt.state.last_change_s[:] = np.asarray(st.last_change_s, dtype="float64")
        rt.state.running[:] = np.asarray(st.running, dtype=np.int64)
    rt.modes.update({k: v for k, v in st.modes.items() if k in rt.modes})
    if st.policy is not None:
        rt.policy = Policy(**st.policy.model_dump())
    rt.ufr_tripped = st.ufr_tripped
    rt.ufr_above_since_s = None  # a monotonic time does not survive a restart: hold anew
    rt.ufr_cap_mw = st.ufr_cap_mw
    rt.dr.baselines = {k: v for k, v in st.dr_baselines.items() if k in rt.dr.events}
    rt.safe_mode = st.safe_mode
    if st.restore_ceiling_mw is not None and st.restore_time_s is not None:
        # where the ramp was; the first meter reading can only lower it (restore_from_meter)
        rt.state.restore[RS_CEILING] = st.restore_ceiling_mw
        rt.state.restore[RS_LAST_T] = st.restore_time_s
    if rt.programs is not None and st.programs is not None:
        rt.programs.restore(st.programs.model_dump(), rt.clock())
    if _smoothing_fits(rt, st):
        # where the smoothing plan, its slow target and the AI filter were: the import goes on
        # from there instead of stepping to a fresh plan
        rt.state.smooth[:] = st.smooth
        rt.state.ai_buf[:] = st.ai_buf


def _smoothing_fits(rt: Runtime, st: SavedState) -> bool:
    """Whether the saved smoothing memory may be used: started, of the running controller's
    shape (same tick and AI filter), and no older than the spec's ramp window (within it,
    going on from the saved plan keeps the window's ramp; older, the plan starts afresh as on
    a first start)."""
    sm = st.smooth
    if len(sm) != len(rt.state.smooth) or len(st.ai_buf) != len(rt.state.ai_buf):
        return False
    if sm[SS_INIT] != 1.0:
        return False
    age_s = rt.clock() - sm[SS_LAST_T]
    return 0.0 <= age_s <= rt.base_cfg.smoothing.ramp_window_s
