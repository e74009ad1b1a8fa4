"""Turn a scenario's ``programs:`` section into per-tick caps and floors for the rule stack.

Everything here uses only information available at each tick:
- fixed caps known when they apply: EEA windows (all miners off), 4CP alerts (from the forecast
  proxy in ``fourcp``), accepted DR event windows;
- reserve floors: each reserve is sold per interval only up to the headroom the miners really
  have (import limit minus the AI load's hourly maximum, minus caps in force, minus sleep power),
  and the floor keeps that much miner power running so it can be dropped;
- deployments (UFR trips, ECRS/ERS instructions, DR events) need the miner power at the signal:
  the engine stops at each signal tick and ``on_chunk`` sets the cap from the last measured
  miner power (the previous tick), never from the future; a DR event's cap comes from
  ``programs.dr.dr_cap`` (a reduction of campus import below its baseline). A DR baseline by
  a like-days method (``programs/baselines.py``) reads the campus import of the ticks before
  the event only, per interval of the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.coincident_peak import find_monthly_peaks
from ballast.control import ControllerConfig
from ballast.data.errors import DataError
from ballast.data.loaders import read_series
from ballast.inputs import SiteInputs
from ballast.programs import fourcp
from ballast.programs.baselines import BaselineError, baseline_import_mw
from ballast.programs.dr import DrRequest, dr_cap
from ballast.programs.frequency import (
    load_frequency_shape,
    read_frequency_event,
    ufr_trip_time_s,
)
from ballast.programs.limits import (
    deployment_cap_mw,
    eea_cap_mw,
    fleet_mw,
    fourcp_cap_mw,
    hold_consistent,
    miner_headroom_mw,
    reserve_floor_mw,
    reserve_headroom_mw,
    reserve_uneconomic,
    sell_reserves,
)
from ballast.programs.schema import Programs
from ballast.scenario import Scenario


@dataclass
class ProgramEvent:
    """One grid instruction and what the site did with it (filled in during the run)."""

    program: str
    kind: str  # eea, 4cp_alert, ufr_trip, deployment, dr_event, frequency_event
    signal_time_utc: pd.Timestamp
    start_tick: int
    end_tick: int  # exclusive
    commit_mw: float = float("nan")  # committed reduction [MW] (reference-based events)
    fixed_cap_mw: float = float("nan")  # cap [MW] for window events (EEA, 4CP)
    opted_in: bool = True
    reason: str = ""
    response_minutes: float = float("nan")
    reference_mw: float = float("nan")  # miner power at the signal (last measured tick) [MW]
    cap_mw: float = float("nan")  # cap actually commanded [MW]
    dr: DrRequest | None = None  # DR events: the request (programs/dr.py gives its meaning)
    baseline_import_mw: float = float("nan")  # DR events: campus import baseline [MW]
    baseline_method: str = ""  # DR events: "stated" or a programs/baselines.py method
    # DR events by a like-days method: baseline and reduction asked per event tick [MW]
    baseline_series_mw: np.ndarray | None = None
    reduction_series_mw: np.ndarray | None = None

    @property
    def needs_break(self) -> bool:
        return self.opted_in and self.end_tick > self.start_tick


@dataclass
class ProgramPlan:
    """Caps/floors for the Ballast run plus the events whose cap depends on the signal tick."""

    index: pd.DatetimeIndex
    cap_mw: np.ndarray  # combined; inf = no cap (mutated during the run by on_chunk)
    floor_mw: np.ndarray
    fixed_caps_mw: dict[str, np.ndarray]  # per program, before deployments
    reserve_sold_mw: dict[str, np.ndarray]  # per reserve program, per tick
    headroom_mw: np.ndarray  # what reserves could be sold against, per tick
    sleep_floor_mw: float  # all miners asleep [MW]
    max_draw_mw: np.ndarray  # most the miners could draw per tick (limit, AI, fleet, caps) [MW]
    events: list[ProgramEvent] = field(default_factory=list)
    fourcp_alert: np.ndarray | None = None
    fourcp_peaks: pd.DataFrame | None = None
    fourcp_hourly: pd.DataFrame | None = None
    # replayed frequency events: (label, start, offsets [s], frequency [Hz], trip [s] or NaN)
    frequency_traces: list[tuple] = field(default_factory=list)
    base_dir: Path | None = None  # where the scenario's relative file paths start
    other_import_mw: np.ndarray | None = None  # AI load minus renewables per tick [MW]
    export_limit_mw: float = float("inf")
    tz: str = "UTC"  # the site's zone: DR like days

    def imports_mw(self, ticks: slice, miner_mw: np.ndarray) -> np.ndarray:
        """Campus import over ``ticks`` with the miners drawing ``miner_mw`` [MW] (net of
        renewables, export clipped at the limit as in ``sim.engine.site_flows``)."""
        other = (np.zeros(len(miner_mw)) if self.other_import_mw is None
                 else self.other_import_mw[ticks])
        return np.maximum(other + np.asarray(miner_mw, dtype=float), -self.export_limit_mw)

    def import_mw(self, tick: int, miner_mw: float) -> float:
        """Campus import at ``tick`` with the miners drawing ``miner_mw`` [MW]."""
        return float(self.imports_mw(slice(tick, tick + 1), np.array([miner_mw]))[0])

    def _dr_like_days(self, ev: ProgramEvent, start: int, miner_mw: np.ndarray) -> None:
        """Cap a DR event by a like-days baseline over the import of ticks [0, start)."""
        base = baseline_import_mw(ev.baseline_method, self.index[:start],
                                  self.imports_mw(slice(0, start), miner_mw[:start]),
                                  self.index[ev.start_tick:ev.end_tick], tz=self.tz,
                                  exclude_dates=dr_event_dates(self.events, self.index,
                                                               self.tz, ev))
        before = self.import_mw(max(start - 1, 0), ev.reference_mw)
        caps = [dr_cap(replace(ev.dr, baseline_mw=float(b)), before, ev.reference_mw)
                for b in base]
        ev.baseline_series_mw = base
        ev.reduction_series_mw = np.array([c.reduction_mw for c in caps])
        ev.baseline_import_mw = float(base.mean())
        ev.commit_mw = float(ev.reduction_series_mw.mean())
        cap = np.array([c.cap_mw for c in caps])
        sl = slice(ev.start_tick, ev.end_tick)
        self.cap_mw[sl] = np.minimum(self.cap_mw[sl], cap[:len(self.cap_mw[sl])])
        ev.cap_mw = float(cap.min())

    @property
    def breaks(self) -> list[int]:
        return sorted({e.start_tick for e in self.events if e.needs_break and e.start_tick > 0})

    def on_chunk(self, start: int, miner_mw: np.ndarray) -> None:
        """Engine callback before ticks [start, ...) run: ``miner_mw[:start]`` is known."""
        for ev in self.events:
            if ev.start_tick != start or not ev.needs_break:
                continue
            # last measured miner power; at tick 0 (nothing measured) what the miners could draw
            ref = float(miner_mw[start - 1]) if start > 0 else float(self.max_draw_mw[0])
            ev.reference_mw = ref
            if ev.dr is not None and ev.baseline_method not in ("stated",
                                                                 "meter_before_event"):
                self._dr_like_days(ev, start, miner_mw)
            elif ev.dr is not None:  # the one meaning of DR (programs/dr.py)
                c = dr_cap(ev.dr, self.import_mw(max(start - 1, 0), ref), ref)
                ev.baseline_import_mw, ev.commit_mw = c.baseline_import_mw, c.reduction_mw
                sl = slice(ev.start_tick, ev.end_tick)
                self.cap_mw[sl] = np.minimum(self.cap_mw[sl], c.cap_mw)
                ev.cap_mw = c.cap_mw
            elif np.isnan(ev.fixed_cap_mw):
                cap = deployment_cap_mw(ref, ev.commit_mw)
                sl = slice(ev.start_tick, ev.end_tick)
                self.cap_mw[sl] = np.minimum(self.cap_mw[sl], cap)
                ev.cap_mw = cap
            else:
                ev.cap_mw = ev.fixed_cap_mw


def dr_event_dates(events: list[ProgramEvent], index: pd.DatetimeIndex, tz: str,
                   ev: ProgramEvent) -> list:
    """Local dates of the opted-in DR events before ``ev``: not like days (ERCOT excludes
    earlier event days from a baseline)."""
    return sorted({index[e.start_tick].tz_convert(tz).date() for e in events
                   if e.dr is not None and e.opted_in and e.start_tick < ev.start_tick
                   and e.start_tick < len(index)})


def _tick(index: pd.DatetimeIndex, when: pd.Timestamp) -> int:
    """Index of the interval containing ``when`` (clipped to the run)."""
    return int(np.clip(index.searchsorted(when, side="right") - 1, 0, len(index)))


def deployment_ticks(index: pd.DatetimeIndex, at: pd.Timestamp, minutes: float) -> tuple[int, int] | None:
    """The intervals [a, b) a deployment instructed ``at`` (UTC) and held ``minutes`` caps:
    from the interval containing ``at``, held through the interval containing the end (rounded
    up: an obligation runs long); None when ``at`` lies outside the run."""
    a = _tick(index, at)
    if a >= len(index) or at < index[0]:
        return None
    return a, max(_window_ticks(index, at, at + pd.Timedelta(minutes=minutes))[1], a + 1)


def _window_ticks(index: pd.DatetimeIndex, start, end) -> tuple[int, int]:
    # from the interval containing the start (a cap starts early rather than late)
    a = max(int(index.searchsorted(pd.Timestamp(start).tz_convert("UTC"), side="right")) - 1, 0)
    b = int(index.searchsorted(pd.Timestamp(end).tz_convert("UTC"), side="left"))
    return a, b


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous True runs as (start, end exclusive)."""
    m = np.concatenate(([False], mask.astype(bool), [False]))
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(d[0::2].tolist(), d[1::2].tolist(), strict=True))


