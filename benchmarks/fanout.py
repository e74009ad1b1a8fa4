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
  is acknowledged). No read-back; pyasic's own True/False result counts as the ack. Run once
  (it is slow); ``pyasic_<n>_over_ballast_{warm,cold}_median`` divides its time by Ballast's
  median in the same run.
- ``tcp_floor_<n>``: what the two connections per miner cost with no JSON and no miner logic:
  the fan-out's own socket pump against a bare epoll server (``fanout_floor.py``) answering a
  reply of the read-back's size. Ballast's figures cannot go below it on the same machine.

Warm and cold are each run ``--repeat`` times (default 5): ``..._best``, ``..._median`` and
``..._worst`` of the signal-to-last-verified time. The machine is shared (other work runs on
the same cores; ``load_average_1min_before`` says how much), so CPU time is reported too:
``..._client_cpu_{user,sys}`` for this process and ``..._emulator_cpu_{user,sys}`` for the
emulator's (medians over the runs), which other load does not inflate as much as wall time.

The fleet commander sends every curtail before any read-back (breadth first), so per-miner
latency includes waiting behind other miners' commands; ``..._command_ack`` is when the last
curtail was acknowledged. Time is from the signal (just before the first send) to the last
verified acknowledgement. Latency per miner is from its first send to its verified outcome.

    python benchmarks/fanout.py --sizes 1000 10000 --pyasic-max 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings

from fanout_floor import floor_fanout, start_floor_server

from ballast.live.drivers.aio import loop_factory
from ballast.live.drivers.aio import run as aio_run
from ballast.live.drivers.fleet import FleetCommander, FleetResult
from ballast.live.drivers.luxos import READBACK_COMMAND
from ballast.live.emulators.catalog import DEFAULT_MODELS, get_model
from ballast.live.emulators.luxos import loopback_ips, raise_open_file_limit
from ballast.live.emulators.luxos_miner import EmulatedMiner

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


