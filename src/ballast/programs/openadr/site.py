"""The live site as the VEN sees it: ``GET /api/v1/state`` of a running ``ballast serve`` (bearer
token, viewer role is enough), read over HTTP with aiohttp (openleadr's own HTTP client, so the
``openadr`` extra needs nothing more).

A reading is the runtime's latest tick: metered campus import, miner power and the hashprice
the runtime runs on. When the site cannot be read, or what it says is not a fresh meter
reading (no tick, ticks late or failing, meter stale, import unknown), ``read`` returns None
and logs why: the VEN then sends no report for that sample rather than a stale or invented
value. Ages are the site's own (``health.last_tick_age_s``, ``health.meter_age_s``, measured on
the runtime's monotonic clock), so no clock agreement between the two hosts is assumed.

``SiteDrForwarder`` is the other direction: each event the VEN opts in to is posted to the
site's ``POST /api/v1/dr-events`` (operator token) as one DR event per interval, so the runtime
acts on it; an update or a cancellation first deletes the DR events the event created
(``DELETE /api/v1/dr-events/{id}``). A DR event the site refuses makes the VEN opt out, saying
why, so the VTN is never told "yes" for a reduction the site will not make.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ballast.programs.openadr.events import EventDecision

log = logging.getLogger(__name__)

STATE_PATH = "/api/v1/state"
DR_PATH = "/api/v1/dr-events"
DEPLOY_PATH = "/api/v1/programs/deployments"  # reserve deployments (live.grid_programs)
WINDOWS_PATH = "/api/v1/programs/windows"
MAX_TOKEN_FILE_BYTES = 4096


class SiteTokenError(ValueError):
    """The token file cannot be used (names the file and what is wrong)."""


def read_token_file(path: str | Path) -> str:
    """The bearer token in ``path`` (one token, at most one trailing newline)."""
    p = Path(path)
    try:
        raw = p.read_bytes()[: MAX_TOKEN_FILE_BYTES + 1]
    except OSError as e:
        raise SiteTokenError(f"token file {p}: cannot read it: {e.strerror or e}") from None
    try:
        token = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise SiteTokenError(f"token file {p}: not UTF-8 text") from None
    if len(raw) > MAX_TOKEN_FILE_BYTES or not token or any(c.isspace() for c in token):
        raise SiteTokenError(
            f"token file {p}: must hold one token (no spaces, at most one "
            f"trailing newline, {MAX_TOKEN_FILE_BYTES} bytes at most)"
        )
    return token


def _finite(x: object) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) else None


def reading_from_state(doc: dict, max_age_s: float) -> tuple[dict[str, float] | None, str]:
    """The VEN's telemetry from a ``/api/v1/state`` document, or None and why not."""
    health = doc.get("health") or {}
    power = doc.get("power_mw") or {}
    if not health.get("ok", False):
        return None, f"the runtime is not healthy: {health.get('reason')}"
    if doc.get("safe_mode") and "watchdog" in (health.get("safe_mode_reasons") or []):
        return None, f"the meter is stale (safe mode: {doc.get('safe_mode_reason')})"
    tick_age = _finite(health.get("last_tick_age_s"))
    meter_age = _finite(health.get("meter_age_s"))
    if tick_age is None or tick_age > max_age_s:
        return None, f"the last tick is {tick_age} s old (at most {max_age_s:g} s)"
    if meter_age is None or meter_age > max_age_s:
        return None, f"the meter reading is {meter_age} s old (at most {max_age_s:g} s)"
    site_import = _finite(power.get("import"))
    if site_import is None:
        return None, "the runtime reports no metered import"
    reading = {
        "site_import_mw": site_import,
        "miner_mw": _finite(power.get("miners")),
        "hashprice_usd_per_ph_day": _finite((doc.get("market") or {}).get("hashprice_usd_per_ph_day")),
        "time_s": _finite(doc.get("time_s")),  # the tick's UTC time: when the meter was read
    }
    return {k: v for k, v in reading.items() if v is not None}, ""


