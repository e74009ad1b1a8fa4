"""A real emulated campus (LuxOS miners, Modbus meter, DCGM endpoint, runtime, site API with the
dashboard) on loopback, run in a background thread with its own event loop, so that a
synchronous browser driver (Playwright) can talk to it over HTTP from the test thread."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ballast.live.serve import LiveSite, build_emulated
from ballast.scenario import load_scenario

CHROMIUM = "/usr/bin/chromium"
# Flags that work in this sandbox/CI (no GPU, no user namespace, no network beyond loopback).
# Playwright gives every launch a fresh temporary profile (it forbids --user-data-dir here).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

OPERATOR_TOKEN = "dash-operator-token-01"
VIEWER_TOKEN = "dash-viewer-token-01"
TOKENS = [{"name": "olga", "role": "operator", "token": OPERATOR_TOKEN},
          {"name": "wallboard", "role": "viewer", "token": VIEWER_TOKEN}]

# 300 MW interconnect; AI 100 MW IT x PUE 1.2 = 120 MW; wind 50 MW x 0.3 = 15 MW; miners at
# nameplate x PUE 1.05: s21 20,000 x 3,500 W = 73.5 MW, s19xp 20,000 x 3,010 W = 63.2 MW.
# Calm conditions: import ~242 MW, economics binds, every group runs.
CAMPUS: dict[str, Any] = {
    "version": 1,
    "name": "dashboard-test-campus",
    "site": {"name": "Dashboard test campus", "import_limit_mw": 300, "export_limit_mw": 0},
    "ai": {"it_load_mw": 100, "pue": 1.2},
    "miners": [
        {"name": "s21", "model": "Antminer S21", "count": 20000},
        {"name": "s19xp", "model": "Antminer S19 XP", "count": 20000},
    ],
    "renewables": [{"name": "wind", "kind": "wind", "capacity_mw": 50}],
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"},
    # restore ramp off: the page tests resume a curtailed group and expect its 73.5 MW back
    # within seconds; at the default 10 MW/min of wall time that would take seven minutes
    # (the ramp itself: tests/runtime/test_live_restore.py)
    "control": {"restore_ramp_mw_per_min": None},
}

_prefixes = itertools.count(120)


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"{CHROMIUM} not installed (CI installs it: .ci/install-chromium.sh)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


START_TIMEOUT_S = 180.0  # a campus start on a cold numba cache (see SiteThread.__enter__)


class SiteThread:
    """Start/stop one emulated campus in a thread; ``call`` runs a coroutine on its loop."""

    pages: ClassVar[list[Any]] = []  # open browser pages, told when a campus stops

    def __init__(self, tmp_path: Path, *, devices: int = 4, time_scale: float = 10.0,
                 tick_s: float = 0.2, market: dict[str, Any] | None = None) -> None:
        path = tmp_path / "campus.yaml"
        path.write_text(yaml.safe_dump(CAMPUS))
        self.scenario = load_scenario(path)
        overrides = {
            "tick_s": tick_s,
            "store": {"dsn": str(tmp_path / "ballast.db")},
            "api": {"host": "127.0.0.1", "port": 0, "tokens": TOKENS},
            "watchdog": {"meter_stale_s": 2.0, "ai_stale_s": 3.0},
            "fleet": {"timeout_s": 0.5, "retries": 0, "read_every_s": 1.0},
            "market": market or {"price_usd_per_mwh": 25.0, "hashprice_usd_per_ph_day": 50.0},
            # the S19 XPs sit on the under-frequency relay; it stays tripped until reset
            "ufr": {"groups": ["s19xp"], "restore_hold_s": 600.0},
        }
        # Device time runs time_scale x faster (sleep ramp 5 s -> 0.5 s) so the tests wait less.
        self.config, self.emulated = build_emulated(
            path, self.scenario, site=None, devices_per_group=devices,
            ip_prefix=f"127.{next(_prefixes)}", miner_port=free_port(), meter_port=free_port(),
            dcgm_port=free_port(), time_scale=time_scale, overrides=overrides)
        self.live: LiveSite | None = None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="campus", daemon=True)

    def call(self, coro: Coroutine[Any, Any, Any], timeout_s: float = 30.0) -> Any:
        fut: Future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout_s)

    def __enter__(self) -> SiteThread:
        self._thread.start()
        self.live = LiveSite(self.scenario, self.config, emulated=self.emulated)
        # start-up compiles the live controller (``Runtime.warm_up``): on a clean clone's cold
        # numba cache under CI load that took more than 30 s (CI now runs ``make warm`` first,
        # after which it loads in about 1 s; the timeout stays for a run without it)
        fut = asyncio.run_coroutine_threadsafe(self.live.__aenter__(), self.loop)
        try:
            fut.result(START_TIMEOUT_S)
        except BaseException:
            fut.cancel()
            with contextlib.suppress(BaseException):  # close the emulators' sockets too
                self.call(self.live.__aexit__(None, None, None))
            self._stop_loop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for page in self.pages:  # from here on a refused reconnect is the test's teardown
            page.site_stopped = True
        if self.live is not None:
            self.call(self.live.__aexit__())
        self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def url(self) -> str:
        assert self.live is not None
        return self.live.api_url

    @property
    def runtime(self) -> Any:
        assert self.live is not None and self.live.runtime is not None
        return self.live.runtime

    def set_ai_share(self, share: float) -> None:
        """Emulate an AI load change (e.g. a job crash) in the site physics."""

        async def _set() -> None:
            self.emulated.ai_share = share

        self.call(_set())

    def group_ips(self, group: str) -> list[str]:
        return next(list(g.ips) for g in self.emulated.plan if g.name == group)

    def inject(self, group: str, ip: str, **faults: Any) -> None:
        """Inject faults into one emulated miner (``MinerFaults`` fields)."""
        self.call(self.emulated.emulators_by_group[group].inject(ip, **faults))

    def meter(self, action: str, **kwargs: Any) -> None:
        """Run a meter-emulator method (frequency events, stop) on the campus loop."""

        async def _do() -> None:
            result = getattr(self.emulated.meter, action)(**kwargs)
            if asyncio.iscoroutine(result):
                await result

        self.call(_do())
