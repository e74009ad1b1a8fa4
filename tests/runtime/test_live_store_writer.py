"""The store's writer thread and readers on both backends (SQLite file, real PostgreSQL).

A stalled store is made for real: another connection holds the write lock (SQLite
``BEGIN IMMEDIATE``; PostgreSQL ``LOCK TABLE ... IN EXCLUSIVE MODE``, which lets readers read).
Whether a call waited for the database is asserted structurally: it returned while the lock
was held and its rows were not yet committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_live_store import _tick

from ballast.live.store import MEASUREMENT_COLUMNS, Store, StoreBehind, open_store

pytestmark = pytest.mark.timeout(60)

TABLES = "measurements, setpoints, commands, events, audit, dr_events, runtime_state"


class Backend:
    """Opens stores on one database and stalls their writer with a lock held elsewhere."""

    def __init__(self, kind: str, dsn: str) -> None:
        self.kind, self.dsn = kind, dsn
        self.opened: list[Store] = []

    def open(self, **limits: Any) -> Store:
        s = open_store(self.dsn, **limits)
        self.opened.append(s)
        return s

    def raw(self, sql: str) -> list[tuple]:
        """Read what is committed, on a connection of the test's own (no write barrier)."""
        if self.kind == "sqlite":
            con = sqlite3.connect(self.dsn)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as con:
            return con.execute(sql).fetchall()

    @contextlib.contextmanager
    def stalled(self) -> Iterator[Callable[[], None]]:
        """Hold the lock; yields ``release`` (idempotent, callable from any thread)."""
        if self.kind == "sqlite":
            con: Any = sqlite3.connect(self.dsn, isolation_level=None, check_same_thread=False)
            con.execute("BEGIN IMMEDIATE")  # holds the write lock: the writer gets SQLITE_BUSY
        else:
            import psycopg

            con = psycopg.connect(self.dsn)
            con.execute(f"LOCK TABLE {TABLES} IN EXCLUSIVE MODE")  # inserts wait, reads do not
        lock = threading.Lock()
        held = [True]

        def release() -> None:
            with lock:
                if held[0]:
                    held[0] = False
                    con.rollback()
                    con.close()

        try:
            yield release
        finally:
            release()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path) -> Iterator[Backend]:
    dsn = (str(tmp_path / "w.db") if request.param == "sqlite"
           else request.getfixturevalue("pg_dsn"))
    b = Backend(request.param, dsn)
    yield b
    for s in b.opened:
        s.close()


