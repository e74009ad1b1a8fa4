"""The site API (FastAPI): state and history, operator actions, a tick stream, metrics.

Authentication: ``Authorization: Bearer <token>``; tokens and roles come from the site config
(``api.tokens``). Viewers read; operators also act. Every operator action — and every refused
attempt to act — goes to the audit log (fields clipped, refusals rate-limited per principal:
``ballast.live.audit``). Repeated 401s from one client address get 429 with ``Retry-After``
(``ballast.live.auth``). ``/openapi.json`` and ``/healthz`` are public; ``/metrics``
(Prometheus text) is public only if ``api.metrics_public``; ``/docs`` (Swagger UI from a local
package, never a CDN) only if ``api.docs``.

Input: every request model is strict (``ballast.live.api_models``): finite numbers, bounded
ranges and string lengths, no coercion, no unknown fields. Bad input gets 422 with a message
naming the field (the input itself is not echoed), never 500, and changes nothing.

Tick stream: ``GET /api/v1/stream`` is a server-sent-events stream (``text/event-stream``);
each tick is one ``event: tick`` whose ``data`` is one JSON object::

    {
      "tick": 1234,                      # tick counter (continues across restarts)
      "time": "2026-11-25T08:00:01Z",    # UTC, ISO-8601; "time_s": UNIX seconds
      "safe_mode": false,                # watchdog (meter stale) or fail-safe (failed
                                         # ticks) -> all miners asleep
      "safe_mode_reason": null,          # why, when safe_mode
      "binding_rule": "import_limit",    # economics | import_limit | obligation_cap |
                                         # obligation_floor | renewable_absorption |
                                         # smoothing | reserve_up | reserve_down |
                                         # restore_ramp | watchdog
      "power_mw": {                      # facility MW, import positive; null when unknown
        "import": 241.7, "ai": 130.0, "miners": 156.7, "miners_planned": 157.0,
        "renewables": 45.0, "import_limit": 280.0, "cap": null,   # cap: obligation cap
        "floor": 0.0,                    # obligation floor (reserves sold, live.grid_programs)
        "plan_import": 241.9,            # import the controller plans (smoothing)
        "reserve_up": 0.0, "reserve_down": 0.0},  # miner headroom held for AI drops/rises
      "frequency_hz": 60.0,
      "market": {"price_usd_per_mwh": 30.0, "hashprice_usd_per_ph_day": 50.0,
                 "replay_time": null,    # replayed instant when market.replay is on
                 "feeds": null},         # live.market: per feed source, value, age_s,
                                         # max_age_s, fallback, last_error, polls, failures
      "groups": [{"name": "s21", "miners": 20, "miners_per_device": 750.0,
                  "running": 18, "asleep": 2, "non_compliant": 0, "unreachable": 0,
                  "target_running": 18, "power_planned_mw": 49.6,
                  "power_mw": 55.1,      # from device states; not complying = full power
                  "mode": "auto"}],      # auto | curtailed | ufr_tripped | safe
      "active_events": [                 # zero or more of:
        {"kind": "dr", "id": "...", "start": "...", "end": "...", "reduction_mw": 40.0,
         "cap_mw": 110.0, "baseline_import_mw": 240.0, "target_import_mw": 200.0,
         "shortfall_mw": 0.0},
        {"kind": "ufr", "groups": ["s19jpro"]},
        {"kind": "eea", "id": "...", "level": 3, "since": "...", "cap_mw": 0.0},
        {"kind": "4cp_alert", "id": "...", "program": "coincident_peak", "start": "...",
         "end": "...", "source": "alice", "cap_mw": 0.0},   # source "load feed": computed
        {"kind": "deployment", "id": "...", "program": "ecrs", "start": "...", "end": "...",
         "source": "alice", "cap_mw": 60.0, "reference_mw": 85.0, "commit_mw": 25.0},
        {"kind": "reserve", "sold_mw": {"ecrs": 25.0}, "floor_mw": 35.9},
        {"kind": "watchdog", "meter_age_s": 4.2}],
      "tick_duration_s": 0.004
    }

``miners``/``running``/``asleep`` count devices (addresses); each stands for
``miners_per_device`` real miners. A number that is not known (or not finite) is ``null``;
``_sse`` refuses to send a non-finite number (strict JSON, as browsers parse it).

History is paged (keyset on the tick, at most ``HISTORY_MAX_ROWS`` rows a request):
``GET /api/v1/history?limit=1000`` gives the newest 1,000 ticks (oldest first) and
``"next": {"before_tick": N}`` for the page before them; ``?after_tick=N`` walks forward from
tick N (``"next": {"after_tick": M}``); ``next`` is null on the last page. Store reads run in
the store's reader thread and are serialised there, never on the loop that runs the tick;
a store too far behind its writes (or closed) answers 503.

Browsers' EventSource cannot send headers, and a token in a URL ends up in logs and history,
so a browser first calls ``POST /api/v1/stream-ticket`` (bearer header) and then opens
``GET /api/v1/stream?ticket=<ticket>``: the ticket is random, bound to the principal, valid
for ``api.stream_ticket_ttl_s`` (30 s) and for one connection. Other clients send the header.
"""


