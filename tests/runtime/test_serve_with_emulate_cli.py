"""``ballast serve --config`` against devices started by ``ballast emulate``, each its own process:
LuxOS miners, the Modbus meter and the DCGM exporter, as a user would mix real and emulated
devices. With its default noise the emulated meter passes the runtime's frozen-meter check;
with ``--noise-mw 0`` it is (rightly) taken for frozen and the site goes to the safe state.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from live_helpers import TOKENS, VIEWER_TOKEN, free_port, write_campus
from tests.process_helpers import finish, start_until_ready

import ballast

pytestmark = pytest.mark.timeout(180)  # a hung subprocess fails the test, not CI

SRC = str(Path(ballast.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
ADDRESS = re.compile(r"on (?:http://)?([\d.]+):(\d+)")
FROZEN_AFTER_S = 1.0
TICK_S = 0.2


def _start(*args: str) -> subprocess.Popen:
    return start_until_ready([sys.executable, "-m", "ballast", *args], env=ENV)


def _port(proc: subprocess.Popen) -> int:
    (ready,) = [line for line in proc.lines if line.startswith("ready:")]  # type: ignore[attr-defined]
    match = ADDRESS.search(ready)
    assert match, ready
    return int(match[2])


def _state_after(api: str, ticks: int, timeout_s: float = 60.0) -> dict:
    """/state once the runtime has run ``ticks`` ticks (counted by the runtime, not a clock)."""
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    while time.monotonic() < deadline:
        state = httpx.get(f"{api}/api/v1/state", headers=headers, timeout=5).json()
        if state["tick"] >= ticks:
            return state
        time.sleep(0.1)
    raise AssertionError(f"the runtime did not reach tick {ticks}")


@pytest.mark.parametrize("noise_mw", ["0.05", "0"])
def test_serve_config_runs_on_emulate_processes(tmp_path: Path, noise_mw: str) -> None:
    procs: list[subprocess.Popen] = []
    try:
        miner_port = free_port()
        procs.append(
            _start(*f"emulate miners --count 4 --base-ip 127.201.7.2 --model s21 --port {miner_port}".split())
        )
        procs.append(
            _start(*f"emulate meter --port 0 --ai-mw 100 --miners-mw 14 --noise-mw {noise_mw}".split())
        )
        procs.append(_start(*"emulate dcgm --port 0 --it-power-mw 80".split()))
        meter_port, dcgm_port = _port(procs[1]), _port(procs[2])
        api_port = free_port()
        site = {
            "scenario": str(write_campus(tmp_path)),
            "tick_s": TICK_S,
            "store": {"dsn": str(tmp_path / "site.db")},
            "meter": {"host": "127.0.0.1", "port": meter_port},
            "ai": {"url": f"http://127.0.0.1:{dcgm_port}/metrics"},
            "miners": [{"group": "s21", "ips": ["127.201.7.2-127.201.7.5"], "port": miner_port}],
            "sensing": {"frozen_after_s": FROZEN_AFTER_S},
            "watchdog": {"meter_stale_s": 1.0, "ai_stale_s": 2.0},
            "fleet": {"timeout_s": 0.5, "retries": 0},
            "market": {"price_usd_per_mwh": 20.0, "hashprice_usd_per_ph_day": 50.0},
            "api": {"host": "127.0.0.1", "port": api_port, "tokens": TOKENS},
        }
        config = tmp_path / "site.yaml"
        config.write_text(yaml.safe_dump(site))
        serve = _start("serve", "--config", str(config))
        procs.append(serve)
        # frozen check, then the meter watchdog, then margin: 4 s of runtime ticks
        state = _state_after(f"http://127.0.0.1:{api_port}", round(4.0 / TICK_S))
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    pass
            finish(proc)
    if noise_mw == "0":
        assert state["safe_mode"], state  # a meter that never moves is taken for frozen
        assert "meter frozen" in state["safe_mode_reason"], state
        return
    assert not state["safe_mode"] and state["health"]["safe_mode_reasons"] == [], state
    assert state["power_mw"]["import"] == pytest.approx(114, abs=0.5)  # 100 + 14, noise 0.05
    # the meter's AI feeder (100 MW + noise) and DCGM x the scenario's PUE (80 x 1.25) agree
    assert state["power_mw"]["ai"] == pytest.approx(100, abs=0.5)
    assert state["groups"][0]["miners"] == 4
