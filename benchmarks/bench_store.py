"""Control-loop timing while clients hammer ``/history`` (issue 9: a viewer could stall the loop).

An emulated campus (LuxOS miners, Modbus meter, DCGM, runtime and API in one event loop, as
``ballast serve --emulate`` runs it) resumes from a SQLite store holding two days of 1-s ticks
(172,800 rows). Phase ``idle``: no clients. Phase ``load``: N client threads (a separate
process) request history as fast as they are answered: ``limit=100000`` where the server allows
it, else pages of the server's cap followed by ``next``. In each phase, under-frequency trips
are driven through the meter emulator. One JSON line per figure:

- store_tick_gap_p50 / p99 / max [s]: time between tick starts (the tick is 1 s);
- store_meter_gap_max [s]: longest time without a completed meter read (the watchdog's input);
- store_ufr_dip_to_verified_p99 [s]: meter frequency step below 59.70 Hz -> every relay miner
  verified asleep (poll delay + fan-out + read-back), over the phase's trips;
- store_loop_cpu_share: CPU time of the event-loop thread per second of wall time (with
  long gaps and a small share, the loop was starved by the machine, not busy);
- store_history_rows_per_s: rows the clients received per second (load phase).

Clients run at nice 10 in their own process (they stand for remote clients). On a shared
machine, note the load average beside the figures.

    python benchmarks/bench_store.py [N_CLIENTS] [LOAD_S]     # default 12 clients, 30 s
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from ballast.live.serve import LiveSite, build_emulated
from ballast.live.store import MEASUREMENT_COLUMNS, open_store
from ballast.scenario import load_scenario

N_CLIENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 12
LOAD_S = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
TICKS = 2 * 86_400  # two days of 1-s ticks
TOKEN = "bench-viewer-token-0123"
CAMPUS: dict[str, Any] = {
    "version": 1, "name": "bench-store",
    "site": {"import_limit_mw": 200},
    "ai": {"it_load_mw": 80, "pue": 1.25},
    "miners": [{"name": "s21", "model": "Antminer S21", "count": 27000},
               {"name": "s19xp", "model": "Antminer S19 XP", "count": 19000}],
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"},
}

CLIENT = r"""
import json, os, re, sys, threading, time, httpx
os.nice(10)  # stands in for clients on other machines: the server's CPU is what is measured
url, token, n, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
stop = time.monotonic() + duration
out = {"requests": 0, "rows": 0, "status": {}}
lock = threading.Lock()
NEXT = re.compile(rb'"next": *(null|\{[^}]*\})\s*\}\s*$')
def client():
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=h, timeout=120) as c:
        params = {"limit": 100000}
        while time.monotonic() < stop:
            r = c.get("/api/v1/history", params=params)
            body, rows = r.content, 0
            if r.status_code == 200:
                rows = body.count(b'"tick"')        # no full parse: keep the clients light
                m = NEXT.search(body[-200:])
                if m:                                 # paged server: follow the cursor
                    nxt = json.loads(m.group(1)) or {"after_tick": 0}
                    params = {"limit": params["limit"], **nxt}
            elif r.status_code == 422 and params["limit"] == 100000:
                params = {"limit": 5000, "after_tick": 0}  # over the cap: page instead
            with lock:
                out["requests"] += 1
                out["rows"] += rows
                out["status"][str(r.status_code)] = out["status"].get(str(r.status_code), 0) + 1
ts = [threading.Thread(target=client) for _ in range(n)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps(out))
"""


def emit(name: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 6), "unit": unit, **extra}),
          flush=True)


def two_days_of_ticks(db: Path) -> None:
    """The store's own schema, then 172,800 measurement rows and a runtime state to resume."""
    open_store(str(db)).close()
    con = sqlite3.connect(db)
    t0 = time.time() - TICKS - 10
    cols = ", ".join(MEASUREMENT_COLUMNS)
    marks = ", ".join("?" * len(MEASUREMENT_COLUMNS))
    rows = ((n, t0 + n, 190.0, 60.0, 100.0, 0.0, 90.0, 90.0, None, 0.0, 30.0, 50.0,
             "import_limit", 0, 0.1) for n in range(1, TICKS + 1))
    with con:
        con.executemany(f"INSERT INTO measurements ({cols}) VALUES ({marks})", rows)
        con.execute("INSERT INTO runtime_state (name, tick, time_s, state) VALUES "
                    "('runtime', ?, ?, '{}')", (TICKS, t0 + TICKS))
    con.close()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def trips(live: LiveSite, n: int, gap_s: float) -> list[float]:
    """``n`` under-frequency trips: step -> relay miners verified asleep [s]; reset between."""
    rt, emu = live.runtime, live.emulated
    assert rt is not None and emu is not None
    out = []
    for _ in range(n):
        await asyncio.sleep(gap_s)
        t0 = time.perf_counter()
        emu.meter.step_loss_of_generation(nadir_hz=59.5, fall_s=0.0, hold_s=600.0)
        while rt.ufr_cap_mw is None:  # set once the relay fan-out is verified
            await asyncio.sleep(0.001)
        out.append(time.perf_counter() - t0)
        emu.meter.clear_frequency_event()
        rt.reset_ufr()
    return out