@dataclass
class LiveSiteReader:
    """Reads the live runtime's state over its API; ``await reader.read()`` per sample."""

    url: str  # the API's base URL, e.g. http://127.0.0.1:8480
    token: str
    max_age_s: float = 10.0  # oldest tick and meter reading reported [s]
    timeout_s: float = 2.0
    last_problem: str = ""

    async def read(self) -> dict[str, float] | None:
        """The latest reading (``site_import_mw``, ``miner_mw``, ``hashprice_usd_per_ph_day``,
        ``time_s``: the tick's UNIX time; a key the site does not know is absent), or None
        (logged) when there is no fresh one."""
        import aiohttp

        url = self.url.rstrip("/") + STATE_PATH
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as session,
                session.get(url, headers={"Authorization": f"Bearer {self.token}"}) as r,
            ):
                if r.status != 200:
                    return self._none(f"{url} answered HTTP {r.status}: {(await r.text())[:200]}")
                doc = await r.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            return self._none(f"{url}: {type(e).__name__}: {e}")
        if not isinstance(doc, dict):
            return self._none(f"{url}: the state is not a JSON object")
        reading, why = reading_from_state(doc, self.max_age_s)
        if reading is None:
            return self._none(f"{url}: {why}")
        self.last_problem = ""
        return reading

    def _none(self, why: str) -> None:
        self.last_problem = why
        log.warning("site not read, nothing reported: %s", why)
        return None


@dataclass
class SiteDrForwarder:
    """Posts the VEN's opted-in events to the live site's API as DR events (a reserve deployment
    instruction, ``EventDecision.deployment``, as a deployment); ``await
    forwarder(decision)`` returns None, or why the site did not take them (the VEN then opts
    out). ``created`` maps an OpenADR event id to the site's DR event ids."""

    url: str  # the API's base URL
    token: str  # an operator token of the site's API
    timeout_s: float = 5.0
    created: dict[str, list[str]] = field(default_factory=dict)

    async def __call__(self, decision: EventDecision) -> str | None:
        import aiohttp

        base = self.url.rstrip("/") + DR_PATH
        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
                root = self.url.rstrip("/")
                for dr_id in self.created.pop(decision.event_id, []):  # an update replaces them
                    # a deployment's id is kept as "deployment:<id>" (live.grid_programs)
                    kind, _, made = dr_id.rpartition(":")
                    url = f"{root}{WINDOWS_PATH}/{made}" if kind == "deployment" else f"{base}/{made}"
                    async with session.delete(url) as r:
                        if r.status not in (200, 404):  # 404: it had ended or was cancelled
                            log.error("site event %s not cancelled: HTTP %s", dr_id, r.status)
                if decision.opt != "optIn":
                    return None
                ids: list[str] = []
                self.created[decision.event_id] = ids
                for cmd in decision.commands:
                    if decision.deployment is not None:  # a reserve deployment instruction
                        body = {"program": decision.deployment, "start": cmd.start_utc.isoformat(),
                                "duration_minutes": (cmd.end_utc - cmd.start_utc).total_seconds() / 60}
                        async with session.post(root + DEPLOY_PATH, json=body) as r:
                            if r.status != 201:
                                why = (await r.text())[:200]
                                return f"{root + DEPLOY_PATH} answered HTTP {r.status}: {why}"
                            ids.append(f"deployment:{(await r.json())['id']}")
                        continue
                    if cmd.request is None:
                        continue
                    body = {"start": cmd.start_utc.isoformat(), "end": cmd.end_utc.isoformat()}
                    if cmd.request.reduction_mw is not None:
                        body["reduction_mw"] = float(cmd.request.reduction_mw)
                    else:
                        body["reduction_share"] = float(cmd.request.reduction_share)
                    async with session.post(base, json=body) as r:
                        if r.status != 201:
                            return f"{base} answered HTTP {r.status}: {(await r.text())[:200]}"
                        ids.append((await r.json())["id"])
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as e:
            return f"{base}: {type(e).__name__}: {e}"
        return None
