"""OpenADR 2.0b VEN on openleadr: registers with a VTN, receives events, opts in or out by site
policy, turns each event interval into a DR request (a reduction of campus import below the
import metered at the signal, the one meaning of DR in ``programs/dr.py``) and the cap on miner
power that delivers it, and reports telemetry (site import and miner power) back to the VTN.

The conversion (``event_to_commands``) is a pure function of the event, the policy, the site's
economics, the miner power and import now and the clock, so it is tested alone; ``BallastVen``
wires it into openleadr's client. Signals understood (OpenADR 2.0b), each turned into a
reduction of campus import:
- SIMPLE / level 0-3: level 0 = normal; levels 1-3 ask a policy share of the miner power [MW];
- ELECTRICITY_PRICE / price: the controller's economics per group (``openadr.economics``): the
  groups whose breakeven is below the price sleep, the others keep running; the cap is the
  power of that fleet. Without the site's groups and hashprice the VEN opts out. An explicit
  override (``VenPolicy.price_all_off_override_usd_per_mwh``) turns every miner off at or above
  a fixed price, whatever the breakevens;
- LOAD_DISPATCH / setpoint (campus import [MW] at most: the import at the signal minus the
  setpoint) or delta (negative = reduce campus import by |value|).

Telemetry comes from ``telemetry()`` (a dict, or a coroutine: the live site's API through
``openadr.site.LiveSiteReader``). When it gives None the VEN opts out of the event (it cannot
size a reduction) and sends no report for that sample: openleadr's report payload has no
"value unknown" (OpenADR's ``oadrDataQuality``), and a report is only ever sent with a value,
so nothing is sent rather than a stale or invented one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import numpy as np

from ballast.control.controller import GroupParams
from ballast.programs.dr import DrRequest, dr_cap
from ballast.programs.openadr.economics import GroupVerdict, SiteEconomics, price_decision

log = logging.getLogger(__name__)

SUPPORTED = {("SIMPLE", "level"), ("ELECTRICITY_PRICE", "price"), ("LOAD_DISPATCH", "setpoint"),
             ("LOAD_DISPATCH", "delta")}
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
        ask = ({"target_mw": round(r.reduction_mw, 6)} if r.reduction_mw is not None
               else {"reduction_pct": 100.0 * r.reduction_share})
        return {"name": f"openadr:{self.event_id}:{self.signal}",
                "start": self.start_utc.isoformat(), "end": self.end_utc.isoformat(),
                **ask, "notice_minutes": max(notice, 0.0)}


@dataclass(frozen=True)
class EventDecision:
    event_id: str
    opt: str  # optIn / optOut
    reason: str
    commands: tuple[DrCommand, ...] = ()


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


def _request(name: str, kind: str, value: float, sig: dict, policy: VenPolicy,
             miner_mw_now: float, import_mw_now: float) -> DrRequest | None:
    """One interval's payload as a reduction of campus import (None: nothing asked)."""
    if name == "SIMPLE":
        level = int(np.clip(round(value), 0, 3))
        mw = miner_mw_now * policy.simple_level_share[level]
    elif kind == "setpoint":
        mw = import_mw_now - value * _power_factor_mw(sig, policy)
    else:  # LOAD_DISPATCH delta: negative = reduce
        mw = -value * _power_factor_mw(sig, policy)
    return DrRequest(reduction_mw=mw) if mw > 0 else None


def _price_cap(price: float, policy: VenPolicy, economics: SiteEconomics | None,
               miner_mw_now: float) -> tuple[float, DrRequest | None, tuple[GroupVerdict, ...]]:
    """A price interval: the miner cap [MW], the reduction it asks of the miner power now
    (None: the miners already draw no more) and the verdict per group."""
    override = policy.price_all_off_override_usd_per_mwh
    if override is not None and price >= override:
        return 0.0, (DrRequest(reduction_mw=miner_mw_now) if miner_mw_now > 0 else None), ()
    assert economics is not None  # checked by the caller
    d = price_decision(price, economics)
    ask = miner_mw_now - d.cap_mw
    return d.cap_mw, (DrRequest(reduction_mw=ask) if ask > 0 else None), d.groups


