"""OpenADR 2.0b events as Ballast commands: opt in or out by site policy and turn each event
interval into a DR request (a reduction of campus import below the import metered at the
signal, the one meaning of DR in ``programs/dr.py``) and the cap on miner power that delivers it.

``event_to_commands`` is a pure function of the event, the policy, the site's economics, the
miner power and import now and the clock. Signals understood (OpenADR 2.0b):
- SIMPLE / level 0-3: level 0 = normal; levels 1-3 ask a policy share of the miner power [MW];
- ELECTRICITY_PRICE / price: the controller's economics per group (``openadr.economics``): the
  groups whose breakeven is below the price sleep, the others keep running; the cap is the
  power of that fleet. Without the site's groups and hashprice the VEN opts out. An explicit
  override (``VenPolicy.price_all_off_override_usd_per_mwh``) turns every miner off at or above
  a fixed price, whatever the breakevens;
- LOAD_DISPATCH / setpoint (campus import [MW] at most: the import at the signal minus the
  setpoint) or delta (negative = reduce campus import by |value|).

An event in a market context the policy maps to a reserve (``reserve_market_contexts``) is a
deployment instruction for it instead: opted in, one command per interval, no DR request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from ballast.programs.dr import DrRequest, dr_cap
from ballast.programs.openadr.economics import GroupVerdict, SiteEconomics, price_decision

SUPPORTED = {
    ("SIMPLE", "level"),
    ("ELECTRICITY_PRICE", "price"),
    ("LOAD_DISPATCH", "setpoint"),
    ("LOAD_DISPATCH", "delta"),
}
SI_SCALE = {"none": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}


@dataclass(frozen=True)
class VenPolicy:
    """The site's rules for answering OpenADR events."""

    accept_signals: frozenset[str] = frozenset({"SIMPLE", "ELECTRICITY_PRICE", "LOAD_DISPATCH"})
    min_notice_s: float = 0.0  # decline events announced with less notice [s]
    max_reduction_mw: float | None = None  # decline events asking for more [MW]
    simple_level_share: tuple[float, float, float, float] = (0.0, 0.5, 1.0, 1.0)  # per level
    # explicit override, off by default: every miner off at or above this price [USD/MWh],
    # whatever the breakevens (else each group judges the price by its own breakeven)
    price_all_off_override_usd_per_mwh: float | None = None
    price_payload_to_usd_per_mwh: float = 1000.0  # payload unit USD/kWh (OpenADR convention)
    dispatch_payload_to_mw: float = 1e-3  # payload in kW unless the signal says otherwise
    # OpenADR market contexts that carry reserve deployment instructions -> the reserve they
    # deploy (responsive_reserve, ecrs or ers): the site drops the MW it sold for that reserve
    # over each interval (live: ``live.grid_programs``), whatever the signal's payload
    reserve_market_contexts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DrCommand:
    """One event interval: the DR ``request`` (None: no reduction asked) and, for the
    controller, miner power at most ``cap_mw`` (``programs.dr.dr_cap`` at the signal)."""

    event_id: str
    signal: str  # e.g. SIMPLE/level
    signal_time_utc: datetime  # when the VEN received it
    start_utc: datetime
    end_utc: datetime
    cap_mw: float  # inf = no cap in this interval
    payload: float
    reduction_mw: float = 0.0  # campus import reduction asked [MW]
    request: DrRequest | None = None
    groups: tuple[GroupVerdict, ...] = ()  # price events: each group's verdict and why

    def to_dr_event(self) -> dict | None:
        """The command as a scenario ``programs.demand_response.events`` entry, to replay a
        season of VTN events in a backtest (None when it asks for no reduction)."""
        if self.request is None:
            return None
        notice = (self.start_utc - self.signal_time_utc).total_seconds() / 60.0
        r = self.request
        ask = (
            {"target_mw": round(r.reduction_mw, 6)}
            if r.reduction_mw is not None
            else {"reduction_pct": 100.0 * r.reduction_share}
        )
        return {
            "name": f"openadr:{self.event_id}:{self.signal}",
            "start": self.start_utc.isoformat(),
            "end": self.end_utc.isoformat(),
            **ask,
            "notice_minutes": max(notice, 0.0),
        }


@dataclass(frozen=True)
class EventDecision:
    event_id: str
    opt: str  # optIn / optOut
    reason: str
    commands: tuple[DrCommand, ...] = ()
    deployment: str | None = None  # the reserve a deployment instruction deploys


def _power_factor_mw(signal: dict, policy: VenPolicy) -> float:
    meas = signal.get("measurement")
    if meas:
        unit = meas.get("unit") if isinstance(meas, dict) else getattr(meas, "unit", None)
        scale = meas.get("scale") if isinstance(meas, dict) else getattr(meas, "scale", None)
        if unit == "W":
            return SI_SCALE.get(scale or "none", 1.0) / 1e6
    return policy.dispatch_payload_to_mw


def _signals(event: dict) -> list[dict]:
    sig = event["event_signals"]
    return sig if isinstance(sig, list) else sig["event_signals"]


def _request(
    name: str,
    kind: str,
    value: float,
    sig: dict,
    policy: VenPolicy,
    miner_mw_now: float,
    import_mw_now: float,
) -> DrRequest | None:
    """One interval's payload as a reduction of campus import (None: nothing asked)."""
    if name == "SIMPLE":
        level = int(np.clip(round(value), 0, 3))
        mw = miner_mw_now * policy.simple_level_share[level]
    elif kind == "setpoint":
        mw = import_mw_now - value * _power_factor_mw(sig, policy)
    else:  # LOAD_DISPATCH delta: negative = reduce
        mw = -value * _power_factor_mw(sig, policy)
    return DrRequest(reduction_mw=mw) if mw > 0 else None


