"""The site API's authentication, tickets, documented status codes and docs page, over HTTP on
an emulated campus (real uvicorn on loopback; a second client binds another loopback address)."""

from __future__ import annotations

import re

import httpx
import pytest
from live_helpers import OPERATOR_TOKEN, TOKENS, VIEWER_TOKEN, emulated_campus, until

from ballast.live.api import create_app
from ballast.live.health import health_document

pytestmark = pytest.mark.timeout(120)

OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
VW = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
BAD = {"Authorization": "Bearer guess-0000000"}


def _api(**extra: object) -> dict:
    return {"api": {"host": "127.0.0.1", "port": 0, "tokens": TOKENS, **extra}}


async def test_repeated_401s_from_one_client_get_429_with_retry_after(tmp_path):
    async with emulated_campus(tmp_path, **_api(max_auth_failures=3,
                                                auth_failure_window_s=600)) as live:
        await until(lambda: live.runtime.last_tick is not None, 5, "first tick")
        other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client, \
                httpx.AsyncClient(base_url=live.api_url, timeout=5, transport=other) as client2:
            assert (await client.get("/api/v1/state", headers=VW)).status_code == 200
            statuses = [(await client.get("/api/v1/state", headers=h)).status_code
                        for h in (BAD, {}, BAD)]
            assert statuses == [401, 401, 401]
            for path, headers in (("/api/v1/state", VW), ("/api/v1/state", BAD),
                                  ("/dashboard/api/meta", OP), ("/api/v1/stream?ticket=abc", {})):
                r = await client.get(path, headers=headers)
                assert r.status_code == 429, path
                assert 590 <= int(r.headers["retry-after"]) <= 600
                assert "too many failed authentications" in r.json()["detail"]
            r = await client.put("/api/v1/policy", headers=OP, json={"price_usd_per_mwh": 1})
            assert r.status_code == 429 and live.runtime.policy.price_usd_per_mwh == 20.0
            # another client address is not blocked; public routes stay open
            assert (await client2.get("/api/v1/state", headers=VW)).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/openapi.json")).status_code == 200


async def test_stream_tickets_over_http(tmp_path):
    async with emulated_campus(tmp_path) as live:
        rt = live.runtime
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            assert (await client.post("/api/v1/stream-ticket")).status_code == 401
            assert (await client.get("/api/v1/stream")).status_code == 401
            assert (await client.get("/api/v1/stream",
                                     params={"access_token": VIEWER_TOKEN})).status_code == 401
            r = await client.post("/api/v1/stream-ticket", headers=VW)
            assert r.status_code == 200 and r.json()["expires_in_s"] == 30.0
            ticket = r.json()["ticket"]
            assert re.fullmatch(r"[A-Za-z0-9_-]{40,64}", ticket)
            async with client.stream("GET", "/api/v1/stream", params={"ticket": ticket}) as s:
                assert s.status_code == 200
                async for line in s.aiter_lines():
                    if line.startswith("data: "):
                        break
            r = await client.get("/api/v1/stream", params={"ticket": ticket})  # used
            assert r.status_code == 401 and "stream ticket" in r.json()["detail"]
            r = await client.get("/api/v1/stream", params={"ticket": "a" * 500})
            assert r.status_code == 422
            # the header still works for clients that can send one
            async with client.stream("GET", "/api/v1/stream", headers=OP) as s:
                assert s.status_code == 200


async def test_stream_ticket_expires_on_the_monotonic_clock(tmp_path):
    """The API built with an injected monotonic clock (ASGI, same runtime)."""
    async with emulated_campus(tmp_path) as live:
        now = [500.0]
        app = create_app(live.runtime, live.site, monotonic=lambda: now[0])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            ticket = (await client.post("/api/v1/stream-ticket", headers=VW)).json()["ticket"]
            now[0] += 30.0
            r = await client.get("/api/v1/stream", params={"ticket": ticket})
            assert r.status_code == 401


def _documented(op: dict) -> set[int]:
    return {int(c) for c in op["responses"]}


def _healthy(rt) -> bool:
    """Ticks on time and the store writer keeping up (what 503 answers depend on)."""
    doc = health_document(rt)
    return bool(doc["ok"] and doc["store"].get("healthy", True) is not False)


