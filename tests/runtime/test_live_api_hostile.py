"""Hostile input to the site API on an emulated campus (real uvicorn on loopback, httpx):
strict request models, 422 never 500, no state change on refusal, bounded audit of refusals,
no non-finite number in the tick stream."""

from __future__ import annotations

import json
import math

import httpx
import pytest
from live_helpers import OPERATOR_TOKEN, VIEWER_TOKEN, emulated_campus, until

from ballast.live.api import _sse

pytestmark = pytest.mark.timeout(120)

OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}", "Content-Type": "application/json"}
VW = {"Authorization": f"Bearer {VIEWER_TOKEN}", "Content-Type": "application/json"}
LIMIT_MW = 200.0  # the test campus's import limit
BIG = "g" * 60_000  # the 60 kB name of the fault campaign
MID = "g" * 10_000  # under the 16-kB body limit, far over any field's

# (method, path, raw JSON body, a word the 422 message must contain). Raw text: NaN, Infinity
# and 1e400 are what Python's JSON parser turns into non-finite floats.
HOSTILE: list[tuple[str, str, str, str]] = [
    ("PUT", "/api/v1/policy", '{"price_usd_per_mwh": NaN}', "price_usd_per_mwh"),
    ("PUT", "/api/v1/policy", '{"price_usd_per_mwh": Infinity}', "price_usd_per_mwh"),
    ("PUT", "/api/v1/policy", '{"hashprice_usd_per_ph_day": -Infinity}', "hashprice"),
    ("PUT", "/api/v1/policy", '{"import_margin_mw": 1e400}', "import_margin_mw"),
    ("PUT", "/api/v1/policy", '{"import_margin_mw": NaN}', "import_margin_mw"),
    ("PUT", "/api/v1/policy", '{"price_usd_per_mwh": true}', "price_usd_per_mwh"),
    ("PUT", "/api/v1/policy", '{"economic_dispatch": "yes"}', "economic_dispatch"),
    ("PUT", "/api/v1/policy", '{"economic_dispatch": 1}', "economic_dispatch"),
    ("PUT", "/api/v1/policy", '{"price_usd_per_mwh": "30"}', "price_usd_per_mwh"),
    ("PUT", "/api/v1/policy", '{"import_limit_mw": 900}', "import_limit_mw"),
    ("PUT", "/api/v1/policy", '{"import_margin_mw": 250}', "import limit"),  # > 200 MW limit
    ("PUT", "/api/v1/policy", '{"import_margin_mw": 1e9}', "import_margin_mw"),
    ("PUT", "/api/v1/policy", json.dumps({MID: 1}), "Extra"),
    ("PUT", "/api/v1/policy", "[1, 2]", "body"),
    ("PUT", "/api/v1/policy", "{", "JSON"),
    ("POST", "/api/v1/dr-events", '{"duration_s": 60, "reduction_mw": Infinity}', "reduction_mw"),
    ("POST", "/api/v1/dr-events", '{"duration_s": 60, "reduction_mw": NaN}', "reduction_mw"),
    ("POST", "/api/v1/dr-events", '{"duration_s": 1e400, "reduction_mw": 5}', "duration_s"),
    ("POST", "/api/v1/dr-events", '{"duration_s": 60, "reduction_mw": 5000}', "import limit"),
    ("POST", "/api/v1/dr-events", '{"duration_s": true, "reduction_mw": 5}', "duration_s"),
    ("POST", "/api/v1/dr-events", '{"duration_s": 60, "reduction_share": "0.5"}',
     "reduction_share"),
    ("POST", "/api/v1/dr-events", '{"end": 1900000000, "reduction_mw": 5}', "end"),
    ("POST", "/api/v1/dr-events", json.dumps({"end": MID, "reduction_mw": 5}), "end"),
    ("POST", "/api/v1/dr-events", '{"duration_s": 60, "reduction_mw": 5, "cap_mw": 0}',
     "cap_mw"),
    ("POST", "/api/v1/dr-events", '{"duration_s": 60}', "reduction"),
    ("POST", f"/api/v1/groups/{BIG}/curtail", "", "group"),
    ("DELETE", f"/api/v1/dr-events/{BIG}", "", "event_id"),
    ("DELETE", "/api/v1/dr-events/a%20b%3Cscript%3E", "", "event_id"),
]


