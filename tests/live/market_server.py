"""A local HTTP server (aiohttp, loopback) that answers like the market data providers, for the
live.market tests: the real ERCOT and pool endpoints cannot be reached from the test machines.
Each route's answer is settable by the test (``server.answers[path] = ...``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web


class MarketServer:
    """``answers[path]``: a JSON-able document, a ``(status, text)`` pair, or a float (seconds
    to stall before answering ``{}``). ``requests`` records (path, query, headers)."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.key: str | None = None  # required Ocp-Apim-Subscription-Key on /ercot, if set
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append((path, dict(request.query), dict(request.headers)))
        if (
            path.startswith("/ercot")
            and self.key is not None
            and request.headers.get("Ocp-Apim-Subscription-Key") != self.key
        ):
            # the API gateway's answer to a missing or wrong key
            return web.json_response(
                {"statusCode": 401, "message": "Access denied due to missing subscription key."}, status=401
            )
        answer = self.answers.get(path)
        if answer is None:
            return web.Response(status=404, text="not found")
        if isinstance(answer, float):
            await asyncio.sleep(answer)
            return web.json_response({})
        if isinstance(answer, tuple):
            return web.Response(status=answer[0], text=answer[1], content_type="text/html")
        return web.Response(text=json.dumps(answer), content_type="application/json")

    async def __aenter__(self) -> MarketServer:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# ERCOT Public API, report NP6-905-CD (GET /np6-905-cd/spp_node_zone_hub): the API's report
# layout, "_meta" and "report" headers, "fields" (column descriptions) and "data" (rows as arrays
# in field order), as in ERCOT's published OpenAPI description (github.com/ercot/api-specs).
ERCOT_FIELDS = [
    {
        "name": "deliveryDate",
        "label": "Delivery Date",
        "dataType": "DATE",
        "hasRange": True,
        "sortable": True,
    },
    {
        "name": "deliveryHour",
        "label": "Delivery Hour",
        "dataType": "INTEGER",
        "hasRange": True,
        "sortable": True,
    },
    {
        "name": "deliveryInterval",
        "label": "Delivery Interval",
        "dataType": "INTEGER",
        "hasRange": True,
        "sortable": True,
    },
    {
        "name": "settlementPoint",
        "label": "Settlement Point",
        "dataType": "STRING",
        "hasRange": False,
        "sortable": True,
    },
    {
        "name": "settlementPointType",
        "label": "Settlement Point Type",
        "dataType": "STRING",
        "hasRange": False,
        "sortable": True,
    },
    {
        "name": "settlementPointPrice",
        "label": "Settlement Point Price",
        "dataType": "DOUBLE",
        "hasRange": True,
        "sortable": True,
    },
    {"name": "DSTFlag", "label": "DST Flag", "dataType": "BOOLEAN", "hasRange": False, "sortable": True},
]


def ercot_answer(rows: list[list[Any]]) -> dict[str, Any]:
    return {
        "_meta": {"totalRecords": len(rows), "pageSize": 100000, "totalPages": 1, "currentPage": 1},
        "report": {
            "reportEMILId": "NP6-905-CD",
            "reportName": "Settlement Point Prices at Resource Nodes, Hubs and Load Zones",
        },
        "fields": ERCOT_FIELDS,
        "data": rows,
    }
