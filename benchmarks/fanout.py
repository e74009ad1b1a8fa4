"""Fan-out benchmark: curtail N emulated LuxOS miners and verify each by read-back.

The emulator runs in a separate process (``ballast.live.emulators.cli miners``) on the same
machine; this process is the controller side. Figures, one JSON line each:
``{"benchmark": name, "value": x, "unit": u}``.

- ``fanout_<n>_warm``: sessions already held (the commander refreshes them in the background
  in normal operation); per miner one ``curtail`` + one ``config+power+summary`` read-back.
- ``fanout_<n>_cold``: a new commander with no cached session; per miner ``session`` (adopts
  the active one; ``logon`` if none) + ``curtail`` + read-back.
- ``pyasic_<n>``: the plain pyasic loop, ``get_miner(ip)`` then ``stop_mining()`` for every
  miner, started together with ``asyncio.gather`` under a semaphore of ``--pyasic-concurrency``
  (default 100: with 1,000 in flight pyasic's 3 s identification timeout expires and no miner
  is acknowledged). No read-back; pyasic's own True/False result counts as the ack.

The fleet commander sends every curtail before any read-back (breadth first), so per-miner
latency includes waiting behind other miners' commands; ``..._command_ack`` is when the last
curtail was acknowledged.

``..._client_cpu`` is this process's CPU time (user + system) during the fan-out,
``..._emulator_cpu`` the emulator process's (both share the machine's cores).

Time is from the signal (just before the first send) to the last verified acknowledgement.
Latency per miner is from its first send to its verified outcome.

    python benchmarks/fanout.py --sizes 1000 10000 --pyasic-max 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

from ballast.live.drivers.aio import loop_factory
from ballast.live.drivers.aio import run as aio_run
from ballast.live.drivers.fleet import FleetCommander, FleetResult
from ballast.live.emulators.luxos import loopback_ips, raise_open_file_limit

BASE_IP = "127.1.0.2"


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 4), "unit": unit}), flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_emulator(count: int, uvloop: bool) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "ballast.live.emulators.cli",
        "miners",
        "--count",
        str(count),
        "--base-ip",
        BASE_IP,
        "--uvloop" if uvloop else "--no-uvloop",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"emulator did not start: {line!r}")
    return proc


def process_cpu_s(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far [s] (Linux /proc; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(prefix: str, result: FleetResult, n: int) -> None:
    lat = [o.latency_s for o in result.outcomes]
    verified = sum(o.compliant for o in result.outcomes)
    acks = [o.acked_after_s for o in result.outcomes if o.acked_after_s is not None]
    if acks:
        emit(f"{prefix}_signal_to_last_command_ack", max(acks), "s")
    emit(f"{prefix}_signal_to_last_verified", result.elapsed_s, "s")
    emit(f"{prefix}_latency_p50", percentile(lat, 0.50), "s")
    emit(f"{prefix}_latency_p99", percentile(lat, 0.99), "s")
    emit(f"{prefix}_verified", verified / n, "fraction")


async def bench_ballast(n: int, concurrency: int, repeat: int, emulator_pid: int) -> None:
    ips = loopback_ips(n, BASE_IP)
    fleet = FleetCommander(ips, concurrency=concurrency, timeout_s=5.0, retries=1)
    await fleet.refresh_sessions()  # not timed: held sessions are the normal state
    cpu0, emu0 = time.process_time(), process_cpu_s(emulator_pid)
    result = await fleet.sleep()
    emit(f"fanout_{n}_warm_client_cpu", time.process_time() - cpu0, "s")
    emit(f"fanout_{n}_warm_emulator_cpu", process_cpu_s(emulator_pid) - emu0, "s")
    report(f"fanout_{n}_warm", result, n)
    await fleet.wake()
    times_s, cpus_s, emus_s = [], [], []
    for _ in range(repeat):  # the box is shared: repeat to see through other load
        cpu0, emu0 = time.process_time(), process_cpu_s(emulator_pid)
        result = await fleet.sleep()
        cpus_s.append(time.process_time() - cpu0)
        emus_s.append(process_cpu_s(emulator_pid) - emu0)
        times_s.append(result.elapsed_s if result.all_ok else float("inf"))
        await fleet.wake()
    if times_s:
        stem = f"fanout_{n}_warm_signal_to_last_verified"
        emit(f"{stem}_best_of_{repeat}", min(times_s), "s")
        emit(f"{stem}_median_of_{repeat}", statistics.median(times_s), "s")
        emit(f"{stem}_worst_of_{repeat}", max(times_s), "s")
        emit(f"fanout_{n}_warm_client_cpu_median_of_{repeat}", statistics.median(cpus_s), "s")
        emit(f"fanout_{n}_warm_emulator_cpu_median_of_{repeat}", statistics.median(emus_s), "s")
    cold = FleetCommander(ips, concurrency=concurrency, timeout_s=5.0, retries=1)
    report(f"fanout_{n}_cold", await cold.sleep(), n)
    await cold.wake()


async def bench_pyasic(n: int, concurrency: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pyasic
    ips = loopback_ips(n, BASE_IP)
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one(ip: str) -> bool:
        async with sem:
            t = time.perf_counter()
            miner = await pyasic.get_miner(ip)
            ok = miner is not None and await miner.stop_mining()
            lat.append(time.perf_counter() - t)
            return bool(ok)

    t0 = time.perf_counter()
    oks = await asyncio.gather(*(one(ip) for ip in ips))
    emit(f"pyasic_{n}_signal_to_last_ack", time.perf_counter() - t0, "s")
    emit(f"pyasic_{n}_latency_p50", percentile(lat, 0.50), "s")
    emit(f"pyasic_{n}_latency_p99", percentile(lat, 0.99), "s")
    emit(f"pyasic_{n}_acknowledged", sum(oks) / n, "fraction")
    fleet = FleetCommander(ips, concurrency=1000)
    await fleet.wake()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--concurrency", type=int, default=1000)
    ap.add_argument(
        "--pyasic-max",
        type=int,
        default=10000,
        help="run the pyasic loop only for sizes up to this (it is slow)",
    )
    ap.add_argument("--pyasic-concurrency", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5, help="extra warm sleeps for best/median")
    ap.add_argument("--no-uvloop", action="store_true", help="plain asyncio loops on both sides")
    args = ap.parse_args()
    uv = not args.no_uvloop
    raise_open_file_limit(max(args.sizes) * 4 + 4096)
    emit("cpu_count", os.cpu_count() or 0, "cores")
    emit("load_average_1min_before", os.getloadavg()[0], "runnable")  # other work on the box
    emit("uvloop", float(uv and loop_factory() is not None), "bool")
    for n in args.sizes:
        proc = start_emulator(n, uv)
        try:
            aio_run(bench_ballast(n, args.concurrency, args.repeat, proc.pid), prefer_uvloop=uv)
            if n <= args.pyasic_max:
                aio_run(bench_pyasic(n, args.pyasic_concurrency), prefer_uvloop=uv)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
