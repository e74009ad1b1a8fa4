"""The grid programs' live endpoints and operator actions (``live.grid_programs``): read
their state and settlement, post an EEA level, a 4CP alert or a reserve deployment, cancel one. Writes need an
operator token and are audited, like the other write endpoints; a program the scenario does not
have, or a bad time, is 422 with the reason.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time,
and ``viewer``/``operator`` are closure variables."""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import Field, StrictFloat, StrictInt, model_validator

from ballast.live.api_models import ACT, R404, R422, VIEW, EventId, IsoTime, _Request
from ballast.live.audit import clip
from ballast.live.program_windows import add_program_window, cancel_program_window, set_eea


class EeaIn(_Request):
    """The ERCOT Energy Emergency Alert level now in force: 0 (none, or ended), 1, 2 or 3. From
    ``programs.emergency.curtail_at_level`` up every miner is off."""

    level: StrictInt = Field(ge=0, le=3, description="EEA level 0-3 (0: none).")


class FourCpAlertIn(_Request):
    """A 4CP alert: miners capped at ``programs.coincident_peak.curtail_to_mw`` over
    [start, end). ``start`` defaults to now; give ``end`` or ``duration_s``."""

    start: IsoTime | None = Field(None, description="ISO-8601 with offset; default now.")
    end: IsoTime | None = Field(None, description="ISO-8601 with offset.")
    duration_s: StrictFloat | None = Field(
        None, gt=0, le=7 * 86400, description="Or a duration [s], at most 7 days."
    )

    @model_validator(mode="after")
    def _check(self) -> "FourCpAlertIn":
        if (self.end is None) == (self.duration_s is None):
            raise ValueError("give exactly one of end or duration_s")
        return self


class DeploymentIn(_Request):
    """A reserve deployment instruction: the reserve's MW sold now are dropped from the miner
    power metered at the instruction, for ``duration_minutes``."""

    program: Literal["responsive_reserve", "ecrs", "ers"] = Field(
        description="The reserve deployed (one the scenario offers)."
    )
    start: IsoTime | None = Field(None, description="ISO-8601 with offset; default now.")
    duration_minutes: StrictFloat = Field(
        gt=0, le=7 * 1440, description="How long the reduction is held [min]."
    )


def _start(start: datetime | None, now_s: float) -> float:
    return start.timestamp() if start is not None else now_s


def programs_router(
    runtime: Any, viewer: Any, operator: Any, prefix: str, audit: Callable[..., None]
) -> APIRouter:
    """The routes, authenticated by the app's ``viewer``/``operator`` dependencies
    (``Annotated``) and audited by its ``audit(principal, action, payload, result)``."""
    router = APIRouter()

    def guarded(p: Any, action: str, payload: dict[str, Any], act: Callable[[], Any]) -> Any:
        try:
            out = act()
        except ValueError as e:
            audit(p, action, payload, f"error: {e}")
            raise HTTPException(422, clip(str(e))) from None
        audit(p, action, payload, "ok")
        return out

    @router.get(f"{prefix}/programs", tags=["read"], responses=VIEW)
    async def programs(_: viewer) -> dict[str, Any]:
        """The grid programs' live state: EEA level, reserves offered and sold [MW], 4CP alerts
        and deployments in force or to come; null without a ``programs`` section."""
        return {"programs": None if runtime.programs is None else runtime.programs.document()}

    @router.get(f"{prefix}/programs/settlement", tags=["read"], responses=VIEW)
    async def settlement(_: viewer) -> dict[str, Any]:
        """The grid programs settled live so far, per program, with the backtest's arithmetic
        (``live.program_settlement``): reserve availability revenue, deployment energy delivered
        and short with its penalty, DR payments, EEA and 4CP hours, and what is not settled
        live; null without a ``programs`` section. Survives a restart."""
        progs = runtime.programs
        return {"settlement": None if progs is None else progs.settlement.document()}

    @router.post(f"{prefix}/programs/eea", tags=["act"], responses={**ACT, **R422})
    async def post_eea(body: EeaIn, p: operator) -> dict[str, Any]:
        """Post the EEA level in force. The answer is the recorded ``eea`` event: ``id`` is the
        EEA episode's (level set to level cleared; the id ``/evidence/{id}`` takes), ``level``,
        ``was``, ``cap_mw`` (null: no cap)."""
        return guarded(p, "programs.eea", {"level": body.level}, lambda: set_eea(runtime, body.level, p.name))

    @router.post(f"{prefix}/programs/4cp-alerts", tags=["act"], status_code=201, responses={**ACT, **R422})
    async def post_alert(body: FourCpAlertIn, p: operator) -> dict[str, Any]:
        now = runtime.clock()
        start = _start(body.start, now)
        end = body.end.timestamp() if body.end else start + (body.duration_s or 0.0)
        payload = {"start_s": start, "end_s": end}
        w = guarded(
            p,
            "programs.4cp_alert",
            payload,
            lambda: add_program_window(runtime, "4cp_alert", start, end, p.name),
        )
        return w.document()

    @router.post(f"{prefix}/programs/deployments", tags=["act"], status_code=201, responses={**ACT, **R422})
    async def post_deployment(body: DeploymentIn, p: operator) -> dict[str, Any]:
        start = _start(body.start, runtime.clock())
        payload = {"program": body.program, "start_s": start, "duration_minutes": body.duration_minutes}
        w = guarded(
            p,
            "programs.deployment",
            payload,
            lambda: add_program_window(
                runtime, "deployment", start, None, p.name, body.program, body.duration_minutes
            ),
        )
        return w.document()

    @router.delete(f"{prefix}/programs/windows/{{window_id}}", tags=["act"], responses={**ACT, **R404})
    async def cancel(window_id: EventId, p: operator) -> dict[str, Any]:
        ok = cancel_program_window(runtime, window_id, p.name)
        audit(
            p,
            "programs.cancel",
            {"id": window_id},
            "ok" if ok else "error: no such alert or deployment in force or to come",
        )
        if not ok:
            raise HTTPException(404, f"no 4CP alert or deployment {window_id!r} in force or to come")
        return {"id": window_id, "cancelled": True}

    return router