async def test_hostile_bodies_get_a_422_naming_the_field_and_change_nothing(tmp_path):
    async with emulated_campus(tmp_path) as live:
        rt = live.runtime
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        policy = dict(vars(rt.policy))
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as client:
            for method, path, body, word in HOSTILE:
                r = await client.request(method, path, headers=OP, content=body)
                case = (method, path[:60], body[:60])
                assert r.status_code == 422, (case, r.status_code, r.text[:300])
                assert word.lower() in r.text.lower(), (case, r.text[:300])
                assert len(r.content) < 5_000, case  # the 60 kB input is not echoed back
            assert vars(rt.policy) == policy
            assert rt.dr_events == {} and rt.modes == {"s21": "auto", "s19xp": "auto"}
            # each refusal is audited once, naming the field (the 11th case: within the
            # 20 rows per window the audit keeps)
            over = [a for a in rt.store.audit(limit=1000)
                    if "import_margin_mw 250 MW is above" in json.dumps(a["payload"])]
            assert len(over) == 1 and over[0]["actor"] == "alice"
            assert over[0]["result"] == "refused: invalid input"
            assert over[0]["action"] == "PUT /api/v1/policy"
            # strict but not narrower than before: ints are numbers, booleans are booleans
            r = await client.put("/api/v1/policy", headers=OP,
                                 json={"price_usd_per_mwh": 40, "economic_dispatch": False,
                                       "import_margin_mw": 2.5})
            assert r.status_code == 200, r.text
            assert (rt.policy.price_usd_per_mwh, rt.policy.economic_dispatch,
                    rt.policy.import_margin_mw) == (40.0, False, 2.5)
            r = await client.post("/api/v1/dr-events", headers=OP,
                                  json={"start": "2026-11-25T08:00:00Z",
                                        "end": "2026-11-25T09:00:00+01:00", "reduction_mw": 5})
            assert r.status_code == 422 and "after start" in r.text  # 08:00 UTC is 09:00+01
            r = await client.post("/api/v1/dr-events", headers=OP,
                                  json={"duration_s": 60, "reduction_mw": LIMIT_MW})
            assert r.status_code == 201, r.text


async def test_a_large_body_is_refused_before_it_is_read(tmp_path):
    """16 kB is far more than any valid body; anyone reaching the port (no token needed,
    FastAPI reads bodies before authentication) gets 413 for more, chunked or not."""
    async def chunks():
        for _ in range(100):
            yield b" " * 1024

    async with emulated_campus(tmp_path) as live:
        rt = live.runtime
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        policy = dict(vars(rt.policy))
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as client:
            big = json.dumps({"price_usd_per_mwh": 40, "pad": "x" * 20_000})
            for headers in (OP, {}):
                r = await client.put("/api/v1/policy", headers=headers, content=big)
                assert r.status_code == 413 and "16384 bytes" in r.json()["detail"]
            r = await client.put("/api/v1/policy", headers=OP, content=chunks())
            assert r.status_code == 413
            r = await client.put("/api/v1/policy", headers=OP,
                                 content=json.dumps({"price_usd_per_mwh": 41}) + " " * 15_000)
            assert r.status_code == 200 and rt.policy.price_usd_per_mwh == 41.0
        assert {k: v for k, v in vars(rt.policy).items() if k != "price_usd_per_mwh"} == {
            k: v for k, v in policy.items() if k != "price_usd_per_mwh"}


