"""Request and error models of the site API: strict, finite, bounded, no unknown fields.

Every request model refuses, with a 422 that names the field:

- non-finite numbers (``NaN``, ``Infinity``, ``-Infinity``, and ``1e400``, which JSON parsing
  turns into infinity): ``allow_inf_nan=False``;
- coercion: ``true`` is not 1.0 and ``"yes"`` is not true (pydantic strict types);
- unknown fields (``extra="forbid"``): e.g. ``import_limit_mw`` in a policy update;
- strings longer than ``MAX_STR`` (path and query parameters too: see ``GroupName``, ``EventId``).

Bounds that depend on the site (the import limit) are checked by ``site_bounds_errors`` against
the running site, in the same 422 format. ``BodyLimit`` refuses a request body over
``MAX_BODY_BYTES`` with 413 before anything reads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat, model_validator

from ballast.programs.dr import DrRequest

MAX_STR = 200  # characters: any name, id or timestamp the API takes
MAX_BODY_BYTES = 16 * 1024  # the largest valid request body is well under 1 kB
# Largest power any request may name [MW]: above every single-site interconnect (the largest
# campuses planned are a few GW); the site's own import limit narrows it (site_bounds_errors).
MAX_POWER_MW = 10_000.0

GroupName = Annotated[str, Path(min_length=1, max_length=MAX_STR, description="Miner group.")]
EventId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                              description="DR event id (as returned when it was created).")]
Ticket = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                     description="Stream ticket from POST /api/v1/stream-ticket "
                                     "(single use, short-lived): browsers' EventSource cannot "
                                     "send an Authorization header.")]


def _iso_text(value: Any) -> Any:
    """Timestamps only as ISO-8601 text: a bare number is not silently read as UNIX seconds."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string with a UTC offset, e.g. 2026-11-25T08:00:00Z")
    if len(value) > 40:
        raise ValueError("ISO-8601 timestamp longer than 40 characters")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_text)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=MAX_STR,
                              frozen=True)


class PolicyUpdate(_Request):
    """Fields to change; omitted ones stay."""

    price_usd_per_mwh: StrictFloat | None = Field(None, ge=-10_000, le=50_000, description=(
        "Power price [USD/MWh]; -10,000 to 50,000 (beyond ERCOT's offer floor and cap)."))
    hashprice_usd_per_ph_day: StrictFloat | None = Field(None, ge=0, le=10_000, description=(
        "Hashprice [USD/PH/day]; 0 to 10,000."))
    economic_dispatch: StrictBool | None = Field(None, description=(
        "Run groups only when they pay (JSON true/false only)."))
    import_margin_mw: StrictFloat | None = Field(None, ge=0, le=MAX_POWER_MW, description=(
        "Margin kept under the import limit [MW]; at most the site's import limit (a larger "
        "margin would ask for negative import, which the miners cannot deliver)."))


class DrEventIn(_Request):
    """A demand-response event: reduce campus import by ``reduction_mw`` or by
    ``reduction_share`` of the import metered at its start, the baseline (the one meaning of DR,
    ``programs/dr.py``). ``start`` defaults to now; give ``end`` or ``duration_s``."""

    start: IsoTime | None = Field(None, description="ISO-8601 with offset; default now.")
    end: IsoTime | None = Field(None, description="ISO-8601 with offset.")
    duration_s: StrictFloat | None = Field(None, gt=0, le=7 * 86400,
                                           description="Or a duration [s], at most 7 days.")
    reduction_mw: StrictFloat | None = Field(None, gt=0, le=MAX_POWER_MW, description=(
        "Reduction [MW]; at most the site's import limit (no event can cut more than the "
        "campus may import)."))
    reduction_share: StrictFloat | None = Field(None, gt=0, le=1, description=(
        "Or a share of the campus import metered at the start (the baseline) [-], in (0, 1]."))

    @model_validator(mode="after")
    def _check(self) -> DrEventIn:
        if (self.end is None) == (self.duration_s is None):
            raise ValueError("give exactly one of end or duration_s")
        DrRequest(self.reduction_mw, self.reduction_share)  # the one DR validation
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is not None and v.tzinfo is None:
                raise ValueError(f"{name} needs a UTC offset (e.g. 2026-11-25T08:00:00Z)")
        return self


def site_bounds_errors(body: BaseModel, import_limit_mw: float) -> list[dict[str, Any]]:
    """Errors (422 ``detail`` items) for powers above the site's import limit [MW]."""
    errors = []
    for name in ("import_margin_mw", "reduction_mw"):
        value = getattr(body, name, None)
        if value is not None and value > import_limit_mw:
            errors.append({"loc": ["body", name], "type": "less_than_equal",
                           "msg": f"{name} {value:g} MW is above the site's import limit "
                                  f"{import_limit_mw:g} MW"})
    return errors


class ErrorOut(BaseModel):
    """An error: ``detail`` is a message, or for 422 a list of {loc, msg, type}."""

    detail: str | list[dict[str, Any]]


def _resp(description: str) -> dict[str, Any]:
    return {"description": description, "model": ErrorOut}


R401 = {401: _resp("Missing or unknown bearer token (or stream ticket).")}
R429 = {429: _resp("Too many failed authentications from this client: wait Retry-After "
                   "seconds.")}
R403 = {403: _resp("The token may read but not act (role viewer).")}
R404 = {404: _resp("No such group or event.")}
R422 = {422: _resp("Invalid input: the message names the field and the reason.")}
R413 = {413: _resp(f"Request body over {MAX_BODY_BYTES} bytes.")}
R503 = {503: _resp("No tick yet (the runtime is starting).")}
VIEW: dict[int | str, dict[str, Any]] = {**R401, **R429}
ACT: dict[int | str, dict[str, Any]] = {**VIEW, **R403, **R413}


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before any route sees it.
    FastAPI reads a body whole, before authentication; without this, anyone who can reach the
    port could make the API hold a body of any size in memory."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        chunks, size = [], 0
        while True:  # a chunked body: count as it comes
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, 413)
        await response(scope, receive, send)