import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from pydantic import BaseModel, Field

from ballast.control import RULE_NAMES
from ballast.live.api_models import (
    ACT,
    MAX_STR,
    R404,
    R413,
    R422,
    R503,
    VIEW,
    BodyLimit,
    DrEventIn,
    ErrorOut,
    EventId,
    GroupName,
    PolicyUpdate,
    Ticket,
    site_bounds_errors,
)
from ballast.live.audit import RefusalAudit, bounded_payload, clip
from ballast.live.auth import Authenticator, FailureLimiter, Principal, StreamTickets
from ballast.live.dashboard import mount_dashboard
from ballast.live.docs import mount_docs
from ballast.live.evidence_api import evidence_router
from ballast.live.health import RuntimeCollector
from ballast.live.market.metrics import MarketFeedsCollector
from ballast.live.programs_api import programs_router
from ballast.live.runtime import Runtime
from ballast.live.site_config import SiteConfig
from ballast.live.store import StoreBehind

API = "/api/v1"
HISTORY_MAX_ROWS = 5000  # rows per /history request: bounded work per request, page for more
log = logging.getLogger("ballast.live.api")
R503_STORE = {503: {"description": "The store is behind its writes (stalled) or closed.",
                    "model": ErrorOut}}


class HistoryPage(BaseModel):
    """One page of ``/history``: measurement rows (oldest first) and the next page's cursor."""

    rows: list[dict[str, Any]]
    next: dict[str, int] | None = Field(description="Query parameters of the next page "
                                        "(``after_tick`` or ``before_tick``); null at the end.")


