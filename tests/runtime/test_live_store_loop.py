"""No store I/O on the control loop, on the emulated campus (real emulators, uvicorn, SQLite).

Speed is machine-dependent, so these tests assert structure instead of tick gaps: every SQL
statement records the thread it ran on, and none may run on the event loop's thread once the
runtime has started (start-up reads before the first tick are allowed); a store whose write
lock another connection holds does not stop ticks. Timing figures are in
``benchmarks/bench_store.py``.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from live_helpers import OPERATOR_TOKEN, VIEWER_TOKEN, emulated_campus, until
from prometheus_client import CollectorRegistry, generate_latest

from ballast.live.api import HISTORY_MAX_ROWS
from ballast.live.health import RuntimeCollector
from ballast.live.store import Store

pytestmark = pytest.mark.timeout(120)

OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
VW = {"Authorization": f"Bearer {VIEWER_TOKEN}"}


@pytest.fixture
def sql_threads(monkeypatch) -> list[tuple[str, int]]:
    """Every store statement as (write|read, thread id), via wrappers around the two I/O
    methods of ``Store`` (every write and every read goes through one of them)."""
    calls: list[tuple[str, int]] = []
    exec_many, query = Store._exec_many, Store._query

    def _exec_many(self: Store, statements: Any) -> None:
        calls.append(("write", threading.get_ident()))
        exec_many(self, statements)

    def _query(self: Store, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        calls.append(("read", threading.get_ident()))
        return query(self, sql, params)

    monkeypatch.setattr(Store, "_exec_many", _exec_many)
    monkeypatch.setattr(Store, "_query", _query)
    return calls


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_no_store_io_runs_on_the_event_loop_thread(tmp_path, sql_threads, backend, request):
    loop_thread = threading.get_ident()
    dsn = request.getfixturevalue("pg_dsn") if backend == "postgresql" else None
    async with emulated_campus(tmp_path, store_dsn=dsn, ufr={"groups": ["s21"]}) as live:
        assert live.runtime.store.kind == backend
        rt, emu = live.runtime, live.emulated
        started_at = len(sql_threads)  # start-up (resume) reads may run on the loop
        await until(lambda: rt.tick_no >= 3, 10, "three ticks")
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as client:
            r = await client.post("/api/v1/dr-events", headers=OP,
                                  json={"duration_s": 600, "reduction_mw": 5})
            assert r.status_code == 201
            dr_id = r.json()["id"]
            assert (await client.delete(f"/api/v1/dr-events/{dr_id}", headers=OP)
                    ).status_code == 200
            assert (await client.put("/api/v1/policy", headers=OP,
                                     json={"price_usd_per_mwh": 25})).status_code == 200
            assert (await client.post("/api/v1/groups/s19xp/curtail", headers=VW)
                    ).status_code == 403  # audited as denied
            for path in ("/api/v1/history?limit=50", "/api/v1/events", "/api/v1/commands",
                         "/api/v1/audit", "/api/v1/dr-events"):
                r = await client.get(path, headers=VW)
                assert r.status_code == 200, (path, r.text)
            # the under-frequency fast path logs its trip and command through the store too
            emu.meter.step_loss_of_generation(nadir_hz=59.6, fall_s=0.5, hold_s=600.0)
            await until(lambda: rt.ufr_trips == 1 and rt.ufr_cap_mw is not None, 5, "trip")
            tick = rt.tick_no
            await until(lambda: rt.tick_no >= tick + 3, 10, "ticks after the trip")
            r = await client.get("/api/v1/events?kind=ufr_trip", headers=VW)
            assert len(r.json()) == 1
            audit = (await client.get("/api/v1/audit", headers=VW)).json()
            assert [a["action"] for a in audit][-4:] == [
                "dr.create", "dr.cancel", "policy.update", "POST /api/v1/groups/s19xp/curtail"]
            dr = (await client.get("/api/v1/dr-events", headers=VW)).json()
            assert dr[0]["id"] == dr_id and dr[0]["cancelled_s"] is not None
    after_start = sql_threads[started_at:]
    writes = [t for kind, t in after_start if kind == "write"]
    reads = [t for kind, t in after_start if kind == "read"]
    assert len(writes) > 10 and len(reads) >= 8  # the wrappers saw the traffic
    assert loop_thread not in writes + reads  # ...and none of it ran on the loop


async def test_ticks_go_on_while_the_store_is_locked(tmp_path):
    db = tmp_path / "ballast.db"
    async with emulated_campus(tmp_path, store_dsn=str(db)) as live:
        rt = live.runtime
        await until(lambda: rt.tick_no >= 3, 10, "three ticks")
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process would do the same: writer locked out
        try:
            (committed,) = lock.execute("SELECT max(tick) FROM measurements").fetchone()
            tick = rt.tick_no
            await until(lambda: rt.tick_no >= tick + 10, 15, "ten ticks while locked")
            assert lock.execute("SELECT max(tick) FROM measurements").fetchone() == (committed,)
            await until(lambda: rt.store.stats()["consecutive_failures"] >= 1, 5, "retries")
            assert not rt.store.healthy
            assert rt.store.stats()["backlog_ticks"] >= 10
            health = rt.health()  # reported on /healthz, /state and /metrics ...
            assert health["store"]["healthy"] is False and health["store"]["unhealthy_reason"]
            assert health["ok"]  # ... but control goes on, so the runtime itself is healthy
            registry = CollectorRegistry()
            registry.register(RuntimeCollector(rt))
            metrics = generate_latest(registry).decode()
            assert "ballast_store_healthy 0.0" in metrics
        finally:
            lock.rollback()
            lock.close()
        await until(lambda: rt.store.stats()["backlog_items"] == 0, 15, "backlog drained")
        assert rt.store.healthy
        last = rt.tick_no
    ticks = [t for (t,) in sqlite3.connect(db).execute("SELECT tick FROM measurements")]
    assert sorted(ticks) == list(range(1, len(ticks) + 1)) and len(ticks) >= last


async def test_history_is_paged_with_a_hard_cap(tmp_path):
    async with emulated_campus(tmp_path) as live:
        rt = live.runtime
        await until(lambda: rt.tick_no >= 12, 10, "twelve ticks")
        until_iso = datetime.now(UTC).isoformat()
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as client:
            r = await client.get(f"/api/v1/history?limit={HISTORY_MAX_ROWS + 1}", headers=VW)
            assert r.status_code == 422 and str(HISTORY_MAX_ROWS) in r.text
            r = await client.get("/api/v1/history?after_tick=1&before_tick=9", headers=VW)
            assert r.status_code == 422 and "not both" in r.text
            seen: list[int] = []
            params: dict[str, Any] = {"after_tick": 0}
            while True:
                r = await client.get("/api/v1/history", headers=VW,
                                     params={"limit": 5, "until": until_iso, **params})
                assert r.status_code == 200, r.text
                page = r.json()
                assert len(page["rows"]) <= 5
                seen += [row["tick"] for row in page["rows"]]
                if page["next"] is None:
                    break
                params = page["next"]
            assert len(seen) >= 12 and seen == list(range(1, len(seen) + 1))
            newest = (await client.get("/api/v1/history?limit=4", headers=VW)).json()
            ticks = [row["tick"] for row in newest["rows"]]
            assert ticks == sorted(ticks) and len(ticks) == 4
            assert newest["next"] == {"before_tick": ticks[0]}
            spec = (await client.get("/openapi.json")).json()
            hist = spec["paths"]["/api/v1/history"]["get"]
            limit = next(p for p in hist["parameters"] if p["name"] == "limit")
            assert limit["schema"]["maximum"] == HISTORY_MAX_ROWS
