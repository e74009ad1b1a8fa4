"""``GET /api/v1/evidence/{id}``: the settlement evidence of a DR event, reserve deployment,
posted 4CP alert or EEA episode (``live/evidence``),
as JSON (``ballast.evidence/1``) or CSV. Read access (any token), like the other reads; the
document is built in the store's reader pool, never on the loop that runs the tick.

No ``from __future__ import annotations``: FastAPI reads the route's annotations at run time,
and ``viewer`` is a closure variable."""

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from ballast.live.api_models import R404, R422, VIEW, ErrorOut, EventId
from ballast.live.evidence import EvidenceNotFound, build_evidence, evidence_csv
from ballast.live.store import Store, StoreBehind
from ballast.programs.baselines import BaselineMethod


def evidence_router(store: Store, viewer: Any, prefix: str, tz: str = "UTC") -> APIRouter:
    """The route, authenticated by the app's ``viewer`` dependency (an ``Annotated``)."""
    router = APIRouter()

    @router.get(
        f"{prefix}/evidence/{{event_id}}",
        tags=["read"],
        responses={
            **VIEW,
            **R404,
            **R422,
            503: {"description": "The store is behind its writes or closed.", "model": ErrorOut},
            200: {"content": {"text/csv": {}}},
        },
    )
    async def evidence(
        event_id: EventId,
        _: viewer,
        method: Annotated[BaselineMethod, Query(description="Baseline method.")] = "meter_before_event",
        format: Annotated[Literal["json", "csv"], Query()] = "json",
        interval_s: Annotated[
            float, Query(ge=1.0, le=86_400.0, description="Settlement interval [s].")
        ] = 900.0,
    ) -> Response:
        """Per interval: metered import, miner power, commanded states, commands and their
        verified outcomes, the baseline by ``method``, reduction achieved and shortfall."""

        def run() -> bytes:
            doc = build_evidence(store, event_id, method, interval_s, tz)
            if format == "csv":
                return evidence_csv(doc).encode()
            return json.dumps(doc).encode()

        try:
            body = await store.aread(run)
        except EvidenceNotFound as e:
            raise HTTPException(404, str(e)) from None
        except StoreBehind as e:
            raise HTTPException(503, str(e)) from None
        except ValueError as e:  # the history cannot support the method: names what is missing
            raise HTTPException(422, str(e)) from None
        media = "text/csv" if format == "csv" else "application/json"
        return Response(body, media_type=media)

    return router