def event_to_commands(event: dict, policy: VenPolicy, miner_mw_now: float,
                      now_utc: datetime, accepted_before: bool = False, *,
                      import_mw_now: float,
                      economics: SiteEconomics | None = None) -> EventDecision:
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
        return EventDecision(eid, "optOut", f"notice {notice_s:.0f} s < policy "
                             f"{policy.min_notice_s:.0f} s")
    for sig in _signals(event):
        name, kind = sig["signal_name"].upper(), sig["signal_type"]
        if name not in policy.accept_signals or (name, kind) not in SUPPORTED:
            return EventDecision(eid, "optOut", f"signal {name}/{kind} not offered by this site")
        if (name == "ELECTRICITY_PRICE" and economics is None
                and policy.price_all_off_override_usd_per_mwh is None):
            return EventDecision(eid, "optOut", "price event: the site's miner groups and "
                                 "hashprice are not known (give a scenario and a hashprice)")
        for iv in sig["intervals"]:
            start = iv["dtstart"]
            end = start + iv["duration"]
            value = float(iv["signal_payload"])
            if name == "ELECTRICITY_PRICE":
                price = value * policy.price_payload_to_usd_per_mwh
                cap, req, verdicts = _price_cap(price, policy, economics, miner_mw_now)
                if req is not None and policy.max_reduction_mw is not None \
                        and req.reduction_mw > policy.max_reduction_mw + 1e-9:
                    return EventDecision(eid, "optOut", f"asks {req.reduction_mw:.1f} MW > "
                                         f"policy {policy.max_reduction_mw:.1f} MW")
                commands.append(DrCommand(eid, f"{name}/{kind}", now_utc, start, end, cap, value,
                                          req.reduction_mw if req else 0.0, req, verdicts))
                continue
            req = _request(name, kind, value, sig, policy, miner_mw_now, import_mw_now)
            if req is None:
                commands.append(DrCommand(eid, f"{name}/{kind}", now_utc, start, end, np.inf,
                                          value))
                continue
            c = dr_cap(req, import_mw_now, miner_mw_now)
            if policy.max_reduction_mw is not None and c.reduction_mw > policy.max_reduction_mw + 1e-9:
                return EventDecision(eid, "optOut", f"asks {c.reduction_mw:.1f} MW > policy "
                                     f"{policy.max_reduction_mw:.1f} MW")
            commands.append(DrCommand(eid, f"{name}/{kind}", now_utc, start, end, c.cap_mw,
                                      value, c.reduction_mw, req))
    return EventDecision(eid, "optIn", "", tuple(commands))


def cap_at(commands: list[DrCommand], when_utc: datetime) -> float:
    """The controller's ``cap_mw`` at a moment: the lowest cap of the commands in force [MW]."""
    caps = [c.cap_mw for c in commands if c.start_utc <= when_utc < c.end_utc]
    return min(caps) if caps else float("inf")


def forward_to_runtime(runtime) -> Callable[[EventDecision], None]:
    """An ``on_decision`` callback that hands each opted-in command's DR request to the live
    runtime as a DR event (``runtime.add_dr_event``): a reduction of campus import in MW, or a
    share of it (share 1: all miners off). An update or cancellation of an
    event first cancels the DR events it created. A command the runtime refuses (dates outside
    the one-year window around now) is logged as an error and not forwarded."""
    created: dict[str, list[str]] = {}

    def forward(decision: EventDecision) -> None:
        for dr_id in created.pop(decision.event_id, []):
            runtime.cancel_dr_event(dr_id)
        if decision.opt != "optIn":
            return
        ids = []
        for cmd in decision.commands:
            if cmd.request is None:
                continue
            try:  # the runtime bounds every event's dates (live.obligations.check_dr_window)
                ev = runtime.add_dr_event(cmd.start_utc.timestamp(), cmd.end_utc.timestamp(),
                                          cmd.request.reduction_mw, cmd.request.reduction_share,
                                          f"openadr:{cmd.event_id}")
            except ValueError as e:
                log.error("OpenADR event %s (%s): refused by the runtime: %s", cmd.event_id,
                          cmd.signal, e)
                continue
            ids.append(ev.id)
        created[decision.event_id] = ids

    return forward


class VenRegistrationError(RuntimeError):
    """The VTN refused this VEN's registration or could not be reached."""


