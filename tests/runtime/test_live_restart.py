"""kill -9 and restart: a ``ballast serve --emulate`` subprocess is killed with SIGKILL; nothing
committed before the kill is lost, and a restart resumes from the store (tick counter, DR event
and its latched baseline, controller state). Also the same resume on a real PostgreSQL server.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from live_helpers import (
    OPERATOR_TOKEN,
    VIEWER_TOKEN,
    emulated_campus,
    free_port,
    until,
    write_campus,
)
from tests.process_helpers import finish, start_until_ready

from ballast.live.store import open_store

pytestmark = pytest.mark.timeout(180)  # a hung subprocess fails the test, not CI


def _serve(tmp_path: Path, db: Path, api_port: int, ports: dict[str, int]) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from ballast.cli import app; app()", "serve", "--emulate",
           "--scenario", str(write_campus(tmp_path)), "--store", str(db),
           "--port", str(api_port), "--tick-s", "0.1", "--devices-per-group", "4",
           "--ip-prefix", "127.61", "--miner-port", str(ports["miner"]),
           "--meter-port", str(ports["meter"]), "--dcgm-port", str(ports["dcgm"]),
           "--time-scale", "10", "--operator-token", OPERATOR_TOKEN,
           "--viewer-token", VIEWER_TOKEN, "--verbose"]
    return start_until_ready(cmd)


def _rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _wait_ticks(db: Path, n: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db.exists() and _rows(db, "SELECT count(*) FROM measurements")[0][0] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} ticks committed within {timeout_s} s")


def test_kill_9_loses_nothing_committed_and_restart_resumes(tmp_path):
    db = tmp_path / "site.db"
    ports = {"miner": free_port(), "meter": free_port(), "dcgm": free_port()}
    api_port = free_port()
    proc = _serve(tmp_path, db, api_port, ports)
    try:
        _wait_ticks(db, 5)
        r = httpx.post(f"http://127.0.0.1:{api_port}/api/v1/dr-events",
                       headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                       json={"duration_s": 3600, "reduction_mw": 25}, timeout=5)
        assert r.status_code == 201, r.text
        dr_id = r.json()["id"]
        deadline = time.monotonic() + 10
        while not _rows(db, "SELECT 1 FROM events WHERE kind = 'dr_start'"):
            assert time.monotonic() < deadline, "DR never started"
            time.sleep(0.05)
        # What a reader sees committed, just before the kill:
        ticks_seen = [t for (t,) in _rows(db, "SELECT tick FROM measurements ORDER BY tick")]
        audit_seen = _rows(db, "SELECT id, action, actor FROM audit ORDER BY id")
        events_seen = _rows(db, "SELECT id, kind FROM events ORDER BY id")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        finish(proc)
    assert proc.returncode == -signal.SIGKILL

    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]
    ticks = [t for (t,) in _rows(db, "SELECT tick FROM measurements ORDER BY tick")]
    assert ticks[: len(ticks_seen)] == ticks_seen  # nothing committed is lost
    assert ticks == list(range(1, len(ticks) + 1))  # no gap, no half-written tick
    assert _rows(db, "SELECT id, action, actor FROM audit ORDER BY id") == audit_seen
    assert _rows(db, "SELECT id, kind FROM events ORDER BY id")[: len(events_seen)] == events_seen
    (state_tick, state), = _rows(db, "SELECT tick, state FROM runtime_state")
    assert state_tick == ticks[-1]  # the state row commits with its tick
    cap_before = _rows(db, f"SELECT cap_mw FROM measurements WHERE tick = {ticks[-1]}")[0][0]
    assert dr_id in json.loads(state)["dr_baselines"]

    proc = _serve(tmp_path, db, api_port, ports)
    try:
        assert any(f"resumed after tick {ticks[-1]}" in line for line in proc.lines)
        _wait_ticks(db, len(ticks) + 5)
        proc.send_signal(signal.SIGINT)  # graceful this time
        try:
            code = proc.wait(45)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, "graceful stop failed:\n" + "".join(proc.lines[-40:])
    finally:
        finish(proc)
    after = [t for (t,) in _rows(db, "SELECT tick FROM measurements ORDER BY tick")]
    assert after == list(range(1, len(after) + 1))  # the counter continued at ticks[-1] + 1
    (resume,) = _rows(db, "SELECT data FROM events WHERE kind = 'resume'")
    assert json.loads(resume[0])["from_tick"] == ticks[-1]
    # the DR event and its latched baseline survived: same cap on the first tick after restart
    cap_after = _rows(db, f"SELECT cap_mw FROM measurements WHERE tick = {ticks[-1] + 1}")[0][0]
    assert cap_after == cap_before
    assert _rows(db, "SELECT kind FROM events ORDER BY id DESC LIMIT 1") == [("shutdown",)]


async def test_runtime_resumes_on_postgresql(tmp_path, pg_dsn):
    async with emulated_campus(tmp_path, store_dsn=pg_dsn, devices=4) as live:
        rt = live.runtime
        assert rt.store.kind == "postgresql"
        await until(lambda: rt.tick_no >= 5, 10, "five ticks")
        rt.set_group_mode("s19xp", "curtailed")
        await until(lambda: rt.last_tick["groups"][1]["mode"] == "curtailed", 5, "curtailed")
    store = open_store(pg_dsn)
    try:
        ticks = store.ticks()
        assert ticks == list(range(1, len(ticks) + 1))
        last = ticks[-1]
    finally:
        store.close()
    async with emulated_campus(tmp_path, store_dsn=pg_dsn, devices=4) as live:
        rt = live.runtime
        assert rt.resumed_from_tick == last
        assert rt.modes["s19xp"] == "curtailed"  # operator state survives a restart
        await until(lambda: rt.tick_no >= last + 3, 10, "ticks after restart")
        assert rt.store.ticks()[last] == last + 1
        assert [e["kind"] for e in rt.store.events(kind="resume")] == ["resume"]
