"""Live runtime figures against emulated devices. One JSON line per figure.

The relay miners run in a separate process (``ballast.live.emulators.cli miners``), as real
miners would; the meter emulator, runtime and store share this process.

- ufr_dip_to_verified_sleep: the meter's frequency steps below 59.70 Hz -> every relay miner
  verified asleep (meter poll delay + fan-out + read-back) [s], N relay miners with sessions
  held by the keep-alive;
- live_tick_duration_p50 / p95: one control tick (snapshot, controller, commands, store
  commit) [s];
- store_tick_commit_p50: one tick's transaction on SQLite (WAL, synchronous=FULL), queued to
  committed [s]; store_tick_enqueue_p50: the part the control loop waits for [s].

    python benchmarks/bench_live.py [N_RELAY_MINERS]   # default 1000
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ballast.live.adapters import LuxosFleet, ReconnectingMeter
from ballast.live.emulators.luxos import loopback_ips
from ballast.live.emulators.meter import MeterEmulator
from ballast.live.runtime import Runtime
from ballast.live.site_config import SiteConfig
from ballast.live.store import MEASUREMENT_COLUMNS, SqliteStore, TickRecord, open_store
from ballast.scenario import parse_scenario

RELAY_MINERS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
BASE_IP = "127.90.0.2"
MINER_PORT = 14028
METER_PORT = 15020
CAMPUS = {
    "version": 1, "name": "bench-campus",
    "site": {"import_limit_mw": 200},
    "ai": {"it_load_mw": 80, "pue": 1.25},
    "miners": [{"name": "s21", "model": "Antminer S21", "count": 27000}],
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"},
}


def emit(name: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 6), "unit": unit, **extra}),
          flush=True)


def start_miners(n: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "ballast.live.emulators.cli", "miners", "--count", str(n),
           "--base-ip", BASE_IP, "--port", str(MINER_PORT), "--model", "s21"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"miner emulator did not start: {line!r}")
    return proc


async def live_figures(tmp: Path) -> None:
    ips = loopback_ips(RELAY_MINERS, BASE_IP)
    scen = parse_scenario(CAMPUS)
    site = SiteConfig.model_validate({
        "scenario": "-", "tick_s": 0.5, "store": {"dsn": str(tmp / "b.db")},
        "meter": {"host": "127.0.0.1", "port": METER_PORT},
        "miners": [{"group": "s21", "ips": ips, "port": MINER_PORT,
                    "miners_per_device": 27000 / RELAY_MINERS}],
        "fleet": {"read_every_s": 600}, "ufr": {"groups": ["s21"]},
        # the meter here is static (no site physics): keep the frozen-meter check from
        # (rightly) calling it frozen once the runtime commands the miners
        "sensing": {"frozen_after_s": 3600}})
    meter = MeterEmulator("127.0.0.1", METER_PORT)
    meter.set_site(campus_import_power_mw=190, ai_feeder_power_mw=100,
                   miners_feeder_power_mw=90, renewables_feeder_power_mw=0)
    await meter.start()
    store = open_store(site.store_dsn)
    fleet = LuxosFleet({ip: MINER_PORT for ip in ips}, timeout_s=2.0, retries=1)
    meter_client = ReconnectingMeter("127.0.0.1", METER_PORT)
    rt = Runtime(scen, site, fleet=fleet, meter=meter_client, store=store)
    task = asyncio.get_running_loop().create_task(rt.run())
    try:
        while rt.tick_no < 4:
            await asyncio.sleep(0.05)
        durations: list[float] = []
        last = rt.tick_no
        while len(durations) < 20:
            await asyncio.sleep(0.02)
            if rt.tick_no > last:
                last = rt.tick_no
                durations.append(rt.last_tick["tick_duration_s"])
        emit("live_tick_duration_p50", statistics.median(durations), "s", devices=RELAY_MINERS)
        emit("live_tick_duration_p95", statistics.quantiles(durations, n=20)[-1], "s",
             devices=RELAY_MINERS)
        t0 = time.perf_counter()
        meter.step_loss_of_generation(nadir_hz=59.5, fall_s=0.0, hold_s=600.0)
        while not rt.store.events(kind="ufr_trip"):
            await asyncio.sleep(0.001)
        dip_s = time.perf_counter() - t0
        data = rt.store.events(kind="ufr_trip")[0]["data"]
        emit("ufr_dip_to_verified_sleep", dip_s, "s", relay_miners=data["miners"],
             verified=data["asleep_verified"], poll_s=site.ufr.poll_s)
        emit("ufr_fanout_latency", data["latency_s"], "s", relay_miners=data["miners"])
    finally:
        rt.stop()
        await task
        meter_client.close()
        store.close()
        await meter.stop()


def store_figure(tmp: Path) -> None:
    store = SqliteStore(str(tmp / "s.db"))
    times, enqueue = [], []
    for n in range(1, 201):
        m = {c: 1.0 for c in MEASUREMENT_COLUMNS}
        m.update(tick=n, time_s=float(n), binding_rule="economics", safe_mode=0)
        rec = TickRecord(n, m, [("a", 1, 2, "auto", 1), ("b", 0, 2, "auto", 2)], [], [], {"x": n})
        t0 = time.perf_counter()
        store.write_tick(rec)  # queued for the writer thread...
        queued = time.perf_counter()
        store.flush()  # ...and committed
        times.append(time.perf_counter() - t0)
        enqueue.append(queued - t0)
    store.close()
    emit("store_tick_commit_p50", statistics.median(times), "s", backend="sqlite-wal-full")
    emit("store_tick_enqueue_p50", statistics.median(enqueue), "s",
         note="what the control loop waits for a tick's write")


def main() -> int:
    proc = start_miners(RELAY_MINERS)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store_figure(Path(tmp))
            asyncio.run(live_figures(Path(tmp)))
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
