"""Telemetry store: one schema on SQLite (default, WAL) or PostgreSQL (psycopg 3, given a DSN).

Tables: ``measurements`` (one row per tick), ``setpoints`` (per tick and group: the running
target commanded and the miners verified asleep after the tick's fan-out), ``commands``
(every fleet fan-out with its outcome counts), ``events`` (UFR trips, watchdog, DR, manual),
``audit`` (every operator action through the API), ``dr_events`` (posted demand-response
events), and ``runtime_state`` (the controller state written in the same transaction as its
tick, so a restart resumes exactly where the last committed tick left). A store created by an
older version is opened as it is; columns added since (``store_schema.ADDED_COLUMNS``) are
added on open, NULL in the rows written before.

No store I/O on the control loop. Writes (``write_tick``, ``add_event``, ``add_command``,
``add_audit``, ``add_dr_event``, ``cancel_dr_event``) only queue: one writer thread
(``store_writer``) commits them in order, each tick in one transaction, retrying what fails;
what happens when the queue is full is documented there. Reads run on their own connection
per reader thread (SQLite WAL lets readers run beside the writer; PostgreSQL gets one session
per thread), never under the writer's lock. From the event loop, read through
``await store.aread(fn, ...)``: a reader pool of its own (one thread by default, so a burst
of heavy queries queues there instead of taking the default executor the loop needs, or the
GIL). A read first waits (in its thread, up to ``read_wait_s``) until every write queued
before it is committed, so a client reads its own writes; a store further behind raises
``StoreBehind`` (the API answers 503).

Durability: each tick is one transaction. SQLite runs in WAL mode with ``synchronous=FULL``
(survives an OS crash or power loss, one fsync per transaction, now in the writer thread). A
kill -9 loses at most the queued, not yet committed writes (normally none or one tick); a
restart resumes from the last committed tick. ``close()`` flushes the queue within a deadline.
Why a writer thread rather than async drivers: measured, see ``store_writer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ballast.live.store_schema import (
    ADDED_COLUMNS,
    DDL,
    MEASUREMENT_COLUMNS,
    PG_TYPES,
    SQLITE_TYPES,
    CommandRecord,
    EventRecord,
    TickRecord,
    command_stmt,
    event_stmt,
    tick_statements,
)
from ballast.live.store_writer import Item, Stmt, StoreWriter

__all__ = ["MEASUREMENT_COLUMNS", "CommandRecord", "EventRecord", "PostgresStore", "SqliteStore",
           "Store", "StoreBehind", "TickRecord", "open_store"]

T = TypeVar("T")


class StoreBehind(RuntimeError):
    """A read could not see the writes queued before it within ``read_wait_s``."""


def _is_permanent(exc: BaseException, data_errors: tuple[type[BaseException], ...]) -> bool:
    return isinstance(exc, (TypeError, ValueError, *data_errors))


class Store:
    """Base with the shared SQL; subclasses open connections and set the dialect.

    ``max_backlog_ticks``/``max_backlog_rows`` bound the write queue (``store_writer``);
    ``read_wait_s`` bounds how long a read waits for earlier writes; ``read_threads`` is the
    size of the reader pool behind ``aread``."""

    placeholder = "?"
    kind = "base"
    data_errors: tuple[type[BaseException], ...] = ()  # the driver's errors of the data itself
    json_row = "json_object({})"  # the dialect's JSON object of (key, value, ...)
    # one page's rows as a JSON array in tick order, with their count and first/last tick
    json_page = ("SELECT json_group_array(json(doc)) AS doc, count(*) AS n, min(tick) AS first, "
                 "max(tick) AS last FROM (SELECT * FROM ({}) ORDER BY tick)")

    def __init__(self, *, max_backlog_ticks: int = 600, max_backlog_rows: int = 100_000,
                 read_wait_s: float = 5.0, read_threads: int = 1) -> None:
        self._conn: Any = None  # the writer's connection: the writer thread's alone once started
        self._local = threading.local()
        self._readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self.read_wait_s = read_wait_s
        self._pool = ThreadPoolExecutor(read_threads, thread_name_prefix="ballast-store-read")
        self._limits = (max_backlog_ticks, max_backlog_rows)
        self._writer: StoreWriter | None = None

    def _start_writer(self) -> None:
        """Called by subclasses once the schema exists: from here on only the thread writes."""
        self._writer = StoreWriter(
            self._commit_item, lambda e: _is_permanent(e, self.data_errors),
            max_backlog_ticks=self._limits[0], max_backlog_rows=self._limits[1],
            on_exit=self._close_writer_conn)

    def _close_writer_conn(self) -> None:
        """The writer thread, ending (after close), closes its own connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # ----------------------------------------------------------------- plumbing
    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _ensure(self) -> None:
        """Reconnect the writer if its connection was lost (PostgreSQL); SQLite never needs to."""

    def _connect_reader(self) -> Any:
        raise NotImplementedError

    def _reader(self) -> Any:
        """This thread's read connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(conn, "broken", False) or getattr(conn, "closed", False):
            conn = self._local.conn = self._connect_reader()
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _exec_many(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """One transaction on the writer's connection (writer thread; schema set-up)."""
        self._ensure()
        cur = self._conn.cursor()
        try:
            for sql, params in statements:
                cur.execute(self._sql(sql), params)
            self._conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):  # a lost connection cannot roll back
                self._conn.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                cur.close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """A read on this thread's reader connection, after the writes queued before it."""
        seq = getattr(self._local, "seq", None)
        self._wait_writes(self._writer.enqueued_seq if seq is None and self._writer else seq)
        conn = self._reader()
        cur = conn.cursor()
        try:
            cur.execute(self._sql(sql), params)
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            conn.commit()  # end the read transaction (no-op in autocommit)
            return rows
        finally:
            cur.close()

    def _wait_writes(self, seq: int | None) -> None:
        if seq is None or self._writer is None:
            return
        if not self._writer.wait_done(seq, self.read_wait_s):
            n, age_s = self._writer.backlog()
            raise StoreBehind(f"store is behind: {n} writes queued, the oldest {age_s:.1f} s "
                              f"ago (last error: {self._writer.stats()['last_error']})")

    async def aread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run read ``fn(*args)`` in the reader pool (off the event loop); it sees every write
        queued before this call."""
        seq = self._writer.enqueued_seq if self._writer else None
        if self._writer is not None and self._writer.closed:
            raise StoreBehind("store is closed")

        def run() -> T:
            self._local.seq = seq
            try:
                return fn(*args)
            finally:
                self._local.seq = None

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every write queued so far is committed; False after ``timeout_s``."""
        return self._writer is None or self._writer.flush(timeout_s)

    def stats(self) -> dict[str, Any]:
        """Writer figures for /metrics and health (``StoreWriter.stats`` lists them)."""
        assert self._writer is not None
        return self._writer.stats()

    @property
    def healthy(self) -> bool:
        """False while writes fail, the queue is full or its oldest write is stalled."""
        return self._writer is not None and bool(self._writer.stats()["healthy"])

    def close(self, timeout_s: float = 10.0) -> int:
        """Flush within ``timeout_s``, then close every connection; returns writes lost."""
        lost = 0
        if self._writer is not None:
            lost = self._writer.close(timeout_s)
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            with contextlib.suppress(Exception):
                conn.close()
        if self._writer is None:
            self._close_writer_conn()  # else the writer closes it as it ends, even if late
        return lost

    # ------------------------------------------------------------------ writes
    def _commit_item(self, item: Item) -> None:
        """The writer thread's transaction for one queued item."""
        self._exec_many(tick_statements(item) if item.is_tick else item.stmts)

    def _put(self, *stmts: Stmt) -> bool:
        assert self._writer is not None
        return self._writer.put_rows(list(stmts))

    def write_tick(self, rec: TickRecord) -> None:
        """Queue one tick: committed atomically (measurements, setpoints, commands, events,
        state) by the writer. Never blocks; never raises for the database."""
        assert self._writer is not None
        self._writer.put_tick(rec.tick, rec, len(rec.commands) + len(rec.events))

    def add_event(self, event: EventRecord, tick: int | None = None) -> None:
        self._put(event_stmt(tick, event))

    def add_command(self, command: CommandRecord, tick: int | None = None) -> None:
        self._put(command_stmt(tick, command))

    def add_audit(self, time_s: float, actor: str, role: str, action: str,
                  payload: dict[str, Any], result: str) -> None:
        self._put(("INSERT INTO audit (time_s, actor, role, action, payload, result) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (time_s, actor, role, action, json.dumps(payload, default=str), result)))

    def add_dr_event(self, event_id: str, start_s: float, end_s: float,
                     reduction_mw: float | None, reduction_share: float | None,
                     created_s: float, created_by: str) -> None:
        self._put(("INSERT INTO dr_events (id, start_s, end_s, reduction_mw, reduction_share, "
                   "created_s, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (event_id, start_s, end_s, reduction_mw, reduction_share, created_s,
                    created_by)))

    def cancel_dr_event(self, event_id: str, time_s: float) -> None:
        """Queue the cancellation; a second one keeps the first time (the caller knows which
        events are active: the runtime's own list)."""
        self._put(("UPDATE dr_events SET cancelled_s = ? WHERE id = ? AND cancelled_s IS NULL",
                   (time_s, event_id)))

    # ------------------------------------------------------------------- reads
    def load_state(self) -> tuple[int, float, dict[str, Any]] | None:
        """(last committed tick, its time [s], runtime state) or None on a fresh store."""
        rows = self._query("SELECT tick, time_s, state FROM runtime_state WHERE name = 'runtime'")
        if not rows:
            return None
        r = rows[0]
        return int(r["tick"]), float(r["time_s"]), json.loads(r["state"])

    def dr_events(self, include_past: bool = True, now_s: float | None = None
                  ) -> list[dict[str, Any]]:
        if include_past or now_s is None:
            return self._query("SELECT * FROM dr_events ORDER BY start_s, id")
        return self._query("SELECT * FROM dr_events WHERE end_s > ? AND cancelled_s IS NULL "
                           "ORDER BY start_s, id", (now_s,))

    def measurements(self, since_s: float | None = None, until_s: float | None = None,
                     limit: int = 1000) -> list[dict[str, Any]]:
        """Ticks in [since_s, until_s), oldest first; the latest ``limit`` of them."""
        return self.history_page(since_s, until_s, limit)[0]

    @staticmethod
    def _page_sql(select: str, since_s: float | None, until_s: float | None, limit: int,
                  after_tick: int | None, before_tick: int | None
                  ) -> tuple[bool, str, list[Any]]:
        """(forward, SELECT of one page in page order, params): keyset on the tick, walking
        the primary key whatever the time window ("+time_s" keeps the planner off the time
        index, which would read and sort the whole window for every page)."""
        forward = after_tick is not None
        key = int(after_tick) if forward else 2**62 if before_tick is None else int(before_tick)
        where, params = [f"tick {'>' if forward else '<'} ?"], [key]
        for cond, bound in (("+time_s >= ?", since_s), ("+time_s < ?", until_s)):
            if bound is not None:
                where.append(cond)
                params.append(bound)
        return forward, (f"SELECT {select} FROM measurements WHERE {' AND '.join(where)} "
                         f"ORDER BY tick {'' if forward else 'DESC'} LIMIT ?"), [*params, limit]

    def history_page(self, since_s: float | None = None, until_s: float | None = None,
                     limit: int = 1000, after_tick: int | None = None,
                     before_tick: int | None = None
                     ) -> tuple[list[dict[str, Any]], dict[str, int] | None]:
        """One page of ticks in [since_s, until_s), oldest first, by keyset on the tick.

        With ``after_tick``: the first ``limit`` ticks after it; the next page is
        ``{"after_tick": last}`` (None at the end). Otherwise the latest ``limit`` ticks before
        ``before_tick`` (or the newest); the next (older) page is ``{"before_tick": first}``."""
        forward, sql, params = self._page_sql("*", since_s, until_s, limit + 1, after_tick,
                                              before_tick)
        rows = self._query(sql, params)
        more = len(rows) > limit
        rows = rows[:limit] if forward else rows[:limit][::-1]
        if not more:
            return rows, None
        return rows, {"after_tick": rows[-1]["tick"]} if forward else {"before_tick":
                                                                        rows[0]["tick"]}

    def history_json(self, since_s: float | None = None, until_s: float | None = None,
                     limit: int = 1000, after_tick: int | None = None,
                     before_tick: int | None = None) -> bytes:
        """``history_page`` as the JSON document ``{"rows": [...], "next": ...}``, rendered
        and aggregated by the database (in C, without the GIL): a 5,000-row page is one
        string to Python, so the reader thread barely competes with the loop."""
        cols = ", ".join(f"'{c}', {c}" for c in MEASUREMENT_COLUMNS)
        forward, sql, params = self._page_sql(f"tick, {self.json_row.format(cols)} AS doc",
                                              since_s, until_s, limit, after_tick, before_tick)
        (page,) = self._query(self.json_page.format(sql), params)
        nxt = None
        if page["n"]:  # is there a row beyond this page (in the walking direction)?
            edge = page["last"] if forward else page["first"]
            _, more_sql, more_params = self._page_sql(
                "tick", since_s, until_s, 1, edge if forward else None,
                None if forward else edge)
            if self._query(more_sql, more_params):
                nxt = {"after_tick": edge} if forward else {"before_tick": edge}
        return (b'{"rows": ' + (page["doc"] or "[]").encode() + b', "next": '
                + json.dumps(nxt).encode() + b"}")

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """A read of a read module (``live/evidence``): rows as dicts, after earlier writes."""
        return self._query(sql, params)

    def ticks(self) -> list[int]:
        return [int(r["tick"]) for r in self._query("SELECT tick FROM measurements ORDER BY tick")]

    def setpoints(self, tick: int) -> list[dict[str, Any]]:
        return self._query("SELECT * FROM setpoints WHERE tick = ? ORDER BY group_name", (tick,))

    def _recent(self, table: str, limit: int, kind: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        rows = self._query(f"SELECT * FROM {table} {where} ORDER BY id DESC LIMIT ?",
                           (*params, int(limit)))
        for r in rows:
            for k in ("data", "payload", "counts", "failures"):
                if k in r and isinstance(r[k], str):
                    r[k] = json.loads(r[k])
        return rows[::-1]

    def events(self, limit: int = 100, kind: str | None = None) -> list[dict[str, Any]]:
        return self._recent("events", limit, kind)

    def commands(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._recent("commands", limit)

    def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._recent("audit", limit)



class SqliteStore(Store):
    """SQLite in WAL mode: the writer's connection plus one read-only connection per reader
    thread (WAL readers never wait for the writer)."""

    kind = "sqlite"
    data_errors = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError,
                   sqlite3.InterfaceError)

    def __init__(self, path: str, **limits: Any) -> None:
        super().__init__(**limits)
        self._path = path
        # The default (deferred) transactions are fine: every write goes through _exec_many,
        # which commits or rolls back. A short busy timeout: the writer retries with backoff.
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=1.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(DDL.format(**SQLITE_TYPES))
        for table, column, sql_type in ADDED_COLUMNS:  # a store of an older version
            have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
        self._conn.commit()
        self._start_writer()

    def _connect_reader(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA query_only=ON")
        return conn


class PostgresStore(Store):
    """PostgreSQL: the writer's session plus one autocommit session per reader thread."""

    kind = "postgresql"
    placeholder = "%s"
    json_row = "json_build_object({})"
    json_page = ("SELECT json_agg(doc ORDER BY tick)::text AS doc, count(*) AS n, "
                 "min(tick) AS first, max(tick) AS last FROM ({}) AS page")

    def __init__(self, dsn: str, **limits: Any) -> None:
        import psycopg  # imported here so SQLite users need no libpq at import time

        super().__init__(**limits)
        self.data_errors = (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError)
        self._dsn = dsn
        self._connect()
        with self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(471100)")  # serialise concurrent DDL
            for stmt in DDL.format(**PG_TYPES).split(";"):
                if stmt.strip():
                    cur.execute(stmt)
            for table, column, sql_type in ADDED_COLUMNS:  # a store of an older version
                cur.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {sql_type}")
        self._conn.commit()
        self._start_writer()

    def _connect(self) -> None:
        import psycopg

        self._conn = psycopg.connect(self._dsn, connect_timeout=10)

    def _connect_reader(self) -> Any:
        import psycopg

        return psycopg.connect(self._dsn, connect_timeout=10, autocommit=True)

    def _ensure(self) -> None:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._connect()  # the server restarted or the network dropped: a new session


def open_store(dsn: str, **limits: Any) -> Store:
    """``postgresql://...`` (or a libpq key=value string) -> PostgreSQL; else a SQLite path.
    ``limits``: ``Store``'s keyword arguments (backlog bounds, read wait, reader threads)."""
    if dsn.startswith(("postgresql://", "postgres://")) or "=" in dsn:
        return PostgresStore(dsn, **limits)
    return SqliteStore(dsn, **limits)
