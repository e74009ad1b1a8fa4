"""Helpers for the live tests: a small emulated campus on loopback, polling with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml

from ballast.live.serve import LiveSite, build_emulated
from ballast.scenario import load_scenario

OPERATOR_TOKEN = "operator-token-0123"
VIEWER_TOKEN = "viewer-token-0123"
TOKENS = [{"name": "alice", "role": "operator", "token": OPERATOR_TOKEN},
          {"name": "wall", "role": "viewer", "token": VIEWER_TOKEN}]

# 200 MW interconnect; AI 80 MW IT x PUE 1.25 = 100 MW facility; miners at nameplate with
# cooling PUE 1.05: s21 27,000 x 3,500 W = 99.2 MW, s19xp 19,000 x 3,010 W = 60.0 MW. In calm
# conditions the import limit binds: the S21s run, the S19 XPs sleep; an AI crash frees room.
CAMPUS: dict[str, Any] = {
    "version": 1,
    "name": "live-test-campus",
    "site": {"name": "live test", "import_limit_mw": 200, "export_limit_mw": 0},
    "ai": {"it_load_mw": 80, "pue": 1.25},
    "miners": [
        {"name": "s21", "model": "Antminer S21", "count": 27000},
        {"name": "s19xp", "model": "Antminer S19 XP", "count": 19000},
    ],
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"},
}

# The campus with the restore ramp off. Tests of the relay, the watchdog and the fail-safe check
# that control comes back within seconds; at the default ramp (10 MW/min of wall time) the
# 99-MW S21 group would take ten minutes to wake. The ramp itself: test_live_restore.py.
INSTANT_WAKE: dict[str, Any] = {**CAMPUS, "control": {"restore_ramp_mw_per_min": None}}

_prefixes = itertools.count(40)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_campus(tmp_path: Path, scenario: dict | None = None) -> Path:
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(scenario or CAMPUS))
    return path


def emulated_args(tmp_path: Path, store_dsn: str | None = None, **site: Any) -> dict[str, Any]:
    """Site overrides for a fast test campus (0.2-s tick, short watchdogs)."""
    base: dict[str, Any] = {
        "tick_s": 0.2,
        "store": {"dsn": store_dsn or str(tmp_path / "ballast.db")},
        "api": {"host": "127.0.0.1", "port": 0, "tokens": TOKENS},
        "watchdog": {"meter_stale_s": 1.0, "ai_stale_s": 2.0},
        "fleet": {"timeout_s": 0.3, "retries": 0, "read_every_s": 1.0},
        "market": {"price_usd_per_mwh": 20.0, "hashprice_usd_per_ph_day": 50.0},
    }
    base.update(site)
    return base


@contextlib.asynccontextmanager
async def emulated_campus(tmp_path: Path, *, scenario: dict | None = None, devices: int = 10,
                          time_scale: float = 10.0, store_dsn: str | None = None,
                          clock: Callable[[], float] = time.time,
                          **site: Any) -> AsyncIterator[LiveSite]:
    """Emulators + runtime + API on loopback. Device time runs ``time_scale`` x faster (sleep
    ramp 5 s -> 0.5 s) so tests wait less; the runtime's own clock is wall time (``clock``)."""
    path = write_campus(tmp_path, scenario)
    scen = load_scenario(path)
    cfg, emu = build_emulated(path, scen, site=None, devices_per_group=devices,
                              ip_prefix=f"127.{next(_prefixes)}", miner_port=free_port(),
                              meter_port=free_port(), dcgm_port=free_port(),
                              time_scale=time_scale,
                              overrides=emulated_args(tmp_path, store_dsn, **site))
    async with LiveSite(scen, cfg, emulated=emu, clock=clock) as live:
        yield live
        rt = live.runtime
    # every writer of a device record refreshed the fleet's columns (live.fleet_table)
    if rt is not None:
        assert rt.fleet_table.stale_rows() == [], "device records written without refresh"


async def until(pred: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition",
                poll_s: float = 0.02) -> None:
    """Poll ``pred`` until true; fail naming ``what`` after ``timeout_s`` [s]."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(poll_s)