async def test_refused_requests_write_a_bounded_audit(tmp_path):
    """The fault campaign's disk filler: refused requests with a 60-kB group name (18 MB of
    audit rows in 1.2 s before). Now each row is clipped and each principal gets at most
    ``refused_audit_rows`` rows per window; the rest are counted in one summary row per window
    (the table of cases with an injected clock: test_live_api_auth.py)."""
    tokens = [{"name": "alice", "role": "operator", "token": OPERATOR_TOKEN},
              {"name": "wall", "role": "viewer", "token": VIEWER_TOKEN}]
    n = 40
    async with emulated_campus(tmp_path, api={"host": "127.0.0.1", "port": 0, "tokens": tokens,
                                              "refused_audit_rows": 5,
                                              "refused_audit_window_s": 5.0}) as live:
        rt = live.runtime
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as client:
            for _ in range(n):  # viewer: 403 (denied role), the path is 60 kB
                r = await client.post(f"/api/v1/groups/{BIG}/curtail", headers=VW)
                assert r.status_code == 403
            for _ in range(n):  # operator: unknown group of 200 chars -> 404
                r = await client.post(f"/api/v1/groups/{'x' * 200}/curtail", headers=OP)
                assert r.status_code == 404

        def accounted(actor: str) -> int:  # rows written + refusals counted in summaries
            rows = [r for r in rt.store.audit(limit=1000) if r["actor"] == actor]
            return sum(r["payload"]["suppressed"] if r["action"] == "refused.suppressed"
                       else 1 for r in rows)

        # every refusal is accounted for once its window has closed (flushed every tick)
        await until(lambda: accounted("wall") == n and accounted("alice") == n, 15,
                    "summary rows")
        rows = rt.store.audit(limit=1000)
        refused = [r for r in rows if r["action"] != "refused.suppressed"]
        assert len(refused) < 2 * n  # some were suppressed, not written
        assert sum(len(json.dumps(r)) for r in rows) < len(rows) * 2_500
        for r in refused:
            assert len(r["action"]) < 260 and len(json.dumps(r["payload"])) < 2_100
        assert all("[truncated, 600" in r["action"] for r in refused
                   if r["actor"] == "wall")
        assert {r["result"] for r in rows if r["action"] == "refused.suppressed"} <= {
            f"{k} more refused requests suppressed" for k in range(1, n)}
        assert rt.modes == {"s21": "auto", "s19xp": "auto"}


async def test_the_tick_stream_is_strict_json(tmp_path):
    """A DR event of ``reduction_mw: Infinity`` used to be accepted and put ``Infinity`` into
    the stream, which browsers' JSON.parse refuses (the dashboard stopped)."""
    def no_constants(name: str) -> float:
        raise AssertionError(f"{name} in the stream")

    async with emulated_campus(tmp_path) as live:
        rt = live.runtime
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as client:
            r = await client.post("/api/v1/dr-events", headers=OP,
                                  content='{"duration_s": 600, "reduction_mw": Infinity}')
            assert r.status_code == 422
            r = await client.post("/api/v1/dr-events", headers=OP,
                                  json={"duration_s": 600, "reduction_mw": 20})
            assert r.status_code == 201
            ticket = (await client.post("/api/v1/stream-ticket", headers=VW)).json()["ticket"]
            docs = []
            async with client.stream("GET", "/api/v1/stream", params={"ticket": ticket}) as s:
                async for line in s.aiter_lines():
                    if line.startswith("data: "):
                        docs.append(json.loads(line[6:], parse_constant=no_constants))
                        if len(docs) == 3:
                            break
        assert any(e["kind"] == "dr" for e in docs[-1]["active_events"])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_sse_refuses_a_non_finite_number(bad):
    """The tick document carries null for an unknown number; a non-finite one is a bug, and
    it fails here loudly instead of corrupting every client."""
    with pytest.raises(ValueError, match="JSON compliant"):
        _sse({"tick": 1, "power_mw": {"import": bad}})
    assert b'"import": null' in _sse({"tick": 1, "power_mw": {"import": None}})