def _wait(pred: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_writes_return_while_the_store_is_stalled_and_commit_in_order_after(backend):
    store = backend.open()
    with backend.stalled():
        for n in (1, 2, 3):
            store.write_tick(_tick(n))
            store.add_audit(float(n), "alice", "operator", f"act {n}", {}, "ok")
        # every call returned though nothing could commit
        assert backend.raw("SELECT count(*) FROM measurements") == [(0,)]
        assert backend.raw("SELECT count(*) FROM audit") == [(0,)]
        st = store.stats()
        assert st["backlog_ticks"] == 3 and st["backlog_items"] == 6
        if backend.kind == "sqlite":  # SQLite reports the lock; PostgreSQL just waits on it
            _wait(lambda: store.stats()["consecutive_failures"] >= 2, "retries")
            assert not store.healthy
            assert "locked" in store.stats()["unhealthy_reason"]
    assert store.flush(10.0)
    assert store.ticks() == [1, 2, 3]
    assert [a["action"] for a in store.audit()] == ["act 1", "act 2", "act 3"]
    # one order across tables: each tick's event was written before the next audit row
    assert [e["message"] for e in store.events()] == ["tick 1", "tick 2", "tick 3"]
    st = store.stats()
    assert st["backlog_items"] == 0 and st["consecutive_failures"] == 0 and store.healthy
    assert st["committed"] == 6 and st["last_committed_tick"] == 3
    assert st["write_latency_max_s"] is not None


def test_a_full_backlog_coalesces_measurements_and_keeps_every_event(backend):
    store = backend.open(max_backlog_ticks=3)
    with backend.stalled():
        for n in range(1, 7):
            store.write_tick(_tick(n))
        store.add_audit(7.0, "alice", "operator", "between", {}, "ok")
        for n in range(7, 11):
            store.write_tick(_tick(n))
        st = store.stats()
        assert st["ticks_coalesced"] == 7  # 4..10: past the bound of 3 queued ticks
        assert st["backlog_ticks"] <= 4 and not store.healthy
    assert store.flush(10.0)
    assert store.ticks() == [1, 2, 3]  # measurement rows of 4..10 were coalesced away
    assert store.load_state()[0] == 10  # the state row still reached the newest tick
    kinds = [(e["kind"], e["tick"]) for e in store.events(limit=1000)]
    assert [t for k, t in kinds if k == "dr_start"] == list(range(1, 11))  # all, in order
    assert len(store.commands(limit=1000)) == 10
    coalesced = store.events(kind="store_coalesced")
    assert [(e["data"]["first_tick"], e["data"]["last_tick"]) for e in coalesced] == [
        (4, 6), (7, 10)]
    # the audit row queued between them stays between them
    assert store.audit()[0]["action"] == "between"
    assert kinds.index(("dr_start", 6)) < kinds.index(("store_coalesced", 6))
    assert store.healthy


def test_rows_over_the_cap_are_dropped_counted_and_reported(backend):
    store = backend.open(max_backlog_rows=4)
    with backend.stalled():
        for n in range(6):
            store.add_audit(float(n), "wall", "viewer", f"denied {n}", {}, "denied")
        assert store.stats()["rows_dropped"] == 2
        store.write_tick(_tick(1))  # a tick is never dropped
    assert store.flush(10.0)
    assert [a["action"] for a in store.audit()] == [f"denied {n}" for n in range(4)]
    (ev,) = store.events(kind="store_coalesced")
    assert ev["data"]["rows_dropped"] == 2 and ev["tick"] == 1
    assert store.ticks() == [1]


def test_close_flushes_the_queue(backend):
    store = backend.open()
    with backend.stalled() as release:
        for n in range(1, 21):
            store.write_tick(_tick(n))
        store.add_event(_tick(0).events[0])
        assert backend.raw("SELECT count(*) FROM measurements") == [(0,)]
        threading.Timer(0.3, release).start()  # the lock goes away while close() drains
        assert store.close(timeout_s=20.0) == 0
    assert backend.raw("SELECT count(*) FROM measurements") == [(20,)]
    assert backend.raw("SELECT count(*) FROM events") == [(21,)]
    with pytest.raises(RuntimeError, match="closed"):
        store.write_tick(_tick(21))  # loud, not lost


def test_close_gives_up_at_its_deadline_and_says_how_much_was_lost(backend):
    store = backend.open()
    with backend.stalled():
        for n in range(1, 4):
            store.write_tick(_tick(n))
        lost = store.close(timeout_s=0.3)
        assert lost == 3
        assert store.stats()["lost_at_close"] == 3


def test_a_read_waits_for_earlier_writes_and_reports_a_stalled_store(backend):
    store = backend.open(read_wait_s=0.3)
    store.write_tick(_tick(1))
    assert store.ticks() == [1]  # read-your-writes: queued before the read, so seen
    with backend.stalled():
        store.write_tick(_tick(2))
        with pytest.raises(StoreBehind, match="store is behind: 1 writes queued"):
            store.ticks()
    assert store.ticks() == [1, 2]


async def test_aread_runs_in_the_reader_pool_and_sees_queued_writes(backend):
    store = backend.open()
    store.write_tick(_tick(1))
    loop_thread = threading.get_ident()
    thread, ticks = await store.aread(lambda: (threading.get_ident(), store.ticks()))
    assert thread != loop_thread and ticks == [1]
    # the loop keeps running while a read waits for a stalled writer
    with backend.stalled():
        store.write_tick(_tick(2))
        read = asyncio.ensure_future(store.aread(store.ticks))
        beats = 0
        for _ in range(5):
            await asyncio.sleep(0.01)
            beats += 1
        assert beats == 5 and not read.done()
    assert await read == [1, 2]


def test_history_pages_have_no_gaps_or_duplicates(backend):
    store = backend.open()
    for n in range(1, 251):
        store.write_tick(_tick(n))
    forward: list[int] = []
    cursor: dict[str, int] | None = {"after_tick": 0}
    sizes = []
    while cursor is not None:
        rows, cursor = store.history_page(limit=100, **cursor)
        sizes.append(len(rows))
        forward += [r["tick"] for r in rows]
    assert forward == list(range(1, 251)) and sizes == [100, 100, 50]
    backward: list[list[int]] = []
    cursor = {}
    while cursor is not None:
        rows, cursor = store.history_page(limit=100, **cursor)
        backward.append([r["tick"] for r in rows])  # each page oldest first
    assert backward == [list(range(151, 251)), list(range(51, 151)), list(range(1, 51))]
    # a time window [1000 + 100, 1000 + 175) paged forward in pages of 30
    window: list[int] = []
    cursor = {"after_tick": 0}
    while cursor is not None:
        rows, cursor = store.history_page(1100.0, 1175.0, 30, **cursor)
        window += [r["tick"] for r in rows]
    assert window == list(range(100, 175))
    assert store.measurements(limit=3) == store.history_page(limit=3)[0]


def test_history_json_is_the_page_rendered_by_the_database(backend):
    store = backend.open()
    for n in range(1, 31):
        store.write_tick(_tick(n, import_mw=190.0 + n))
    doc = json.loads(store.history_json(limit=10, after_tick=5))
    rows, nxt = store.history_page(limit=10, after_tick=5)
    assert doc["next"] == nxt == {"after_tick": 15}
    assert [r["tick"] for r in doc["rows"]] == list(range(6, 16))
    assert list(doc["rows"][0]) == list(MEASUREMENT_COLUMNS)  # every column, in order
    assert doc["rows"] == json.loads(json.dumps(rows))  # same values as the Python rows
    assert doc["rows"][0]["import_mw"] == 196.0 and doc["rows"][0]["cap_mw"] is None
    last = json.loads(store.history_json(limit=10))
    assert [r["tick"] for r in last["rows"]] == list(range(21, 31))
    assert last["next"] == {"before_tick": 21}
    assert json.loads(store.history_json(limit=10, after_tick=30)) == {"rows": [], "next": None}


async def test_a_read_after_close_is_refused_clearly(backend):
    store = backend.open()
    store.close()
    with pytest.raises(StoreBehind, match="closed"):
        await store.aread(store.ticks)
