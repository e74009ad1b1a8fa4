"""Sweep speed: 200 fifteen-minute-year backtests of the West Texas campus (2024), serial
in-process vs a 2-worker LocalCluster, both warm (numba kernels and bundled tables loaded) and
both writing the sweep's output folder as ``ballast sweep`` does.

Figures (``BALLAST_BENCH_REPEAT=N`` runs each side N times and prints the best; default 1):

- serial and cluster wall [s] (best and median) and the speed-up (goal >= 1.8x on 2 cores),
  best against best, and the median of the ratios of a serial and a cluster sweep run back to
  back (on a shared machine both then see about the same neighbours);
- CPU seconds of the serial process and of the busiest worker, and their ratio: on a machine
  shared with other work the wall ratio says more about the neighbours than about Dask, and
  the CPU ratio is what two dedicated cores would give at most;
- a run's CPU in-process and in a worker (mean of the task thread's CPU per run) [ms]; and
  in-process with its inputs rebuilt each run (the inputs cache off, ``ballast.inputs.cache``);
- where a worker's extra CPU per run comes from, on the same 20 runs (best of the repeats):
  in-process, on one worker while the other idles, and on both workers at once (each the
  same 20); and the most inputs a worker built over all the sweeps here (the rest came from its
  cache: the warm-up day and the year are two);
- overhead per task [ms], of wall: (cluster wall x workers - run wall spent in tasks) / tasks,
  i.e. scheduler round trips, serialisation, storing and the idle tail of the last tasks;
  and of CPU: the workers' process CPU beyond their runs, per task (the Dask worker itself);
- the idle tail [s]: from the last result of the worker that finished first to the last result
  of the sweep (how long a worker had nothing left to do);
- the client's CPU during the cluster sweep (the in-process scheduler, storing results,
  progress), which competes with the workers for the same cores [s];
- round trip of an empty task, one at a time (median of 30) [ms]; bytes sent and returned per
  run; cluster start [s];
- peak resident memory of each worker and of the serial (client) process [MB]; the machine's
  load average at the start.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ballast.examples import find_example
from ballast.inputs import cache as inputs_cache
from ballast.sweep.document import load_sweep
from ballast.sweep.engine import open_client, run_sweep
from ballast.sweep.tasks import run_batch, warm

BASE = find_example("west_texas_2024")
GRID = {"miners[s21].count": [3000, 6000, 9000, 12000, 15000, 18000, 21000, 24000, 27000, 30000],
        "site.import_limit_mw": [220, 250, 280, 310, 340],
        "miners[s19jpro].deadband_usd_per_mwh": [0, 5, 10, 20]}  # 10 x 5 x 4 = 200 runs
WORKERS = 2


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 4), "unit": unit}), flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    repeat = max(1, int(os.environ.get("BALLAST_BENCH_REPEAT", "1")))
    emit("sweep_load_average_1min_at_start", os.getloadavg()[0], "processes")
    folder = Path(tempfile.mkdtemp(prefix="ballast-bench-sweep-"))
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "name": "bench", "base": str(BASE),
                                    "seed": 1, "grid": GRID}))
    plan = load_sweep(path)
    assert len(plan.runs) == 200
    warm(plan.runs[0].scenario, str(plan.base_dir))
    one = run_batch(plan.runs[:1], str(plan.base_dir))
    emit("sweep_bytes_sent_per_run", len(pickle.dumps(plan.runs[0])), "B")
    emit("sweep_bytes_returned_per_run", len(pickle.dumps(one)), "B")

    serial_s, serial_cpu = [], []
    for i in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        serial = run_sweep(plan, None, folder / f"serial-{i}")
        serial_s.append(time.perf_counter() - t0)
        serial_cpu.append(time.process_time() - c0)
    emit("sweep_200_years_serial_wall", min(serial_s), "s")
    emit("sweep_200_years_serial_wall_median", statistics.median(serial_s), "s")
    emit("sweep_200_years_serial_cpu", min(serial_cpu), "s")
    emit("sweep_run_cpu_in_process_mean", statistics.mean(serial.run_cpu_s) * 1000, "ms")
    kept, inputs_cache._CACHE = inputs_cache._CACHE, None  # the inputs cache off for a while
    rebuilt = run_batch(plan.runs[:40], str(plan.base_dir))
    inputs_cache._CACHE = kept
    emit("sweep_run_cpu_in_process_inputs_rebuilt_mean", statistics.mean(rebuilt.run_cpu_s) * 1000,
         "ms")
    emit("sweep_serial_peak_rss", peak_rss_mb(), "MB")

    t0 = time.perf_counter()
    with open_client(workers=WORKERS) as client:
        emit("sweep_local_cluster_start", time.perf_counter() - t0, "s")
        client.run(warm, plan.runs[0].scenario, str(plan.base_dir))  # both workers warm
        walls, busiest, worker_extra, client_cpu, overhead, tails = [], [], [], [], [], []
        paired = []  # serial wall / cluster wall, run back to back (the same neighbours)
        for i in range(repeat):
            t0 = time.perf_counter()
            run_sweep(plan, None, folder / f"paired-{i}")
            paired_serial = time.perf_counter() - t0
            cpu0, me0 = client.run(time.process_time), time.process_time()
            last: dict[int, float] = {}  # worker pid -> when its last result arrived

            def arrived(done, total, result, last=last):
                if result is not None:
                    last[result.pid] = time.perf_counter()

            t0 = time.perf_counter()
            cluster = run_sweep(plan, client, folder / f"cluster-{i}", on_result=arrived)
            wall = time.perf_counter() - t0
            tails.append(max(last.values()) - min(last.values()))
            cpu1, me1 = client.run(time.process_time), time.process_time()
            used = {w: cpu1[w] - cpu0[w] for w in cpu0}
            walls.append(wall)
            paired.append(paired_serial / wall)
            busiest.append(max(used.values()))
            worker_extra.append((sum(used.values()) - sum(cluster.run_cpu_s)) / cluster.tasks)
            client_cpu.append(me1 - me0)
            overhead.append((wall * WORKERS - sum(cluster.run_wall_s)) / cluster.tasks)
        alone, at_once, here = [], [], []
        addresses = sorted(client.nthreads())
        some = plan.runs[:20]
        for _ in range(repeat):
            here.append(statistics.mean(run_batch(some, str(plan.base_dir)).run_cpu_s))
            one = client.submit(run_batch, some, str(plan.base_dir), workers=addresses[:1],
                                pure=False).result()
            alone.append(statistics.mean(one.run_cpu_s))
            both = [client.submit(run_batch, some, str(plan.base_dir), workers=[a], pure=False)
                    for a in addresses]
            at_once.append(statistics.mean(c for f in both for c in f.result().run_cpu_s))
        emit("sweep_run_cpu_20_runs_in_process", min(here) * 1000, "ms")
        emit("sweep_run_cpu_20_runs_one_worker_alone", min(alone) * 1000, "ms")
        emit("sweep_run_cpu_20_runs_two_workers_at_once", min(at_once) * 1000, "ms")
        built = client.run(lambda: inputs_cache.active_cache().misses)
        emit("sweep_inputs_built_by_busiest_worker", float(max(built.values())), "builds")
        best = walls.index(min(walls))
        emit("sweep_200_years_2_workers_wall", walls[best], "s")
        emit("sweep_200_years_2_workers_wall_median", statistics.median(walls), "s")
        emit("sweep_speedup_2_workers", min(serial_s) / walls[best], "x")
        emit("sweep_speedup_2_workers_paired_median", statistics.median(paired), "x")
        emit("sweep_busiest_worker_cpu", min(busiest), "s")
        emit("sweep_speedup_2_workers_cpu_bound", min(serial_cpu) / min(busiest), "x")
        emit("sweep_run_cpu_in_worker_mean", statistics.mean(cluster.run_cpu_s) * 1000, "ms")
        emit("sweep_tasks", float(cluster.tasks), "tasks")
        emit("sweep_overhead_per_task", overhead[best] * 1000, "ms")
        emit("sweep_idle_tail", tails[best], "s")
        emit("sweep_worker_cpu_beyond_runs_per_task", min(worker_extra) * 1000, "ms")
        emit("sweep_client_cpu_during_cluster_sweep", client_cpu[best], "s")
        trips = []
        for _ in range(30):
            t0 = time.perf_counter()
            client.submit(run_batch, [], None, pure=False).result()
            trips.append(time.perf_counter() - t0)
        emit("sweep_empty_task_round_trip", statistics.median(trips) * 1000, "ms")
        for n, (_, rss) in enumerate(sorted(client.run(peak_rss_mb).items())):
            emit(f"sweep_worker_{n}_peak_rss", rss, "MB")
    same = serial.runs.equals(cluster.runs)
    emit("sweep_cluster_table_equals_serial", float(same), "bool")
    if not same or len(serial.failures) or len(cluster.failures):
        sys.exit(1)


if __name__ == "__main__":
    main()
