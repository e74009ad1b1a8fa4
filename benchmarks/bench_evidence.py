"""Evidence export time for a one-hour DR event, and a one-hour EEA episode, at 1-s ticks
(issue 15 item 2).

A SQLite store (the store's own schema, file on disk) holds 15 days of 1-s ticks before the
event (1,296,000 measurement rows: the history a like-days baseline reads), the event's 3,600
ticks with 3 setpoint rows each, a fleet command every minute, the ``dr_start`` event and an
EEA episode over the same hour (``eea``, ``eea_start``, ``eea_end`` events). Timed:
``build_evidence`` (every query, the baseline, 4 quarter-hour intervals) plus rendering the
document as JSON and as CSV, as ``ballast evidence`` and ``GET /api/v1/evidence/{id}`` do.
The same on PostgreSQL when a DSN is given (a fresh schema, dropped afterwards; rows by COPY).
Five runs per method, each on a fresh store connection (cold reader cache, warm OS cache); one
JSON line per figure: best and median wall time [s], and CPU time of the median run [s]
(the machine is shared: CPU time is the steadier figure).

    python benchmarks/bench_evidence.py [PG_DSN]   # or BALLAST_BENCH_PG_DSN: PostgreSQL too
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ballast.live.evidence import build_evidence, evidence_csv
from ballast.live.store import MEASUREMENT_COLUMNS, open_store

T0 = 1795615200  # 2026-11-25T14:00:00Z, a Wednesday
HISTORY_S = 15 * 86_400  # 15 days of 1-s ticks before the event
EVENT_S = 3_600
RUNS = 5


def emit(name: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 6), "unit": unit, **extra}), flush=True)


def _rows() -> dict[str, tuple[str, list[str], object]]:
    """Table -> (column list, rows) of the store's content (generators)."""
    first = T0 - HISTORY_S

    def meas(n: int, t: int) -> tuple:
        during = t >= T0
        return (
            n,
            float(t),
            170.0 if during else 200.0 + (t % 86_400) / 86_400,
            60.0,
            100.0,
            0.0,
            60.0 if during else 90.0,
            60.0 if during else 90.0,
            60.0 if during else None,
            0.0,
            30.0,
            50.0,
            "obligation_cap" if during else "economics",
            0,
            0.1,
        )

    ticks = range(HISTORY_S + 1, HISTORY_S + EVENT_S + 1)
    return {
        "measurements": (
            list(MEASUREMENT_COLUMNS),
            (meas(n, t) for n, t in enumerate(range(first, T0 + EVENT_S), 1)),
        ),
        "setpoints": (
            ["tick", "group_name", "time_s", "running_target", "controllable", "mode", "verified_asleep"],
            (
                (n, g, float(first + n - 1), 10, 20, "auto", 10)
                for n in ticks
                for g in ("s19xp", "s21", "s21pro")
            ),
        ),
        "commands": (
            [
                "tick",
                "time_s",
                "group_name",
                "command",
                "miners",
                "ok",
                "failed",
                "elapsed_s",
                "counts",
                "failures",
            ],
            (
                (
                    HISTORY_S + k * 60 + 1,
                    float(T0 + k * 60),
                    "s21",
                    "sleep",
                    100,
                    99,
                    1,
                    0.2,
                    '{"ok": 99, "timeout": 1}',
                    '[["10.0.0.9", "timeout"]]',
                )
                for k in range(60)
            ),
        ),
        "events": (
            ["tick", "time_s", "kind", "message", "data"],
            iter(
                [
                    (
                        HISTORY_S + 1,
                        float(T0),
                        "dr_start",
                        "DR event e1 started",
                        json.dumps({"id": "e1", "baseline_import_mw": 200.5, "baseline_miners_mw": 90.0}),
                    ),
                    *_eea_events(),
                ]
            ),
        ),
        "dr_events": (
            ["id", "start_s", "end_s", "reduction_mw", "created_s", "created_by"],
            iter([("e1", float(T0), float(T0 + EVENT_S), 30.0, float(T0 - 60), "bench")]),
        ),
    }