class _LogCapture(logging.Handler):
    """openleadr's warnings and errors while registering (it logs a failure and returns), kept
    to say in one line why the registration failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage().strip().splitlines()
        if line and not line[0].startswith(("No RegistrationID received", "No registration ID",
                                            "No venID received",  # a refusal: said below
                                            "Could not connect to server with URL")):
            self.lines.append(line[0][:300])


Telemetry = dict[str, float] | None


@dataclass
class BallastVen:
    """openleadr client wired to Ballast: ``telemetry()`` returns (or, as a coroutine, yields)
    {'site_import_mw': .., 'miner_mw': ..} and optionally 'hashprice_usd_per_ph_day' (the live
    runtime's meter, fleet and market), or None when the site cannot be read; ``on_command``
    receives each DrCommand (the runtime turns it into ``Snapshot.cap_mw``). Price events are
    judged with ``groups`` (``control.build_group_params``) at ``hashprice_usd_per_ph_day``,
    else at the hashprice the telemetry carries."""

    ven_name: str
    vtn_url: str
    policy: VenPolicy
    telemetry: Callable[[], Telemetry | Awaitable[Telemetry]]
    on_command: Callable[[DrCommand], None] | None = None
    on_decision: Callable[[EventDecision], None] | None = None  # every opt in/out, for the log
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    report_period_s: float = 10.0
    groups: GroupParams | None = None  # the site's miner groups, for price events
    hashprice_usd_per_ph_day: float | None = None  # None: the telemetry's hashprice
    register_timeout_s: float = 60.0  # give up registering after this long [s]
    # TLS and OpenADR message signing (production VTNs require them); paths to PEM files
    cert: str | None = None
    key: str | None = None
    ca_file: str | None = None
    vtn_fingerprint: str | None = None
    passphrase: str | None = None
    decisions: list[EventDecision] = field(default_factory=list)
    commands: list[DrCommand] = field(default_factory=list)
    reports_skipped: int = 0  # samples with no site reading: no report sent
    client: object = None
    _sample: Telemetry = None

    def _build(self):
        from openleadr import OpenADRClient

        ven = self

        class Client(OpenADRClient):
            async def update_report(self, report_request_id):
                """One site reading per sample for every value in the report; no reading: no
                report for this sample (never a stale or invented value)."""
                ven._sample = await ven.read_telemetry()
                if ven._sample is None:
                    ven.reports_skipped += 1
                    log.warning("OpenADR report %s: no site reading, no report sent",
                                report_request_id)
                    return
                await super().update_report(report_request_id)

        client = Client(ven_name=self.ven_name, vtn_url=self.vtn_url,
                        show_fingerprint=False, cert=self.cert, key=self.key,
                        ca_file=self.ca_file, vtn_fingerprint=self.vtn_fingerprint,
                        passphrase=self.passphrase)
        client.add_handler("on_event", self._on_event)
        client.add_handler("on_update_event", self._on_event)
        period = timedelta(seconds=self.report_period_s)
        for resource, key in (("site", "site_import_mw"), ("miners", "miner_mw")):
            client.add_report(callback=partial(self._report_value, key), resource_id=resource,
                              measurement="real_power", unit="W", scale="M",
                              sampling_rate=period, report_duration=timedelta(hours=1))
        return client

    async def read_telemetry(self) -> Telemetry:
        """One reading of the site (None: not available now)."""
        got = self.telemetry()
        return await got if inspect.isawaitable(got) else got

    def _report_value(self, key: str) -> list[tuple[datetime, float]]:
        """The value of this sample's reading; none when the site did not give it."""
        s = self._sample or {}
        return [(self.clock(), float(s[key]))] if key in s else []

    def _economics(self, reading: dict[str, float]) -> SiteEconomics | None:
        hp = self.hashprice_usd_per_ph_day
        hp = reading.get("hashprice_usd_per_ph_day") if hp is None else hp
        return None if self.groups is None or hp is None else SiteEconomics(self.groups, hp)

    async def _on_event(self, event: dict) -> str:
        eid = event["event_descriptor"]["event_id"]
        before = any(d.event_id == eid and d.opt == "optIn" for d in self.decisions)
        cancelled = event["event_descriptor"].get("event_status") == "cancelled"
        reading = {} if cancelled else await self.read_telemetry()  # a cancel needs none
        if not cancelled and (reading is None
                              or not {"site_import_mw", "miner_mw"} <= reading.keys()):
            decision = EventDecision(eid, "optOut", "the site's import and miner power cannot "
                                     "be read now: no reduction can be sized")
        else:
            reading = reading or {}
            decision = event_to_commands(event, self.policy, reading.get("miner_mw", np.nan),
                                         self.clock(), accepted_before=before,
                                         import_mw_now=reading.get("site_import_mw", np.nan),
                                         economics=self._economics(reading))
        self.decisions.append(decision)
        # an update replaces the event's earlier commands
        self.commands = [c for c in self.commands if c.event_id != decision.event_id]
        if decision.opt == "optIn":
            for cmd in decision.commands:
                self.commands.append(cmd)
                if self.on_command is not None:
                    self.on_command(cmd)
        log.info("OpenADR event %s: %s %s", decision.event_id, decision.opt, decision.reason)
        if self.on_decision is not None:
            self.on_decision(decision)
        return decision.opt

    def cap_mw(self, when_utc: datetime | None = None) -> float:
        return cap_at(self.commands, when_utc or self.clock())

    async def start(self) -> None:
        """Register with the VTN and start polling; ``VenRegistrationError`` (one line: why)
        if the VTN refuses, cannot be reached (refused connection, unknown host, TLS failure)
        or does not answer within ``register_timeout_s``."""
        self.client = self._build()
        capture = _LogCapture()
        olog = logging.getLogger("openleadr")
        olog.addHandler(capture)  # also keeps Python's last-resort handler off stderr
        why = None
        try:
            await asyncio.wait_for(self.client.run(), self.register_timeout_s)
        except TimeoutError:
            why = f"no registration within {self.register_timeout_s:g} s"
        except Exception as e:  # openleadr fails on some answers instead of logging them
            why = f"registration failed: {type(e).__name__}: {e}"
        finally:
            olog.removeHandler(capture)
        if why is None and not getattr(self.client, "registration_id", None):
            # openleadr logs the failure, stops and returns
            why = ("; ".join(dict.fromkeys(capture.lines))
                   or "the VTN refused the registration (it answered without a registration ID)")
        if why is not None:
            with contextlib.suppress(Exception):  # close what openleadr opened
                await self.client.stop()
            self.client = None
            raise VenRegistrationError(f"{self.vtn_url}: not registered: {why}")

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.stop()