def process_cpu_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of process ``pid`` so far [s] (Linux /proc; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def own_cpu_s() -> tuple[float, float]:
    """(user, system) CPU time of this process so far [s]."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


class CpuMeter:
    """CPU time (user, system) spent by this process and the emulator between start and stop."""

    def __init__(self, emulator_pid: int, other: str = "emulator") -> None:
        self.pid = emulator_pid
        self.other = other  # what the other process is called in the figures' names
        self.runs: list[dict[str, float]] = []

    def start(self) -> None:
        self._own, self._emu = own_cpu_s(), process_cpu_s(self.pid)

    def stop(self) -> None:
        own, emu = own_cpu_s(), process_cpu_s(self.pid)
        self.runs.append(
            {
                "client_cpu_user": own[0] - self._own[0],
                "client_cpu_sys": own[1] - self._own[1],
                f"{self.other}_cpu_user": emu[0] - self._emu[0],
                f"{self.other}_cpu_sys": emu[1] - self._emu[1],
            }
        )

    def emit_medians(self, prefix: str) -> None:
        for key in self.runs[0]:
            emit(f"{prefix}_{key}_median", statistics.median(r[key] for r in self.runs), "s")


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


def emit_spread(prefix: str, times_s: list[float]) -> float:
    """Best, median and worst of ``times_s``; returns the median."""
    stem = f"{prefix}_signal_to_last_verified"
    median = statistics.median(times_s)
    emit(f"{stem}_best_of_{len(times_s)}", min(times_s), "s")
    emit(f"{stem}_median_of_{len(times_s)}", median, "s")
    emit(f"{stem}_worst_of_{len(times_s)}", max(times_s), "s")
    return median


async def bench_ballast(n: int, concurrency: int, repeat: int, emulator_pid: int) -> dict[str, float]:
    """Warm and cold sleeps, ``repeat`` of each; returns their median times [s]."""
    ips = loopback_ips(n, BASE_IP)
    fleet = FleetCommander(ips, concurrency=concurrency, timeout_s=5.0, retries=1)
    await fleet.refresh_sessions()  # not timed: held sessions are the normal state
    await fleet.sleep()  # not counted: first use of the commander and the emulator's replies
    await fleet.wake()
    medians: dict[str, float] = {}
    for kind in ("warm", "cold"):
        prefix = f"fanout_{n}_{kind}"
        cpu = CpuMeter(emulator_pid)
        times_s = []
        for i in range(repeat):  # the box is shared: repeat to see through other load
            if kind == "cold":  # no session cached: ``session`` (or ``logon``) in each chain
                fleet = FleetCommander(ips, concurrency=concurrency, timeout_s=5.0, retries=1)
            cpu.start()
            result = await fleet.sleep()
            cpu.stop()
            if i == 0:
                report(prefix, result, n)
            times_s.append(result.elapsed_s if result.all_ok else float("inf"))
            await fleet.wake()
        medians[kind] = emit_spread(prefix, times_s)
        cpu.emit_medians(prefix)
    return medians


def reply_sizes() -> tuple[int, int]:
    """Bytes of the emulator's curtail and read-back replies (for the TCP floor)."""
    miner = EmulatedMiner("127.0.0.2", get_model(DEFAULT_MODELS[0]), time.monotonic)
    sid = json.loads(miner.handle_request({"command": "logon"}))["SESSION"][0]["SessionID"]
    curtail = miner.handle_request({"command": "curtail", "parameter": f"{sid},sleep"})
    return len(curtail), len(miner.handle_request({"command": READBACK_COMMAND}))


def bench_floor(n: int, concurrency: int, repeat: int, uv: bool) -> None:
    """``tcp_floor_<n>``: the fan-out's two connections per miner against a bare server."""
    proc = start_floor_server(n, BASE_IP, *reply_sizes())
    try:
        ips = loopback_ips(n, BASE_IP)
        cpu = CpuMeter(proc.pid, other="server")
        times_s = []
        for _ in range(repeat):
            cpu.start()
            elapsed_s, replies = aio_run(floor_fanout(ips, concurrency), prefer_uvloop=uv)
            cpu.stop()
            times_s.append(elapsed_s if replies == n else float("inf"))
        emit_spread(f"tcp_floor_{n}", times_s)  # signal to the last read-back reply
        cpu.emit_medians(f"tcp_floor_{n}")
    finally:
        proc.kill()
        proc.wait(timeout=30)


async def bench_pyasic(n: int, concurrency: int) -> float:
    """The plain pyasic loop once; returns its signal-to-last-ack time [s]."""
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
    elapsed_s = time.perf_counter() - t0
    emit(f"pyasic_{n}_signal_to_last_ack", elapsed_s, "s")
    emit(f"pyasic_{n}_latency_p50", percentile(lat, 0.50), "s")
    emit(f"pyasic_{n}_latency_p99", percentile(lat, 0.99), "s")
    emit(f"pyasic_{n}_acknowledged", sum(oks) / n, "fraction")
    fleet = FleetCommander(ips, concurrency=1000)
    await fleet.wake()
    return elapsed_s


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
    ap.add_argument("--repeat", type=int, default=5, help="warm and cold sleeps each, for best/median/worst")
    ap.add_argument("--no-floor", action="store_true", help="skip the bare TCP floor")
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
            medians = aio_run(bench_ballast(n, args.concurrency, args.repeat, proc.pid), prefer_uvloop=uv)
            if n <= args.pyasic_max:
                pyasic_s = aio_run(bench_pyasic(n, args.pyasic_concurrency), prefer_uvloop=uv)
                for kind, median_s in medians.items():
                    emit(f"pyasic_{n}_over_ballast_{kind}_median", pyasic_s / median_s, "ratio")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        if not args.no_floor:
            bench_floor(n, args.concurrency, args.repeat, uv)
    emit("load_average_1min_after", os.getloadavg()[0], "runnable")


if __name__ == "__main__":
    main()
