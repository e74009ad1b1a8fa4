"""The store on both backends, same assertions: SQLite (file, WAL) and a real PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest

from ballast.live.store import (
    MEASUREMENT_COLUMNS,
    CommandRecord,
    EventRecord,
    SqliteStore,
    Store,
    TickRecord,
    open_store,
)
from ballast.live.store_schema import DDL, PG_TYPES, SQLITE_TYPES


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    if request.param == "sqlite":
        s = open_store(str(tmp_path / "s.db"))
    else:
        s = open_store(request.getfixturevalue("pg_dsn"))
    assert s.kind == request.param
    yield s
    s.close()


def _tick(n: int, **meas) -> TickRecord:
    m = {c: 1.0 for c in MEASUREMENT_COLUMNS}
    m.update(tick=n, time_s=1000.0 + n, binding_rule="economics", safe_mode=0,
             cap_mw=float("inf"), **meas)
    return TickRecord(
        n, m, [("s21", 5, 10, "auto", 4), ("s19xp", 0, 10, "curtailed", None)],
        [CommandRecord(1000.0 + n, None, "sleep", 3, 2, 0.01, {"ok": 2, "timeout": 1},
                       [("10.0.0.3", "timeout")])],
        [EventRecord(1000.0 + n, "dr_start", f"tick {n}", {"baseline_import_mw": 190.0})],
        {"econ_on": [True, False], "tick": n})


def test_tick_round_trip(store):
    for n in (1, 2, 3):
        store.write_tick(_tick(n, import_mw=190.0 + n))
    assert store.ticks() == [1, 2, 3]
    rows = store.measurements(limit=2)
    assert [r["tick"] for r in rows] == [2, 3]  # the latest 2, oldest first
    assert rows[-1]["import_mw"] == 193.0
    assert rows[-1]["cap_mw"] is None  # +inf (no cap) is stored as NULL
    assert [r["tick"] for r in store.measurements(since_s=1002.0, until_s=1003.0)] == [2]
    sp = store.setpoints(3)
    assert [(r["group_name"], r["running_target"], r["mode"], r["verified_asleep"])
            for r in sp] == [("s19xp", 0, "curtailed", None), ("s21", 5, "auto", 4)]
    cmd = store.commands()[-1]
    assert (cmd["ok"], cmd["failed"], cmd["counts"]) == (2, 1, {"ok": 2, "timeout": 1})
    assert cmd["failures"] == [["10.0.0.3", "timeout"]]
    ev = store.events(kind="dr_start")
    assert len(ev) == 3 and ev[0]["data"] == {"baseline_import_mw": 190.0}
    assert store.load_state() == (3, 1003.0, {"econ_on": [True, False], "tick": 3})


def test_a_failed_tick_writes_nothing(store):
    store.write_tick(_tick(1))
    store.write_tick(_tick(1))  # duplicate tick: rejected in the writer, never raised here
    assert store.ticks() == [1]  # the whole second transaction rolled back
    assert len(store.events()) == 1 and len(store.commands()) == 1
    assert store.load_state()[0] == 1
    st = store.stats()
    assert (st["rejected"], st["write_failures"], st["committed"]) == (1, 1, 1)
    assert "unique" in st["last_error"].lower()  # an error of the data is not retried
    store.write_tick(_tick(2))  # the connection is usable afterwards
    assert store.ticks() == [1, 2]
    assert store.stats()["consecutive_failures"] == 0 and store.healthy


def test_audit_and_dr_events(store):
    assert store.load_state() is None
    store.add_audit(5.0, "alice", "operator", "dr.create", {"reduction_mw": 5}, "ok")
    store.add_audit(6.0, "wall", "viewer", "POST /x", {}, "denied: viewer role")
    assert [(a["actor"], a["result"]) for a in store.audit()] == [
        ("alice", "ok"), ("wall", "denied: viewer role")]
    assert store.audit()[0]["payload"] == {"reduction_mw": 5}
    store.add_dr_event("e1", 10.0, 20.0, 5.0, None, 1.0, "alice")
    store.add_dr_event("e2", 30.0, 40.0, None, 0.1, 1.0, "alice")
    assert [e["id"] for e in store.dr_events(include_past=False, now_s=15.0)] == ["e1", "e2"]
    store.cancel_dr_event("e1", 16.0)
    store.cancel_dr_event("e1", 17.0)  # already cancelled: the first time stays
    store.cancel_dr_event("nope", 17.0)  # no such event: changes nothing
    assert [e["id"] for e in store.dr_events(include_past=False, now_s=16.5)] == ["e2"]
    assert store.dr_events()[0]["cancelled_s"] == 16.0


def test_sqlite_is_wal_with_full_sync(tmp_path):
    s = SqliteStore(str(tmp_path / "w.db"))
    try:
        assert s.flush()  # the writer's connection is idle: look at its settings
        assert s._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert s._conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    finally:
        s.close()


def test_same_schema_on_both_backends(tmp_path, pg_dsn):
    lite = sqlite3.connect(tmp_path / "a.db")
    SqliteStore(str(tmp_path / "a.db")).close()
    tables = {r[0]: [c[1] for c in lite.execute(f"PRAGMA table_info({r[0]})")]
              for r in lite.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                    "AND name NOT LIKE 'sqlite_%'")}
    lite.close()
    pg = open_store(pg_dsn)
    try:
        rows = pg._query("SELECT table_name, column_name FROM information_schema.columns "
                         "WHERE table_schema = current_schema() ORDER BY ordinal_position")
    finally:
        pg.close()
    pg_tables: dict[str, list[str]] = {}
    for r in rows:
        pg_tables.setdefault(r["table_name"], []).append(r["column_name"])
    assert pg_tables == tables
    assert set(tables) == {"measurements", "setpoints", "commands", "events", "audit",
                           "dr_events", "runtime_state"}


def test_postgres_store_reconnects_after_losing_its_session(pg_dsn):
    import psycopg

    store = open_store(pg_dsn)
    try:
        store.write_tick(_tick(1))
        assert store.flush()
        pid = store._conn.info.backend_pid
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        store.write_tick(_tick(2))  # fails on the dead session, is retried on a new one
        assert store.ticks() == [1, 2]
        assert store._conn.info.backend_pid != pid
        st = store.stats()
        assert st["write_failures"] == 1 and st["rejected"] == 0
        assert "terminating connection" in st["last_error"]
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_of_an_older_version_gets_the_new_columns(backend, tmp_path, request):
    """A store created before ``setpoints.verified_asleep`` existed, with a tick in it: opening
    it adds the column (NULL in the old row: not recorded); new ticks store it; opening again
    changes nothing."""
    old_ddl = DDL.replace("  verified_asleep BIGINT,\n", "")
    assert old_ddl != DDL
    old_row = ("INSERT INTO setpoints (tick, group_name, time_s, running_target, controllable, "
               "mode) VALUES (1, 's21', 1001.0, 5, 10, 'auto')")
    if backend == "sqlite":
        dsn = str(tmp_path / "old.db")
        with sqlite3.connect(dsn) as conn:
            conn.executescript(old_ddl.format(**SQLITE_TYPES))
            conn.execute(old_row)
        conn.close()
    else:
        import psycopg

        dsn = request.getfixturevalue("pg_dsn")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for stmt in old_ddl.format(**PG_TYPES).split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(old_row)
    s = open_store(dsn)
    try:
        assert [r["verified_asleep"] for r in s.setpoints(1)] == [None]
        s.write_tick(_tick(2, import_mw=190.0))
        assert s.flush()
    finally:
        s.close()
    s = open_store(dsn)  # opened again: the column is there already
    try:
        assert [(r["group_name"], r["verified_asleep"]) for r in s.setpoints(2)] == [
            ("s19xp", None), ("s21", 4)]
        assert [r["verified_asleep"] for r in s.setpoints(1)] == [None]
    finally:
        s.close()