async def test_openapi_lists_every_status_each_route_returns(tmp_path):
    """Walk /openapi.json: each operation documents 401/429 if it needs a token, 403 if it
    acts, 422 if it takes input; and what each route actually returns to no token, a viewer
    and hostile input is among the codes it documents."""
    async with emulated_campus(tmp_path, **_api(max_auth_failures=1000)) as live:
        await until(lambda: live.runtime.last_tick is not None, 5, "first tick")
        # a clean clone compiles the controller in its first ticks: /healthz answers 503 (ticks
        # late) until they run on time; the walk is about the input, so it starts healthy
        await until(lambda: health_document(live.runtime)["ok"], 30, "ticks on time")
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            spec = (await client.get("/openapi.json")).json()
            public = {"/healthz", "/dashboard/api/style"}
            checked = 0
            for path, ops in spec["paths"].items():
                for method, op in ops.items():
                    codes = _documented(op)
                    takes_input = bool(op.get("parameters") or op.get("requestBody"))
                    if path not in public:
                        assert {401, 429} <= codes, (method, path, codes)
                    if op.get("tags") == ["act"]:
                        assert 403 in codes, (method, path)
                    if method != "get":
                        assert 413 in codes, (method, path)
                    if takes_input:
                        assert 422 in codes, (method, path)
                    url = path.replace("{group}", "s21").replace("{event_id}", "nope")
                    if path == "/api/v1/stream":
                        continue  # endless for a good token; refusals checked below
                    cases = [({}, None), (VW, None)]
                    if takes_input:
                        cases.append((OP, "{\"x\": NaN}"))
                    if method != "get":
                        cases.append((OP, " " * 20_000))
                    for headers, body in cases:
                        h = {**headers, "Content-Type": "application/json"}
                        r = await client.request(method.upper(), url, headers=h,
                                                 content=body,
                                                 params={"limit": "-1"} if body else None)
                        assert r.status_code in codes | {200, 201}, (method, path, r.status_code)
                        for _ in range(3):  # 503 is documented: ticks late or the store
                            # behind (a loaded machine); once both recover the request must pass
                            if r.status_code != 503:
                                break
                            await until(lambda: _healthy(live.runtime), 30, "ticks and store")
                            r = await client.request(method.upper(), url, headers=h,
                                                     content=body,
                                                     params={"limit": "-1"} if body else None)
                        assert r.status_code != 429 and r.status_code < 500, (method, path, r.text)
                        if not headers and path not in public:
                            assert r.status_code == 401, (method, path)
                    checked += 1
            assert checked >= 15
            stream = _documented(spec["paths"]["/api/v1/stream"]["get"])
            for params in ({}, {"ticket": "used-or-unknown"}, {"ticket": "a b"}):
                r = await client.get("/api/v1/stream", params=params)
                assert r.status_code in stream and r.status_code >= 400
            assert {"/api/v1/stream-ticket", "/dashboard/api/meta"} <= set(spec["paths"])


async def test_unexpected_errors_are_a_json_500_that_leaks_nothing(tmp_path):
    async with emulated_campus(tmp_path) as live:
        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("password=hunter2 in /secret/path")

        live.runtime.store.commands = broken
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            r = await client.get("/api/v1/commands", headers=VW)
        assert r.status_code == 500
        assert r.json() == {"detail": "internal error (logged by the site)"}
        assert "hunter2" not in r.text


@pytest.mark.parametrize("enabled", [False, True])
async def test_docs_load_no_third_party_assets(tmp_path, enabled):
    async with emulated_campus(tmp_path, **_api(docs=enabled)) as live:
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            assert (await client.get("/redoc")).status_code == 404
            assert (await client.get("/openapi.json")).status_code == 200
            r = await client.get("/docs")
            if not enabled:
                assert r.status_code == 404
                return
            assert r.status_code == 200 and "swagger-ui" in r.text
            hosts = re.findall(r"https?://[^\s\"'<>/]+", r.text)
            assert hosts == [], hosts  # nothing from another host, not even our own absolute
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assets = re.findall(r"(?:src|href)=[\"']([^\"']+)[\"']", r.text)
            assert len(assets) >= 3
            for url in assets:
                assert url.startswith("/docs/assets/"), url
                a = await client.get(url)
                assert a.status_code == 200 and len(a.content) > 500, url
            assert (await client.get("/docs/assets/index.html")).status_code == 404