def _price_cap(
    price: float, policy: VenPolicy, economics: SiteEconomics | None, miner_mw_now: float
) -> tuple[float, DrRequest | None, tuple[GroupVerdict, ...]]:
    """A price interval: the miner cap [MW], the reduction it asks of the miner power now
    (None: the miners already draw no more) and the verdict per group."""
    override = policy.price_all_off_override_usd_per_mwh
    if override is not None and price >= override:
        why = f"price {price:.2f} >= override {override:g} USD/MWh: asleep, whatever the breakeven"
        verdicts = (
            ()
            if economics is None
            else tuple(replace(v, curtail=True, reason=why) for v in price_decision(price, economics).groups)
        )
        return 0.0, (DrRequest(reduction_mw=miner_mw_now) if miner_mw_now > 0 else None), verdicts
    assert economics is not None  # checked by the caller
    d = price_decision(price, economics)
    ask = miner_mw_now - d.cap_mw
    return d.cap_mw, (DrRequest(reduction_mw=ask) if ask > 0 else None), d.groups


def event_to_commands(
    event: dict,
    policy: VenPolicy,
    miner_mw_now: float,
    now_utc: datetime,
    accepted_before: bool = False,
    *,
    import_mw_now: float,
    economics: SiteEconomics | None = None,
) -> EventDecision:
    """Opt in or out of an openleadr event dict and convert its intervals to DR requests and
    miner caps [MW], from the miner power and campus import metered now; price intervals are
    judged with the site's ``economics`` (groups and hashprice).

    ``accepted_before``: an update of an event the site already opted into is not re-judged on
    notice (it may be running already)."""
    eid = event["event_descriptor"]["event_id"]
    status = event["event_descriptor"].get("event_status")
    if status == "cancelled":
        return EventDecision(eid, "optIn", "cancelled by the VTN")
    commands: list[DrCommand] = []
    start0 = event["active_period"]["dtstart"]
    notice_s = (start0 - now_utc).total_seconds()
    if notice_s < policy.min_notice_s and not accepted_before:
        return EventDecision(eid, "optOut", f"notice {notice_s:.0f} s < policy {policy.min_notice_s:.0f} s")
    reserve = policy.reserve_market_contexts.get(event["event_descriptor"].get("market_context"))
    if reserve is not None:  # a deployment: the MW sold are the reduction, not the payload
        ivs = [iv for sig in _signals(event) for iv in sig["intervals"]]
        cmds = tuple(DrCommand(eid, f"deployment:{reserve}", now_utc, iv["dtstart"],
                               iv["dtstart"] + iv["duration"], np.inf, float(iv["signal_payload"]))
                     for iv in ivs)
        return EventDecision(eid, "optIn", f"{reserve} deployment", cmds, deployment=reserve)
    for sig in _signals(event):
        name, kind = sig["signal_name"].upper(), sig["signal_type"]
        if name not in policy.accept_signals or (name, kind) not in SUPPORTED:
            return EventDecision(eid, "optOut", f"signal {name}/{kind} not offered by this site")
        if (
            name == "ELECTRICITY_PRICE"
            and economics is None
            and policy.price_all_off_override_usd_per_mwh is None
        ):
            return EventDecision(
                eid,
                "optOut",
                "price event: the site's miner groups and hashprice are not known "
                "(give a scenario and a hashprice)",
            )
        for iv in sig["intervals"]:
            start = iv["dtstart"]
            end = start + iv["duration"]
            value = float(iv["signal_payload"])
            if name == "ELECTRICITY_PRICE":
                price = value * policy.price_payload_to_usd_per_mwh
                cap, req, verdicts = _price_cap(price, policy, economics, miner_mw_now)
                if (
                    req is not None
                    and policy.max_reduction_mw is not None
                    and req.reduction_mw > policy.max_reduction_mw + 1e-9
                ):
                    return EventDecision(
                        eid,
                        "optOut",
                        f"asks {req.reduction_mw:.1f} MW > policy {policy.max_reduction_mw:.1f} MW",
                    )
                commands.append(
                    DrCommand(
                        eid,
                        f"{name}/{kind}",
                        now_utc,
                        start,
                        end,
                        cap,
                        value,
                        req.reduction_mw if req else 0.0,
                        req,
                        verdicts,
                    )
                )
                continue
            req = _request(name, kind, value, sig, policy, miner_mw_now, import_mw_now)
            if req is None:
                commands.append(DrCommand(eid, f"{name}/{kind}", now_utc, start, end, np.inf, value))
                continue
            c = dr_cap(req, import_mw_now, miner_mw_now)
            if policy.max_reduction_mw is not None and c.reduction_mw > policy.max_reduction_mw + 1e-9:
                return EventDecision(
                    eid, "optOut", f"asks {c.reduction_mw:.1f} MW > policy {policy.max_reduction_mw:.1f} MW"
                )
            commands.append(
                DrCommand(eid, f"{name}/{kind}", now_utc, start, end, c.cap_mw, value, c.reduction_mw, req)
            )
    return EventDecision(eid, "optIn", "", tuple(commands))


def cap_at(commands: list[DrCommand], when_utc: datetime) -> float:
    """The controller's ``cap_mw`` at a moment: the lowest cap of the commands in force [MW]."""
    caps = [c.cap_mw for c in commands if c.start_utc <= when_utc < c.end_utc]
    return min(caps) if caps else float("inf")
