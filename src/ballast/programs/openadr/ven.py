"""OpenADR 2.0b VEN on openleadr: registers with a VTN, receives events, answers them by site
policy (``openadr.events``: DR requests and miner caps), and reports telemetry (site import and
miner power) back to the VTN. ``forward_to_runtime`` hands the commands to the live runtime.

Telemetry comes from ``telemetry()`` (a dict, or a coroutine: the live site's API through
``openadr.site.LiveSiteReader``). When it gives None the VEN opts out of the event (it cannot
size a reduction; a cancellation needs no reading) and sends no ``oadrUpdateReport`` for that
sample. OpenADR 2.0b could mark a payload "No Quality - No Value" (the optional
``oadrDataQuality`` of ``oadrReportPayload``), but openleadr 0.5's ``ReportPayload`` cannot carry
it, and every payload must hold a value; so nothing is sent rather than a stale or invented one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial

import numpy as np

from ballast.control.controller import GroupParams
from ballast.programs.openadr.economics import SiteEconomics
from ballast.programs.openadr.events import (
    SUPPORTED,
    DrCommand,
    EventDecision,
    VenPolicy,
    cap_at,
    event_to_commands,
)

__all__ = [
    "SUPPORTED",
    "BallastVen",
    "DrCommand",
    "EventDecision",
    "VenPolicy",
    "VenRegistrationError",
    "cap_at",
    "event_to_commands",
    "forward_to_runtime",
]

log = logging.getLogger(__name__)


def forward_to_runtime(runtime) -> Callable[[EventDecision], None]:
    """An ``on_decision`` callback that hands each opted-in command's DR request to the live
    runtime as a DR event (``runtime.add_dr_event``): a reduction of campus import in MW (a price
    event: the miner power now down to its cap), or a reserve deployment instruction to it as a
    deployment (``runtime.add_program_window``). An update or cancellation of an event first
    cancels the DR events and deployments it created. A command the runtime refuses (dates outside
    the one-year window around now) is logged as an error and not forwarded."""
    created: dict[str, list[tuple[str, str]]] = {}

    def forward(decision: EventDecision) -> None:
        for kind, made_id in created.pop(decision.event_id, []):
            if kind == "dr":
                runtime.cancel_dr_event(made_id)
            else:
                runtime.cancel_program_window(made_id, f"openadr:{decision.event_id}")
        if decision.opt != "optIn":
            return
        ids: list[tuple[str, str]] = []
        for cmd in decision.commands:
            if decision.deployment is not None:  # a reserve deployment (live.grid_programs)
                start_s = cmd.start_utc.timestamp()
                try:
                    w = runtime.add_program_window(
                        "deployment", start_s, None, f"openadr:{cmd.event_id}",
                        decision.deployment, (cmd.end_utc.timestamp() - start_s) / 60.0)
                except ValueError as e:
                    log.error("OpenADR event %s (%s): refused by the runtime: %s", cmd.event_id,
                              cmd.signal, e)
                    continue
                ids.append(("deployment", w.id))
                continue
            if cmd.request is None:
                continue
            try:  # the runtime bounds every event's dates (live.obligations.check_dr_window)
                ev = runtime.add_dr_event(
                    cmd.start_utc.timestamp(),
                    cmd.end_utc.timestamp(),
                    cmd.request.reduction_mw,
                    cmd.request.reduction_share,
                    f"openadr:{cmd.event_id}",
                )
            except ValueError as e:
                log.error("OpenADR event %s (%s): refused by the runtime: %s", cmd.event_id, cmd.signal, e)
                continue
            ids.append(("dr", ev.id))
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
        if line and not line[0].startswith(
            (
                "No RegistrationID received",
                "No registration ID",
                "No venID received",  # a refusal: said below
                "Could not connect to server with URL",
            )
        ):
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
    # hands each decision to the site before the VTN is answered (``site.SiteDrForwarder``);
    # a reason back (the site did not take an opted-in event) turns the answer into optOut
    to_site: Callable[[EventDecision], Awaitable[str | None]] | None = None
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
                    log.warning("OpenADR report %s: no site reading, no report sent", report_request_id)
                    return
                await super().update_report(report_request_id)

        client = Client(
            ven_name=self.ven_name,
            vtn_url=self.vtn_url,
            show_fingerprint=False,
            cert=self.cert,
            key=self.key,
            ca_file=self.ca_file,
            vtn_fingerprint=self.vtn_fingerprint,
            passphrase=self.passphrase,
        )
        client.add_handler("on_event", self._on_event)
        client.add_handler("on_update_event", self._on_event)
        period = timedelta(seconds=self.report_period_s)
        for resource, key in (("site", "site_import_mw"), ("miners", "miner_mw")):
            client.add_report(
                callback=partial(self._report_value, key),
                resource_id=resource,
                measurement="real_power",
                unit="W",
                scale="M",
                sampling_rate=period,
                report_duration=timedelta(hours=1),
            )
        return client

    async def read_telemetry(self) -> Telemetry:
        """One reading of the site (None: not available now)."""
        got = self.telemetry()
        return await got if inspect.isawaitable(got) else got

    def _report_value(self, key: str) -> list[tuple[datetime, float]]:
        """The value of this sample's reading, stamped with the site's tick time when it gives
        one; none when the site did not give the value."""
        s = self._sample or {}
        when = datetime.fromtimestamp(s["time_s"], UTC) if "time_s" in s else self.clock()
        return [(when, float(s[key]))] if key in s else []

    def _economics(self, reading: dict[str, float]) -> SiteEconomics | None:
        hp = self.hashprice_usd_per_ph_day
        hp = reading.get("hashprice_usd_per_ph_day") if hp is None else hp
        return None if self.groups is None or hp is None else SiteEconomics(self.groups, hp)

    async def _on_event(self, event: dict) -> str:
        eid = event["event_descriptor"]["event_id"]
        before = any(d.event_id == eid and d.opt == "optIn" for d in self.decisions)
        cancelled = event["event_descriptor"].get("event_status") == "cancelled"
        reading = {} if cancelled else await self.read_telemetry()  # a cancel needs none
        if not cancelled and (reading is None or not {"site_import_mw", "miner_mw"} <= reading.keys()):
            decision = EventDecision(
                eid,
                "optOut",
                "the site's import and miner power cannot be read now: no reduction can be sized",
            )
        else:
            reading = reading or {}
            decision = event_to_commands(
                event,
                self.policy,
                reading.get("miner_mw", np.nan),
                self.clock(),
                accepted_before=before,
                import_mw_now=reading.get("site_import_mw", np.nan),
                economics=self._economics(reading),
            )
        if self.to_site is not None:
            refused = await self.to_site(decision)
            if refused is not None and decision.opt == "optIn":
                log.error("OpenADR event %s: the site did not take it: %s", eid, refused)
                cancel = replace(
                    decision, opt="optOut", reason=f"the site refused it: {refused}", commands=()
                )
                await self.to_site(cancel)  # withdraw the intervals it did take
                decision = cancel
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
            why = (
                "; ".join(dict.fromkeys(capture.lines))
                or "the VTN refused the registration (it answered without a registration ID)"
            )
        if why is not None:
            with contextlib.suppress(Exception):  # close what openleadr opened
                await self.client.stop()
            self.client = None
            raise VenRegistrationError(f"{self.vtn_url}: not registered: {why}")

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.stop()