def build_plan(scenario: Scenario, inputs: SiteInputs, config: ControllerConfig,
               base_dir: Path | None = None) -> ProgramPlan:
    """Caps, floors and events for the Ballast run of a scenario with ``programs:``."""
    progs: Programs = scenario.programs or Programs()
    index = inputs.index
    n = len(index)
    g = config.groups
    sleep_floor, fleet_run, step_mw = fleet_mw(g)
    fixed: dict[str, np.ndarray] = {}
    events: list[ProgramEvent] = []

    if progs.emergency is not None:
        cap = np.full(n, np.inf)
        for w in progs.emergency.windows:
            a, b = _window_ticks(index, w.start, w.end)
            level_cap = eea_cap_mw(w.level, progs.emergency.curtail_at_level)
            opted = bool(np.isfinite(level_cap))
            cap[a:b] = np.minimum(cap[a:b], level_cap)
            events.append(ProgramEvent("emergency", f"eea{w.level}", pd.Timestamp(w.start),
                                       a, b, fixed_cap_mw=0.0, opted_in=opted,
                                       reason="" if opted else "below curtail_at_level"))
        fixed["emergency"] = cap

    fourcp_alert = fourcp_peaks = fourcp_hourly = None
    if progs.coincident_peak is not None:
        cp = progs.coincident_peak
        load = read_series(cp.load_source, cp.load_column, base_dir=base_dir, minimum=0.0)
        tz = scenario.site.timezone
        fourcp_hourly = fourcp.fourcp_alert_hourly(
            load, cp.months, tz, cp.window_start_hour_local, cp.window_end_hour_local,
            cp.threshold_share, cp.prior_year_floor_share)
        local = index.tz_convert(tz)
        needed = index[np.isin(local.month, cp.months)]
        if len(needed) and (needed[0] < load.index[0] + pd.Timedelta("2h")
                            or needed[-1] >= load.index[-1] + pd.Timedelta("1h")):
            raise DataError(f"programs.coincident_peak.load_source ({cp.load_source})",
                            f"covers {load.index[0]} to {load.index[-1]}, but the run has 4CP "
                            f"months from {needed[0]} to {needed[-1]}")
        fourcp_alert = fourcp.alert_on_index(fourcp_hourly["alert"], index)
        fourcp_peaks = find_monthly_peaks(load, cp.months, tz)
        cap = fourcp_cap_mw(fourcp_alert, cp.curtail_to_mw)
        fixed["coincident_peak"] = cap
        for a, b in _runs(fourcp_alert):
            events.append(ProgramEvent("coincident_peak", "4cp_alert", index[a], a, b,
                                       fixed_cap_mw=cp.curtail_to_mw))

    dr_mask = np.zeros(n, dtype=bool)
    if progs.demand_response is not None:
        dr = progs.demand_response
        for ev in dr.events:
            a, b = _window_ticks(index, ev.start, ev.end)
            signal = pd.Timestamp(ev.start) - pd.Timedelta(minutes=ev.notice_minutes)
            reason = ""
            if ev.notice_minutes < dr.min_notice_minutes:
                reason = f"notice {ev.notice_minutes:g} min < policy {dr.min_notice_minutes:g}"
            elif (dr.max_reduction_mw is not None and ev.target_mw is not None
                  and ev.target_mw > dr.max_reduction_mw):
                reason = f"asks {ev.target_mw:g} MW > policy {dr.max_reduction_mw:g} MW"
            pe = ProgramEvent("demand_response", f"dr_event:{ev.name}", signal, a, b,
                              opted_in=not reason, reason=reason, dr=ev.request(),
                              baseline_method="stated" if ev.baseline_mw is not None
                              else dr.baseline_method)
            if ev.target_mw is not None:
                pe.commit_mw = ev.target_mw
            events.append(pe)
            if not reason:
                dr_mask[a:b] = True

    combined_fixed = np.full(n, np.inf)
    for cap in fixed.values():
        combined_fixed = np.minimum(combined_fixed, cap)

    offers = progs.reserve_offers_mw()
    headroom = reserve_headroom_mw(inputs.frame["ai_load_mw"].to_numpy(), index,
                                   config.import_limit_mw, config.import_margin_mw, fleet_run,
                                   sleep_floor, combined_fixed, step_mw)
    # the most the miners could draw: the headroom's sum before sleep power and the step
    max_draw = (miner_headroom_mw(inputs.frame["ai_load_mw"].to_numpy(),
                                  config.import_limit_mw, config.import_margin_mw, fleet_run,
                                  0.0, combined_fixed, 0.0)).clip(sleep_floor)
    headroom[dr_mask] = 0.0  # no reserve sold while a DR event holds the miners down
    if progs.reserve_only_when_economic and len(g.names):
        # the price known at the tick (markets.price.decision_delay, inputs/availability.py)
        headroom[reserve_uneconomic(inputs.frame["decision_price_usd_per_mwh"].to_numpy(),
                                    inputs.frame["hashprice_usd_per_ph_day"].to_numpy(),
                                    float(g.breakeven_per_hashprice.max()))] = 0.0
    sold = {k: hold_consistent(v) for k, v in sell_reserves(offers, headroom).items()}
    # the floor at t also covers what is sold for t+1, so a trip in t+1 finds it running at t
    floor_parts = {k: np.maximum(v, np.concatenate((v[1:], [0.0]))) for k, v in sold.items()}

    def deploy(name: str, kind: str, at: pd.Timestamp, minutes: float, response_min: float,
               reason_if_none: str = "") -> None:
        ticks = deployment_ticks(index, at, minutes)
        if ticks is None:
            return
        a, b = ticks
        commit = float(sold[name][a])
        pe = ProgramEvent(name, kind, at, a, b, commit_mw=commit, response_minutes=response_min)
        if commit <= 0:
            pe.opted_in = False
            pe.reason = reason_if_none or ("no reserve sold in this interval (no headroom, "
                                            "or price above breakeven)")
        else:
            floor_parts[name][a:b] = 0.0  # the deployed reserve no longer needs its floor
        events.append(pe)

    traces: list[tuple] = []
    if progs.responsive_reserve is not None:
        rrs = progs.responsive_reserve
        for fe in rrs.frequency_events:
            t_s, f_hz = (load_frequency_shape(fe.shape) if fe.shape is not None
                         else read_frequency_event(fe.source, base_dir))
            trip = ufr_trip_time_s(t_s, f_hz, rrs.trip_hz, rrs.relay_delay_s)
            at = pd.Timestamp(fe.at).tz_convert("UTC")
            traces.append((fe.label, at, t_s, f_hz, trip))
            if np.isnan(trip):
                a = _tick(index, at)
                events.append(ProgramEvent("responsive_reserve", "frequency_event", at, a, a,
                                           opted_in=False,
                                           reason=f"{fe.label}: nadir {f_hz.min():.2f} Hz, "
                                           f"no trip (pickup {rrs.trip_hz} Hz)"))
                continue
            deploy("responsive_reserve", f"ufr_trip:{fe.label}", at + pd.Timedelta(seconds=trip),
                   rrs.hold_minutes, trip / 60.0)
    for name in ("ecrs", "ers", "non_spin"):
        prog = getattr(progs, name)
        if prog is None:
            continue
        for d in prog.deployments:
            deploy(name, "deployment", pd.Timestamp(d.at).tz_convert("UTC"), d.duration_minutes,
                   prog.response_minutes)

    total_sold = np.zeros(n)
    for v in floor_parts.values():
        total_sold += v
    floor = reserve_floor_mw(total_sold, sleep_floor, step_mw)

    tz = scenario.site.timezone
    for i, pe in enumerate(e for e in events if e.program == "demand_response"):
        if pe.needs_break and pe.baseline_method not in ("stated", "meter_before_event"):
            # the history the baseline will read: the run's ticks before the event (values
            # come during the run; which days exist is known now)
            try:
                baseline_import_mw(pe.baseline_method, index[:pe.start_tick],
                                   np.zeros(pe.start_tick), index[pe.start_tick:pe.end_tick],
                                   tz=tz, exclude_dates=dr_event_dates(events, index, tz, pe))
            except BaselineError as e:
                raise DataError(f"programs.demand_response.events[{i}] ({pe.kind})",
                                f"baseline_method {pe.baseline_method}: {e}") from None

    plan = ProgramPlan(index=index, cap_mw=combined_fixed.copy(), floor_mw=floor,
                       fixed_caps_mw=fixed, reserve_sold_mw=sold, headroom_mw=headroom,
                       sleep_floor_mw=sleep_floor, max_draw_mw=max_draw,
                       events=sorted(events, key=lambda e: e.start_tick),
                       fourcp_alert=fourcp_alert, fourcp_peaks=fourcp_peaks,
                       fourcp_hourly=fourcp_hourly, frequency_traces=traces,
                       base_dir=base_dir,
                       other_import_mw=(inputs.frame["ai_load_mw"].to_numpy()
                                        - inputs.frame["renewable_mw"].to_numpy()),
                       export_limit_mw=config.export_limit_mw, tz=tz)
    return plan