def _eea_events() -> list[tuple]:
    """EEA "x1" (level 3, cap 0) over the event's hour, as ``live/eea_episodes`` records it."""
    start = {"id": "x1", "start": "2026-11-25T14:00:00Z", "level": 3, "curtail_at_level": 1, "cap_mw": 0.0}
    start |= {"source": "bench", "sleep_floor_mw": 2.0, "reference_import_mw": 200.5}
    start |= {"reference_miners_mw": 90.0}
    level = {"id": "x1", "level": 3, "cap_mw": 0.0}
    end = start | {"end": "2026-11-25T15:00:00Z"}
    return [
        (HISTORY_S + 1, float(T0), "eea", "EEA level 3", json.dumps(level)),
        (HISTORY_S + 1, float(T0), "eea_start", "EEA x1", json.dumps(start)),
        (None, float(T0 + EVENT_S), "eea_end", "EEA x1 ended", json.dumps(end)),
    ]


def build_sqlite(db: Path) -> None:
    """The store's own schema, then the rows in one transaction."""
    open_store(str(db)).close()
    con = sqlite3.connect(db)
    with con:
        for table, (cols, rows) in _rows().items():
            marks = ", ".join("?" * len(cols))
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)
    con.close()


def build_postgres(dsn: str) -> None:
    """The store's own schema, then the rows by COPY, then ANALYZE."""
    import psycopg

    open_store(dsn).close()
    with psycopg.connect(dsn) as con, con.cursor() as cur:
        for table, (cols, rows) in _rows().items():
            with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        cur.execute("ANALYZE")


def export(dsn: str, method: str, event_id: str = "e1") -> tuple[float, float, int]:
    store = open_store(dsn)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        doc = build_evidence(store, event_id, method)
        body = json.dumps(doc).encode()
        text = evidence_csv(doc)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        store.close()
    assert doc["totals"]["ticks"] == EVENT_S, doc["totals"]
    return wall, cpu, len(body) + len(text)


def measure(backend: str, dsn: str, setup_s: float) -> None:
    for event_id, method in (
        ("e1", "meter_before_event"),
        ("e1", "middle_8_of_10"),
        ("x1", "meter_before_event"),
    ):
        runs = sorted((export(dsn, method, event_id) for _ in range(RUNS)), key=lambda r: r[0])
        median = runs[len(runs) // 2]
        extra = {
            "backend": backend,
            "method": method,
            "ticks": EVENT_S,
            "history_rows": HISTORY_S,
            "runs": RUNS,
            "bytes": median[2],
            "setup_s": round(setup_s, 2),
        }
        kind = "evidence_eea" if event_id == "x1" else "evidence"
        name = f"{kind}_1h_1s_{method}" + ("" if backend == "sqlite" else f"_{backend}")
        emit(f"{name}_best", runs[0][0], "s", **extra)
        emit(f"{name}_median", statistics.median(r[0] for r in runs), "s", **extra)
        emit(f"{name}_median_cpu", median[1], "s", **extra)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "evidence.db"
        t0 = time.perf_counter()
        build_sqlite(db)
        measure("sqlite", str(db), time.perf_counter() - t0)
    pg = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BALLAST_BENCH_PG_DSN")
    if pg:  # a fresh schema on that server, dropped afterwards
        import psycopg
        from psycopg.conninfo import make_conninfo

        schema = f"bench_evidence_{os.getpid()}"
        with psycopg.connect(pg, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {schema}")
        try:
            dsn = make_conninfo(pg, options=f"-c search_path={schema}")
            t0 = time.perf_counter()
            build_postgres(dsn)
            measure("postgresql", dsn, time.perf_counter() - t0)
        finally:
            with psycopg.connect(pg, autocommit=True) as con:
                con.execute(f"DROP SCHEMA {schema} CASCADE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