def _metrics(runtime: Runtime) -> CollectorRegistry:
    reg = CollectorRegistry()
    power = Gauge("ballast_power_mw", "Site power by flow [MW] (import positive)", ["flow"],
                  registry=reg)
    freq = Gauge("ballast_frequency_hz", "Grid frequency at the meter [Hz]", registry=reg)
    miners = Gauge("ballast_group_miners", "Miner devices per group and state",
                   ["group", "state"], registry=reg)
    safe = Gauge("ballast_safe_mode", "1 while the watchdog holds the safe state", registry=reg)
    ticks = Counter("ballast_ticks", "Control ticks run", registry=reg)
    tick_s = Gauge("ballast_tick_duration_seconds", "Duration of the last tick [s]", registry=reg)
    trips = Gauge("ballast_ufr_trips", "Under-frequency relay trips since start", registry=reg)
    rules = (*RULE_NAMES, "watchdog")
    binding = Gauge("ballast_binding_rule", "1 for the rule that set the miner total",
                    ["rule"], registry=reg)

    def update(doc: dict[str, Any]) -> None:
        for flow, v in doc["power_mw"].items():
            power.labels(flow).set(float("nan") if v is None else v)
        freq.set(float("nan") if doc["frequency_hz"] is None else doc["frequency_hz"])
        for g in doc["groups"]:
            for state in ("running", "asleep", "non_compliant", "unreachable"):
                miners.labels(g["name"], state).set(g[state])
        safe.set(1 if doc["safe_mode"] else 0)
        ticks.inc()
        tick_s.set(doc.get("tick_duration_s", 0.0))
        trips.set(runtime.ufr_trips)
        for r in rules:
            binding.labels(r).set(1 if doc["binding_rule"] == r else 0)

    runtime.on_tick.append(update)
    reg.register(RuntimeCollector(runtime))  # health, refused readings, keep-alive failures
    reg.register(MarketFeedsCollector(runtime))  # live.market: feed ages and fallbacks
    return reg


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_app(runtime: Runtime, site: SiteConfig, *,
               monotonic: Callable[[], float] = time.monotonic) -> FastAPI:
    """The API over one runtime (same event loop). ``monotonic`` [s] times the 401 limiter,
    the stream tickets and the refused-request audit windows."""
    cfg = site.api
    auth = Authenticator({secret: Principal(t.name, t.role)
                          for secret, t in site.api_secrets().items()},
                         FailureLimiter(cfg.max_auth_failures, cfg.auth_failure_window_s,
                                        clock=monotonic),
                         StreamTickets(cfg.stream_ticket_ttl_s, clock=monotonic))
    registry = _metrics(runtime)
    app = FastAPI(title="Ballast site API", version="1", docs_url=None, redoc_url=None,
                  description="Live state, history and control of one hybrid AI + mining "
                  "campus. Bearer tokens: viewers read, operators act.")
    app.add_middleware(BodyLimit)  # 413 for a body over MAX_BODY_BYTES, before it is read
    bearer = HTTPBearer(auto_error=False)
    store = runtime.store

    def write_audit(actor: str, role: str, action: str, payload: dict[str, Any],
                    result: str) -> None:
        store.add_audit(runtime.clock(), actor, role, action, payload, result)

    refusals = RefusalAudit(write_audit, max_rows=cfg.refused_audit_rows,
                            window_s=cfg.refused_audit_window_s, clock=monotonic)
    runtime.on_tick.append(lambda _doc: refusals.flush())  # summaries of ended windows

    def audit(p: Principal, action: str, payload: dict[str, Any], result: str) -> None:
        if result.startswith(("error", "denied", "refused")):
            refusals.refused(p.name, p.role, action, payload, result)
        else:
            write_audit(p.name, p.role, action, bounded_payload(payload), clip(result))

    _install_error_handlers(app, refusals)

    async def viewer(request: Request,
                     creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                     ) -> Principal:
        p = auth.authenticate(_client(request), creds.credentials if creds else None)
        request.state.principal = p  # for the audit of a refused (422) action
        return p

    async def stream_viewer(request: Request,
                            creds: Annotated[HTTPAuthorizationCredentials | None,
                                             Depends(bearer)],
                            ticket: Ticket = None) -> Principal:
        """The stream takes a bearer header or a stream ticket (never a token in the URL)."""
        if creds is None and ticket is not None:
            return auth.redeem(_client(request), ticket)
        return auth.authenticate(_client(request), creds.credentials if creds else None)

    async def operator(request: Request, p: Annotated[Principal, Depends(viewer)]) -> Principal:
        if p.role != "operator":
            audit(p, f"{request.method} {request.url.path}", {}, "denied: viewer role")
            raise HTTPException(403, "this token may read but not act (role viewer)")
        return p

    Viewer = Annotated[Principal, Depends(viewer)]
    Operator = Annotated[Principal, Depends(operator)]

    def refuse_out_of_site(body: BaseModel) -> None:
        """422 (audited by the handler, as any invalid input) for powers over the limit."""
        errors = site_bounds_errors(body, float(runtime.base_cfg.import_limit_mw))
        if errors:
            raise RequestValidationError(errors)

    @app.get("/healthz", tags=["meta"], responses={503: {"description": "Ticks fail or are "
                                                        "late; the body says why."}})
    async def healthz() -> Response:
        """``runtime.health()``: 200 while ticks commit on time, else 503 with the reason."""
        h = runtime.health()
        return JSONResponse(h, status_code=200 if h["ok"] else 503)

    @app.get(f"{API}/state", tags=["read"], responses={**VIEW, **R503})
    async def state(_: Viewer) -> dict[str, Any]:
        """The latest tick document (see the stream's schema) and ``health``: the runtime's
        health now (``Runtime.health``: ok, reason, safe_mode_reason, failed ticks), current
        even when the last tick document is old."""
        if runtime.last_tick is None:
            raise HTTPException(503, "no tick yet")
        return {**runtime.last_tick, "health": runtime.health()}

    async def read(fn: Callable[..., bytes], *args: Any) -> Response:
        """A store read in the store's reader pool; ``fn`` returns the JSON body, so the loop
        only sends bytes."""
        try:
            body = await store.aread(fn, *args)
        except StoreBehind as e:
            raise HTTPException(503, str(e)) from None
        return Response(body, media_type="application/json")

    async def read_json(fn: Callable[..., Any], *args: Any) -> Response:
        """Rows serialised to JSON in the reader thread too."""
        return await read(lambda: json.dumps(fn(*args)).encode())

    @app.get(f"{API}/history", tags=["read"], response_model=HistoryPage,
             responses={**VIEW, **R422, **R503_STORE})
    async def history(
            _: Viewer, since: datetime | None = None, until: datetime | None = None,
            after_tick: Annotated[int | None, Query(ge=0, le=2**62, description="Page forward: "
                                                    "ticks after this one.")] = None,
            before_tick: Annotated[int | None, Query(ge=1, le=2**62, description="Page back: "
                                                     "ticks before this one.")] = None,
            limit: Annotated[int, Query(ge=1, le=HISTORY_MAX_ROWS, description="Rows per page "
                                        f"(at most {HISTORY_MAX_ROWS:,}; follow ``next`` for "
                                        "more).")] = 1000) -> Response:
        """Measurements per tick in [since, until), oldest first, one page (see the module
        docstring): the newest ``limit`` by default, or the ``limit`` after ``after_tick``."""
        if after_tick is not None and before_tick is not None:
            raise HTTPException(422, "give after_tick or before_tick, not both")
        return await read(store.history_json, since.timestamp() if since else None,
                          until.timestamp() if until else None, limit, after_tick, before_tick)

    @app.get(f"{API}/events", tags=["read"], response_model=list[dict[str, Any]],
             responses={**VIEW, **R503_STORE})
    async def events(_: Viewer, kind: Annotated[str | None, Query(max_length=MAX_STR)] = None,
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Response:
        return await read_json(store.events, limit, kind)

    @app.get(f"{API}/commands", tags=["read"], response_model=list[dict[str, Any]],
             responses={**VIEW, **R503_STORE})
    async def commands(_: Viewer, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
                       ) -> Response:
        return await read_json(store.commands, limit)

    @app.get(f"{API}/audit", tags=["read"], response_model=list[dict[str, Any]],
             responses={**VIEW, **R503_STORE})
    async def audit_log(_: Viewer, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
                        ) -> Response:
        return await read_json(store.audit, limit)

    @app.get(f"{API}/policy", tags=["read"], responses=VIEW)
    async def get_policy(_: Viewer) -> dict[str, Any]:
        return vars(runtime.policy)

    @app.put(f"{API}/policy", tags=["act"], responses={**ACT, **R422})
    async def put_policy(body: PolicyUpdate, p: Operator) -> dict[str, Any]:
        refuse_out_of_site(body)
        changes = body.model_dump(exclude_none=True)
        pol = runtime.set_policy(**changes)
        audit(p, "policy.update", changes, "ok")
        return vars(pol)

    def _group_action(group: str, mode: str, p: Principal, action: str) -> dict[str, Any]:
        try:
            runtime.set_group_mode(group, mode)
        except KeyError as e:
            audit(p, action, {"group": group}, f"error: {e.args[0]}")
            raise HTTPException(404, e.args[0]) from None
        audit(p, action, {"group": group}, "ok")
        return {"group": group, "mode": mode}

    @app.post(f"{API}/groups/{{group}}/curtail", tags=["act"], responses={**ACT, **R404, **R422})
    async def curtail(group: GroupName, p: Operator) -> dict[str, Any]:
        """Manual curtail: every miner of the group asleep until resumed."""
        return _group_action(group, "curtailed", p, "group.curtail")

    @app.post(f"{API}/groups/{{group}}/resume", tags=["act"], responses={**ACT, **R404, **R422})
    async def resume(group: GroupName, p: Operator) -> dict[str, Any]:
        """Back to automatic control."""
        return _group_action(group, "auto", p, "group.resume")

    @app.post(f"{API}/ufr/reset", tags=["act"], responses=ACT)
    async def ufr_reset(p: Operator) -> dict[str, Any]:
        """Reset a tripped under-frequency relay (on the QSE's recall instruction)."""
        was = runtime.ufr_tripped
        runtime.reset_ufr()
        audit(p, "ufr.reset", {}, "ok" if was else "ok: relay was not tripped")
        return {"tripped": runtime.ufr_tripped}

    @app.get(f"{API}/dr-events", tags=["read"], response_model=list[dict[str, Any]],
             responses={**VIEW, **R503_STORE})
    async def list_dr(_: Viewer) -> Response:
        return await read_json(store.dr_events)

    @app.post(f"{API}/dr-events", tags=["act"], status_code=201,
              responses={**ACT, **R422})
    async def post_dr(body: DrEventIn, p: Operator) -> dict[str, Any]:
        refuse_out_of_site(body)
        now = runtime.clock()
        start = body.start.timestamp() if body.start else now
        end = body.end.timestamp() if body.end else start + (body.duration_s or 0.0)
        payload = json.loads(body.model_dump_json(exclude_none=True))
        try:
            ev = runtime.add_dr_event(start, end, body.reduction_mw, body.reduction_share, p.name)
        except ValueError as e:
            audit(p, "dr.create", payload, f"error: {e}")
            raise HTTPException(422, clip(str(e))) from None
        audit(p, "dr.create", {**payload, "id": ev.id}, "ok")
        return {"id": ev.id, "start_s": ev.start_s, "end_s": ev.end_s,
                "reduction_mw": ev.reduction_mw, "reduction_share": ev.reduction_share}

    @app.delete(f"{API}/dr-events/{{event_id}}", tags=["act"], responses={**ACT, **R404, **R422})
    async def cancel_dr(event_id: EventId, p: Operator) -> dict[str, Any]:
        ok = runtime.cancel_dr_event(event_id)
        audit(p, "dr.cancel", {"id": event_id}, "ok" if ok else "error: no such active event")
        if not ok:
            raise HTTPException(404, f"no active DR event {event_id!r}")
        return {"id": event_id, "cancelled": True}

    app.include_router(evidence_router(store, Viewer, API, runtime.scenario.site.timezone))
    app.include_router(programs_router(runtime, Viewer, Operator, API, audit))

    @app.post(f"{API}/stream-ticket", tags=["read"], responses={**VIEW, **R413})
    async def stream_ticket(p: Viewer) -> dict[str, Any]:
        """A ticket for one ``GET /api/v1/stream?ticket=...`` (browsers' EventSource cannot send
        headers): random, bound to this token's principal, single use, valid
        ``api.stream_ticket_ttl_s``."""
        return {"ticket": auth.tickets.issue(p), "expires_in_s": auth.tickets.ttl_s}

    @app.get(f"{API}/stream", tags=["read"], response_class=StreamingResponse,
             responses={**VIEW, **R422})
    async def stream(_: Annotated[Principal, Depends(stream_viewer)]) -> StreamingResponse:
        """Server-sent events, one ``tick`` event per tick (JSON in the module docstring).
        Authenticate with the bearer header, or with ``?ticket=`` from ``POST
        /api/v1/stream-ticket``."""
        q = runtime.subscribe()

        async def gen() -> AsyncIterator[bytes]:
            try:
                if runtime.last_tick is not None:
                    yield _sse(runtime.last_tick)
                while True:
                    try:
                        doc = await asyncio.wait_for(q.get(), 15.0)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if doc is None:  # runtime stopped
                        return
                    yield _sse(doc)
            finally:
                runtime.unsubscribe(q)

        return StreamingResponse(gen(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    def metrics_response() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if site.api.metrics_public:
        @app.get("/metrics", tags=["meta"], include_in_schema=True)
        async def metrics_open() -> Response:
            return metrics_response()
    else:
        @app.get("/metrics", tags=["meta"], responses=VIEW)
        async def metrics(_: Viewer) -> Response:
            return metrics_response()

    if site.api.docs:
        mount_docs(app)  # Swagger UI from the installed swagger-ui-bundle (no CDN)
    mount_dashboard(app, runtime, site, viewer)  # web dashboard (ballast.live.dashboard)
    return app


def _install_error_handlers(app: FastAPI, refusals: RefusalAudit) -> None:
    """422 for bad input without echoing it (a NaN or a 60-kB string in the echo broke the
    default handler: 500); a JSON 500 that names nothing internal for any other error."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [clip(str(x)) if isinstance(x, str) else x for x in e.get("loc", ())],
                   "msg": clip(str(e.get("msg", ""))), "type": str(e.get("type", ""))}
                  for e in exc.errors()[:20]]
        p = getattr(request.state, "principal", None)
        if p is not None and request.method != "GET":
            refusals.refused(p.name, p.role, f"{request.method} {request.url.path}",
                             {"errors": [f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                         for e in errors]}, "refused: invalid input")
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path[:MAX_STR], exc_info=exc)
        return JSONResponse({"detail": "internal error (logged by the site)"}, status_code=500)


def _sse(doc: dict[str, Any]) -> bytes:
    """One SSE ``tick`` event; strict JSON (a non-finite number raises ``ValueError``)."""
    return (f"event: tick\nid: {doc['tick']}\n"
            f"data: {json.dumps(doc, allow_nan=False)}\n\n").encode()
