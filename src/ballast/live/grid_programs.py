"""The grid programs' live parts (the scenario's ``programs:``), through the arithmetic the
backtest settles (``programs/limits.py``, ``programs/fourcp.py``):

- **EEA**: an operator (API) or feed posts the ERCOT EEA level; from
  ``emergency.curtail_at_level`` up every miner is off (``limits.eea_cap_mw``).
- **4CP**: an alert window posted through the API, or the alert ``fourcp.fourcp_alert_hourly``
  computes each hour from a system-load history (``FourCpLoad``: the scenario's
  ``coincident_peak.load_source`` plus a live feed's readings), caps the miners at
  ``coincident_peak.curtail_to_mw``.
- **Reserves** (RRS, ECRS, ERS): every tick each reserve is sold only up to the headroom the
  miners really have (``limits.miner_headroom_mw`` against the AI load's maximum seen in the
  current UTC hour, caps in force; none while a DR event holds the miners down or, with
  ``reserve_only_when_economic``, at a price at or above the best breakeven), hold-consistent
  with the previous tick, and the floor keeps it running (``limits.reserve_floor_mw``).
- **Deployments**: an instruction (API, or the OpenADR bridge) for a reserve latches, at its
  first tick with fresh meter data, the metered miner power and the MW sold then, and caps the
  miners at ``limits.deployment_cap_mw`` for its duration; that reserve's floor is dropped
  meanwhile. RRS's floor is dropped while the site's under-frequency relay is tripped.

Times are UNIX seconds (UTC), powers facility MW. Demand response is ``live.obligations``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from ballast.control import ControllerConfig
from ballast.live.eea_episodes import EeaEpisode, level_event, restored_episode
from ballast.live.fourcp_load import FourCpLoad
from ballast.live.obligations import utc_iso
from ballast.live.program_settlement import ProgramSettlement
from ballast.live.program_windows import Window, check_window
from ballast.live.store import EventRecord
from ballast.programs.limits import (
    NO_CAP_MW,
    RESERVE_ORDER,
    deployment_cap_mw,
    eea_cap_mw,
    fleet_mw,
    fourcp_cap_mw,
    hold_consistent,
    miner_headroom_mw,
    reserve_floor_mw,
    reserve_uneconomic,
    sell_reserves,
)
from ballast.programs.schema import Programs


@dataclass(frozen=True)
class ProgramLimits:
    """What the programs ask of the miners this tick [MW] and what to record."""

    cap_mw: float
    floor_mw: float
    sold_mw: dict[str, float]
    active: list[dict[str, Any]]
    events: list[EventRecord]


class LivePrograms:
    """The live state of a scenario's ``programs:`` (``limits`` each tick)."""

    def __init__(
        self, programs: Programs, cfg: ControllerConfig, tz: str, load: FourCpLoad | None = None
    ) -> None:
        self.progs = programs
        self.tz = tz
        self.sleep_floor_mw, self.fleet_run_mw, self.step_mw = fleet_mw(cfg.groups)
        self.import_limit_mw = cfg.import_limit_mw
        g = cfg.groups
        self.breakeven = float(g.breakeven_per_hashprice.max()) if len(g.names) else math.nan
        self.offers_mw = programs.reserve_offers_mw()
        self.eea_level = 0
        self.eea_since_s: float | None = None
        self.eea: EeaEpisode | None = None  # the EEA episode in force (live/eea_episodes)
        self.windows: dict[str, Window] = {}
        self.load = load
        self._feed_alert: Window | None = None
        self._load_gap_told = False
        self._feed_key: tuple[float, int] | None = None
        self._raw_sold_mw: dict[str, float] = {}  # last tick's sale before hold-consistency
        self.sold_mw: dict[str, float] = {}  # last tick's sale [MW]
        self._ai_hour: tuple[float, float] = (math.nan, -math.inf)  # (hour start, max AI)
        self._pending: list[EventRecord] = []
        self.settlement = ProgramSettlement(programs)  # settled each tick (live.tick)

    # ------------------------------------------------------------ instructions
    def set_eea(self, level: int, now_s: float, source: str) -> EventRecord:
        """The ERCOT EEA level now in force (0: none): opens, updates or ends the episode."""
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 3:
            raise ValueError(f"EEA level must be 0 (none), 1, 2 or 3, got {level!r}")
        if self.progs.emergency is None:
            raise ValueError("the scenario has no programs.emergency section: EEA levels are not taken")
        at = self.progs.emergency.curtail_at_level
        before, self.eea_level = self.eea_level, level
        if level and self.eea is None:
            self.eea_since_s = now_s
            self.eea = EeaEpisode.new(level, now_s, source, at, self.sleep_floor_mw)
        elif level and self.eea is not None:
            self.eea.level, self.eea.max_level = level, max(self.eea.max_level, level)
        ev = level_event(now_s, level, before, source, at, self.eea.id if self.eea is not None else None)
        self._pending.append(ev)
        if not level:
            self._end_eea(now_s, f"level cleared by {source}")
        return ev

    def _end_eea(self, now_s: float, why: str) -> None:
        if self.eea is not None:
            self._pending += self.eea.end(now_s, why)
        self.eea, self.eea_since_s = None, None

    def add_fourcp_alert(self, start_s: float, end_s: float, now_s: float, source: str) -> Window:
        if self.progs.coincident_peak is None:
            raise ValueError("the scenario has no programs.coincident_peak section: 4CP alerts are not taken")
        check_window("4CP alert", start_s, end_s, now_s)
        w = Window(
            uuid.uuid4().hex[:12],
            "4cp_alert",
            start_s,
            end_s,
            source,
            cap_mw=float(self.progs.coincident_peak.curtail_to_mw),
        )
        self.windows[w.id] = w
        return w

    def add_deployment(
        self, program: str, start_s: float, duration_minutes: float, now_s: float, source: str
    ) -> Window:
        """A deployment instruction for a reserve the scenario offers."""
        if program not in self.offers_mw:
            raise ValueError(
                f"program must be one the scenario offers "
                f"({sorted(self.offers_mw) or 'none'}), got {program!r}"
            )
        if (
            isinstance(duration_minutes, bool)
            or not isinstance(duration_minutes, int | float)
            or not math.isfinite(duration_minutes)
            or duration_minutes <= 0
        ):
            raise ValueError(f"duration_minutes must be > 0, got {duration_minutes!r}")
        end_s = start_s + 60.0 * duration_minutes
        check_window(f"{program} deployment", start_s, end_s, now_s)
        w = Window(uuid.uuid4().hex[:12], "deployment", start_s, end_s, source, program)
        self.windows[w.id] = w
        return w

    def cancel(self, window_id: str, now_s: float) -> bool:
        w = self.windows.get(window_id)
        if w is None or w.cancelled_s is not None or now_s >= w.end_s:
            return False
        w.cancelled_s = now_s
        return True

    # -------------------------------------------------------------------- tick
    def limits(
        self,
        now_s: float,
        metered: tuple[float, float] | None,
        ai_mw: float,
        margin_mw: float,
        price_usd_per_mwh: float,
        hashprice_usd_per_ph_day: float,
        dr_active: bool,
        ufr_tripped: bool,
    ) -> ProgramLimits:
        """Cap and floor on miner power from the programs at ``now_s``. ``metered``: (campus
        import, miner power) of a fresh meter reading, None while stale (a deployment then
        caps at 0 until it can latch its reference: blind, the safest way to deliver)."""
        events, self._pending = self._pending, []
        active: list[dict[str, Any]] = []
        fixed_cap = NO_CAP_MW
        if self.progs.emergency is not None and self.eea_level:
            c = eea_cap_mw(self.eea_level, self.progs.emergency.curtail_at_level)
            fixed_cap = min(fixed_cap, c)
            if self.eea is not None and not self.eea.started:
                events.append(self.eea.first_tick(now_s, metered))
            active.append(
                {
                    "kind": "eea",
                    "id": self.eea.id if self.eea is not None else None,
                    "level": self.eea_level,
                    "since": utc_iso(self.eea_since_s or now_s),
                    "cap_mw": c if math.isfinite(c) else None,
                }
            )
        load_cap = self._fourcp_feed(now_s, events)
        if math.isfinite(load_cap) and self._feed_alert is not None:
            fixed_cap = min(fixed_cap, load_cap)
            active.append(self._feed_alert.document())
        for w in list(self.windows.values()):
            if w.kind != "4cp_alert":
                continue
            if self._window_state(w, now_s, events):
                cap = float(fourcp_cap_mw(True, w.cap_mw))
                fixed_cap = min(fixed_cap, cap)
                active.append(w.document())

        sold = self._sell(
            now_s, ai_mw, margin_mw, fixed_cap, price_usd_per_mwh, hashprice_usd_per_ph_day, dr_active
        )
        floor_parts = dict(sold)
        if ufr_tripped and "responsive_reserve" in floor_parts:
            floor_parts["responsive_reserve"] = 0.0  # the relay deployed it
        cap = fixed_cap
        for w in list(self.windows.values()):
            if w.kind != "deployment" or not self._window_state(w, now_s, events):
                continue
            if w.reference_mw is None:
                if metered is None:
                    cap = 0.0
                    continue
                w.reference_mw, w.commit_mw = metered[1], float(sold.get(w.program, 0.0))
                w.cap_mw = deployment_cap_mw(w.reference_mw, w.commit_mw)
                events.append(
                    EventRecord(
                        now_s,
                        "deployment_start",
                        f"{w.program} deployed: {w.commit_mw:.3g} MW below {w.reference_mw:.3g} MW",
                        w.document(),
                    )
                )
            floor_parts[w.program] = 0.0  # the deployed reserve no longer needs its floor
            cap = min(cap, w.cap_mw)
            active.append(w.document())
        total = sum(floor_parts.values())
        floor = float(reserve_floor_mw(total, self.sleep_floor_mw, self.step_mw))
        if any(v > 0 for v in sold.values()):
            active.append({"kind": "reserve", "sold_mw": dict(sold), "floor_mw": floor})
        return ProgramLimits(cap, floor, sold, active, events)

    def _window_state(self, w: Window, now_s: float, events: list[EventRecord]) -> bool:
        """Whether ``w`` is in force; start and end are events; windows over leave."""
        if w.active(now_s):
            if not w.started and w.kind == "4cp_alert":
                events.append(
                    EventRecord(now_s, "4cp_alert_start", f"4CP alert {w.id} from {w.source}", w.document())
                )
            w.started = True
            return True
        if now_s >= w.end_s or w.cancelled_s is not None:
            self.windows.pop(w.id, None)
            if w.started:
                events.append(EventRecord(now_s, f"{w.kind}_end", f"{w.kind} {w.id} ended", w.document()))
        return False

    def _fourcp_feed(self, now_s: float, events: list[EventRecord]) -> float:
        """The load history's alert for this hour, as a window of the hour (or no cap)."""
        cp = self.progs.coincident_peak
        if cp is None or self.load is None:
            return NO_CAP_MW
        hour_s = math.floor(now_s / 3600.0) * 3600.0
        key = (hour_s, self.load.version)
        if self._feed_alert is not None and self._feed_key == key:
            return self._feed_alert.cap_mw if self._feed_alert.started else NO_CAP_MW
        was_on = (
            self._feed_alert is not None and self._feed_alert.started and self._feed_alert.start_s == hour_s
        )
        self._feed_key = key
        alert, why = self.load.alert(now_s, cp, self.tz)
        alert = alert or was_on  # an hour alerted stays alerted (readings only add to it)
        w = Window(
            f"feed-{int(hour_s)}",
            "4cp_alert",
            hour_s,
            hour_s + 3600.0,
            "load feed",
            cap_mw=float(cp.curtail_to_mw),
            started=alert,
        )
        self._feed_alert = w
        if not alert and not math.isfinite(why["forecast_mw"]) and not self._load_gap_told:
            self._load_gap_told = True  # once: without a load feed this is every hour
            events.append(
                EventRecord(
                    now_s,
                    "4cp_load_missing",
                    "4CP: no system load for the "
                    "two hours before this one (load file or feed): no alert "
                    "from the load; alerts come from the API only",
                    why,
                )
            )
        if alert and not was_on:
            events.append(
                EventRecord(
                    now_s,
                    "4cp_alert_start",
                    "4CP alert from the system "
                    f"load: forecast {why['forecast_mw']:.0f} MW >= threshold "
                    f"{why['threshold_mw']:.0f} MW",
                    {**w.document(), **why},
                )
            )
            return w.cap_mw
        return NO_CAP_MW

    def _sell(
        self,
        now_s: float,
        ai_mw: float,
        margin_mw: float,
        cap_mw: float,
        price: float,
        hashprice: float,
        dr_active: bool,
    ) -> dict[str, float]:
        """MW of each reserve sold now: ``limits.sell_reserves`` over the headroom, held
        consistent with the previous tick (``limits.hold_consistent``)."""
        if not self.offers_mw:
            return {}
        hour = math.floor(now_s / 3600.0)
        ai_max = max(ai_mw, self._ai_hour[1]) if self._ai_hour[0] == hour else ai_mw
        self._ai_hour = (hour, ai_max)
        head = float(
            miner_headroom_mw(
                ai_max,
                self.import_limit_mw,
                margin_mw,
                self.fleet_run_mw,
                self.sleep_floor_mw,
                cap_mw,
                self.step_mw,
            )
        )
        if dr_active:
            head = 0.0  # no reserve sold while a DR event holds the miners down
        if self.progs.reserve_only_when_economic and bool(
            reserve_uneconomic(price, hashprice, self.breakeven)
        ):
            head = 0.0
        raw = {k: float(v[0]) for k, v in sell_reserves(self.offers_mw, np.array([head])).items()}
        sold = {
            k: float(hold_consistent(np.array([self._raw_sold_mw.get(k, 0.0), v]))[1]) for k, v in raw.items()
        }
        self._raw_sold_mw = raw
        self.sold_mw = {k: sold[k] for k in RESERVE_ORDER if k in sold}
        return dict(self.sold_mw)

    def saved(self) -> dict[str, Any]:
        """What a restart needs (``resume.SavedPrograms``): the EEA level, the windows and the
        settlement so far."""

        def window(w: Window) -> dict[str, Any]:
            d = vars(w).copy()
            d["cap_mw"] = w.cap_mw if math.isfinite(w.cap_mw) else None
            return d

        return {
            "eea_level": self.eea_level,
            "eea_since_s": self.eea_since_s,
            "eea_episode": self.eea.saved() if self.eea is not None else None,
            "windows": [window(w) for w in self.windows.values()],
            "settlement": self.settlement.saved(),
        }

    def restore(self, doc: dict[str, Any], now_s: float) -> None:
        """Take back ``saved()``'s document (validated by ``resume.SavedPrograms``); a level
        the scenario no longer takes is dropped with an event, windows that are over leave."""
        level = int(doc.get("eea_level", 0))
        if level and self.progs.emergency is None:
            self._pending.append(
                EventRecord(
                    now_s,
                    "eea",
                    f"saved EEA level {level} dropped: the scenario has no programs.emergency now",
                    {"level": 0, "was": level},
                )
            )
            level = 0
            if doc.get("eea_episode"):
                self.eea = EeaEpisode(**doc["eea_episode"])
                self._end_eea(now_s, "the scenario has no programs.emergency now")
        self.eea_level, self.eea_since_s = level, doc.get("eea_since_s") if level else None
        if doc.get("settlement") is not None:
            self.settlement.restore(doc["settlement"])
        if level and self.progs.emergency is not None:
            self.eea = restored_episode(
                doc.get("eea_episode"),
                level,
                self.eea_since_s,
                now_s,
                self.progs.emergency.curtail_at_level,
                self.sleep_floor_mw,
            )
        for d in doc.get("windows", []):
            cap = d.get("cap_mw")
            w = Window(**{**d, "cap_mw": NO_CAP_MW if cap is None else cap})
            if now_s < w.end_s and (w.kind == "4cp_alert" or w.program in self.offers_mw):
                self.windows[w.id] = w

    def document(self) -> dict[str, Any]:
        """The programs' state for ``/api/v1/programs``."""
        return {
            "eea_level": self.eea_level,
            "eea_since": utc_iso(self.eea_since_s) if self.eea_since_s else None,
            "eea_id": self.eea.id if self.eea is not None else None,
            "offers_mw": dict(self.offers_mw),
            "sold_mw": dict(self.sold_mw),
            "windows": [w.document() for w in self.windows.values()],
            "fourcp_from_load": self.load is not None,
        }
