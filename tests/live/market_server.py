"""A local HTTP server (aiohttp, loopback) that answers like the market data providers, for the
live.market tests: the real ERCOT and pool endpoints cannot be reached from the test machines.
Each route's answer is settable by the test (``server.answers[path] = ...``); ``server.ercot``
(an ``ErcotApi``) plays ERCOT's Public API: its sign-in and the NP6-905-CD report.

Where ERCOT's shapes come from (the API itself cannot be reached from here):
- the sign-in: gridstatus ``gridstatus/ercot_api/ercot_api.py`` (``get_token``: form-encoded
  ROPC grant to the B2C ``TOKEN_URL``, ``id_token`` in the answer, valid 3600 s) and Azure AD
  B2C's documented ROPC answer (``access_token``, ``token_type``, ``expires_in`` as text,
  ``refresh_token``, ``id_token``); a refused sign-in is B2C's ``{"error": "invalid_grant",
  "error_description": "AADB2C90225: ..."}`` with HTTP 400;
- the report: ``_meta`` keys as in the answer recorded in gridstatus's cassette
  ``gridstatus/tests/fixtures/ercot_api/vcr_cassettes/test_get_as_reports_dst_end_2024_11_03.yaml``
  @ 933baa5 (``totalRecords``, ``pageSize``, ``totalPages``, ``currentPage``, ``query`` with
  ``parameterCount``/``parameters``/``sortedBy``); ``report``, ``fields`` (with their
  attributes) and ``data`` (rows as lists in field order) as ERCOT's OpenAPI ``Report`` schema
  for ``/np6-905-cd/spp_node_zone_hub`` (``pubapi-apim-api.json`` in gridstatus), whose query
  parameters name the fields; paging by ``page`` (from 1) and ``size`` as gridstatus's
  ``hit_ercot_api`` walks it. The column names and value types are those of a REAL NP6-905-CD
  answer: the executed output of ``hit_ercot_api("/np6-905-cd/spp_node_zone_hub")`` in
  gridstatus/gridstatus ``docs/Examples/ercot_api/ERCOT API Examples.ipynb`` @ 6a500a8
  (columns from the answer's ``fields[].name``: ``deliveryDate``, ``deliveryHour``,
  ``deliveryInterval``, ``settlementPoint``, ``settlementPointType``, ``settlementPointPrice``,
  ``DSTFlag``; e.g. ``2024-01-18, 13, 4, ZIER_SLR_ALL, RN, 11.08, False``: see
  ``ERCOT_RECORDED_ROWS``). The API says ``settlementPoint``; ``SettlementPointName`` is the
  column of the report's CSV files (MIS downloads), not of the API. Other real prices in the
  tests come from Ballast's bundled ERCOT data (see ``ERCOT_REAL_ROWS``).
- a missing or wrong subscription key: the API gateway's 401 ``{"statusCode": 401, "message":
  "Access denied due to missing subscription key..."}``; an expired bearer token: 401.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web


class MarketServer:
    """``answers[path]``: a JSON-able document, a ``str`` (served as text/csv), a ``(status,
    text)`` pair, or a float (seconds to stall before answering ``{}``). ``requests`` records
    (path, query, headers)."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.key: str | None = None  # required Ocp-Apim-Subscription-Key on /ercot, if set
        self.ercot: ErcotApi | None = None  # ERCOT's API on /ercot/token and /ercot/spp
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append((path, dict(request.query), dict(request.headers)))
        if self.ercot is not None and path == "/ercot/token":
            return await self.ercot.token(request)
        if self.ercot is not None and path == "/ercot/spp":
            return self.ercot.report(request)
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
        if isinstance(answer, str):
            return web.Response(text=answer, content_type="text/csv")
        if isinstance(answer, tuple):
            return web.Response(status=answer[0], text=answer[1], content_type="text/html")
        return web.Response(text=json.dumps(answer), content_type="application/json")

    async def __aenter__(self) -> MarketServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
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
# in field order), as in ERCOT's OpenAPI description shipped by gridstatus/gridstatus
# (gridstatus/ercot_api/pubapi-apim-api.json: schemas Report, Field; Field.dataType is one of
# BOOLEAN, VARCHAR, INTEGER, LONG, DOUBLE, DATE, DATETIME, TIME). Field names and their order:
# the real answer in gridstatus/gridstatus docs/Examples/ercot_api/ERCOT API Examples.ipynb.
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
        "dataType": "VARCHAR",
        "hasRange": False,
        "sortable": True,
    },
    {
        "name": "settlementPointType",
        "label": "Settlement Point Type",
        "dataType": "VARCHAR",
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


for _f in ERCOT_FIELDS:  # the OpenAPI Report schema's other field attributes
    _f.update(cardinality=0, searchable=True)


def ercot_answer(rows: list[list[Any]]) -> dict[str, Any]:
    """One page holding ``rows``, in the API's report layout (see the module docstring)."""
    return {
        "_meta": {
            "totalRecords": len(rows),
            "pageSize": 100000,
            "totalPages": 1,
            "currentPage": 1,
            "query": {"parameterCount": 0, "parameters": {}, "sortedBy": ""},
        },
        "report": {
            "reportName": "spp_node_zone_hub",
            "reportDisplayName": "Settlement Point Prices at Resource Nodes, Hubs and Load Zones",
            "reportId": "12301",
            "reportEMIL": "NP6-905-CD",
            "downloadLimit": 0,
        },
        "fields": ERCOT_FIELDS,
        "data": rows,
    }


# Real ERCOT prices: HB_HUBAVG real-time SPP on 2024-05-01, hours ending 13 and 14 (12:00-14:00
# CDT = 17:00-19:00 UTC), from Ballast's bundled ercot_rtm_hb_hubavg_15min_2024_2025.parquet
# (ERCOT NP6-905-CD, provenance in src/ballast/data/bundled/PROVENANCE.md), in the API's row
# layout. settlementPointType "HU" (hub) is ERCOT's code for hubs in NP6-905-CD.
ERCOT_REAL_ROWS = [
    ["2024-05-01", 13, 1, "HB_HUBAVG", "HU", 7.62, False],
    ["2024-05-01", 13, 2, "HB_HUBAVG", "HU", 8.97, False],
    ["2024-05-01", 13, 3, "HB_HUBAVG", "HU", 8.39, False],
    ["2024-05-01", 13, 4, "HB_HUBAVG", "HU", 9.32, False],
    ["2024-05-01", 14, 1, "HB_HUBAVG", "HU", 8.90, False],
    ["2024-05-01", 14, 2, "HB_HUBAVG", "HU", 8.79, False],
    ["2024-05-01", 14, 3, "HB_HUBAVG", "HU", 8.49, False],
    ["2024-05-01", 14, 4, "HB_HUBAVG", "HU", 9.01, False],
]


# Rows of a REAL NP6-905-CD answer, as recorded in the executed output of gridstatus/gridstatus
# docs/Examples/ercot_api/ERCOT API Examples.ipynb @ 6a500a8 (first and last rows shown of a
# 10,000-row answer; delivered 2024-01-18, resource nodes "RN"; DSTFlag a JSON boolean).
ERCOT_RECORDED_ROWS = [
    ["2024-01-18", 13, 4, "ZIER_SLR_ALL", "RN", 11.08, False],
    ["2024-01-18", 13, 4, "YNG_WND_ALL", "RN", 11.08, False],
    ["2024-01-18", 11, 1, "STP_STP_G1", "RN", 13.56, False],
    ["2024-01-18", 11, 1, "STELLA_RN", "RN", 13.56, False],
]


class ErcotApi:
    """ERCOT's Public API as far as the price feed uses it: the B2C sign-in (POST
    /ercot/token) issues ID tokens valid ``ttl_s`` on the injected ``clock``; the report
    (GET /ercot/spp) wants the subscription key and a live token, filters ``rows`` by
    ``settlementPoint`` and delivery dates and answers one page of ``size`` rows."""

    def __init__(self, rows, clock, user="ops@example.com", password="pw", key="k-123", ttl_s=3600.0):
        self.rows, self.clock = rows, clock
        self.user, self.password, self.key, self.ttl_s = user, password, key, ttl_s
        self.tokens: dict[str, float] = {}  # id_token -> expiry [UNIX s]
        self.sign_ins: list[dict[str, str]] = []
        self.pages_served = 0

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.sign_ins.append(form)
        if (form.get("username"), form.get("password")) != (self.user, self.password) or form.get(
            "grant_type"
        ) != "password":
            return web.json_response(
                {
                    "error": "invalid_grant",
                    "error_description": "AADB2C90225: The username or password provided in the "
                    "request are invalid.",
                },
                status=400,
            )
        tok = f"id-{len(self.sign_ins)}"
        self.tokens[tok] = self.clock() + self.ttl_s
        return web.json_response(
            {
                "access_token": f"acc-{len(self.sign_ins)}",
                "token_type": "Bearer",
                "expires_in": str(int(self.ttl_s)),
                "refresh_token": "r",
                "id_token": tok,
            }
        )

    def report(self, request: web.Request) -> web.Response:
        if request.headers.get("Ocp-Apim-Subscription-Key") != self.key:
            return web.json_response(
                {
                    "statusCode": 401,
                    "message": "Access denied due to missing subscription key. Make sure to include "
                    "subscription key when making requests to an API.",
                },
                status=401,
            )
        auth = request.headers.get("Authorization", "")
        tok = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self.clock() >= self.tokens.get(tok, -1.0):
            return web.json_response(
                {"statusCode": 401, "message": "Unauthorized. Access token is missing or invalid."},
                status=401,
            )
        q = request.query
        rows = [
            r
            for r in self.rows
            if r[3] == q.get("settlementPoint", r[3])
            and q.get("deliveryDateFrom", r[0]) <= r[0] <= q.get("deliveryDateTo", r[0])
        ]
        size, page = int(q.get("size", 100_000)), int(q.get("page", 1))
        self.pages_served += 1
        params = {k: v for k, v in q.items() if k not in ("page", "size")}
        doc = ercot_answer(rows[(page - 1) * size : page * size])
        doc["_meta"] = {
            "totalRecords": len(rows),
            "pageSize": size,
            "totalPages": max(1, -(-len(rows) // size)),
            "currentPage": page,
            "query": {"parameterCount": len(params), "parameters": params, "sortedBy": ""},
        }
        return web.Response(text=json.dumps(doc), content_type="application/json")