async def phase(live: LiveSite, name: str, seconds: float, n_trips: int,
                clients: subprocess.Popen[str] | None) -> None:
    rt = live.runtime
    assert rt is not None
    loop = asyncio.get_running_loop()
    ticks: list[float] = []
    reads: list[float] = []
    on_tick = lambda _doc: ticks.append(loop.time())  # noqa: E731
    rt.on_tick.append(on_tick)
    meter_read = rt.meter.read

    async def timed_read() -> Any:
        sample = await meter_read()
        reads.append(loop.time())
        return sample

    rt.meter.read = timed_read  # type: ignore[method-assign]
    t_end = loop.time() + seconds
    cpu0, wall0 = time.thread_time(), loop.time()  # this coroutine runs on the loop thread
    lat = await trips(live, n_trips, gap_s=seconds / (n_trips + 1))
    await asyncio.sleep(max(0.0, t_end - loop.time()))
    cpu_share = (time.thread_time() - cpu0) / (loop.time() - wall0)
    rt.on_tick.remove(on_tick)
    rt.meter.read = meter_read  # type: ignore[method-assign]
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    meter_gaps = [b - a for a, b in itertools.pairwise(reads)]
    extra = {"phase": name, "clients": N_CLIENTS if clients else 0, "ticks": len(ticks)}
    emit("store_tick_gap_p50", pct(gaps, 0.5), "s", **extra)
    emit("store_tick_gap_p99", pct(gaps, 0.99), "s", **extra)
    emit("store_tick_gap_max", max(gaps), "s", **extra)
    emit("store_meter_gap_max", max(meter_gaps), "s", **extra)
    emit("store_ufr_dip_to_verified_p99", pct(lat, 0.99), "s", trips=len(lat), **extra)
    emit("store_loop_cpu_share", cpu_share, "s/s", **extra)


async def run(tmp: Path) -> None:
    db = tmp / "site.db"
    two_days_of_ticks(db)
    path = tmp / "campus.yaml"
    path.write_text(yaml.safe_dump(CAMPUS))
    scen = load_scenario(path)
    overrides = {"tick_s": 1.0, "store": {"dsn": str(db)},
                 "api": {"host": "127.0.0.1", "port": 0,
                         "tokens": [{"name": "wall", "role": "viewer", "token": TOKEN}]},
                 "ufr": {"groups": ["s21"]}, "fleet": {"read_every_s": 5.0},
                 "market": {"price_usd_per_mwh": 20.0, "hashprice_usd_per_ph_day": 50.0}}
    ports = iter(range(23500, 23600))
    cfg, emu = build_emulated(path, scen, site=None, devices_per_group=50,
                              ip_prefix="127.77", miner_port=next(ports),
                              meter_port=next(ports), dcgm_port=next(ports), time_scale=1.0,
                              overrides=overrides)
    async with LiveSite(scen, cfg, emulated=emu) as live:
        await asyncio.sleep(3.0)  # settle: first ticks, relay sessions
        await phase(live, "idle", 15.0, 5, None)
        clients = subprocess.Popen([sys.executable, "-c", CLIENT, live.api_url, TOKEN,
                                    str(N_CLIENTS), str(LOAD_S)], stdout=subprocess.PIPE,
                                   text=True)
        try:
            await asyncio.sleep(1.0)  # let the clients start
            await phase(live, "load", LOAD_S - 2.0, 10, clients)
            out, _ = await asyncio.get_running_loop().run_in_executor(
                None, lambda: clients.communicate(timeout=300))
        finally:
            with contextlib.suppress(ProcessLookupError):
                clients.kill()
        served = json.loads(out)
        emit("store_history_rows_per_s", served["rows"] / LOAD_S, "rows/s",
             requests=served["requests"], status=served["status"], clients=N_CLIENTS)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
