"""Grid studies: flexible-load headroom of one BA over nine years at four rates (goal <= 0.5 s);
one 60-s frequency event at 10 ms with every relay group and 2 GW of miners (goal <= 50 ms);
a 10,000-event Monte Carlo of random trip size, inertia and fleet MW through the sweep engine
(goal <= 20 s), in-process and on a 2-worker LocalCluster (cluster start reported apart; CPU
seconds of the busiest worker and the load average, because a shared machine skews walls); the
ballast-balancing map, 10 periods x 10 amplitudes, one hour each at 1 s (goal <= 30 s).
One JSON line each."""

from __future__ import annotations

import os
import time

from bench_programs import best_of, emit  # benchmarks/ is on sys.path when run as a script

from ballast.examples import examples_dir
from ballast.studies.frequency_doc import bundled_study_path, load_study
from ballast.studies.frequency_mc import monte_carlo
from ballast.studies.frequency_study import run_event
from ballast.studies.headroom_study import headroom_study
from ballast.sweep.engine import open_client

EXAMPLES = examples_dir()


def main() -> None:
    headroom_study("ERCO")  # warm-up (imports, parquet reader)
    emit("study_headroom_erco_9y_4rates", best_of(lambda: headroom_study("ERCO")), "s")
    emit("study_headroom_pjm_9y_4rates", best_of(lambda: headroom_study("PJM")), "s")
    study = load_study(bundled_study_path())
    trip = study.events[0]
    run_event(study, trip, 2000.0)  # warm-up (numba)
    emit("study_frequency_event_60s_10ms", best_of(lambda: run_event(study, trip, 2000.0), 20), "s")
    emit("study_load_average_1min_at_monte_carlo", os.getloadavg()[0], "processes")
    t0, c0 = time.perf_counter(), time.process_time()
    serial = monte_carlo(study, 10_000, seed=1)
    emit("study_frequency_monte_carlo_10000_events", time.perf_counter() - t0, "s")
    emit("study_frequency_monte_carlo_10000_events_cpu", time.process_time() - c0, "s")
    t0 = time.perf_counter()
    with open_client(workers=2) as client:
        emit("study_frequency_monte_carlo_cluster_start", time.perf_counter() - t0, "s")
        monte_carlo(study, 20, seed=1, client=client)  # warm-up: numba kernels on both workers
        cpu0 = client.run(time.process_time)
        t0 = time.perf_counter()
        on_cluster = monte_carlo(study, 10_000, seed=1, client=client)
        emit("study_frequency_monte_carlo_10000_events_2_workers", time.perf_counter() - t0, "s")
        cpu1 = client.run(time.process_time)
        emit("study_frequency_monte_carlo_busiest_worker_cpu",
             max(cpu1[w] - cpu0[w] for w in cpu0), "s")
    emit("study_frequency_monte_carlo_cluster_equals_serial", float(on_cluster.equals(serial)), "bool")
    from ballast.scenario import load_scenario
    from ballast.studies.balancing import balancing_map

    scn = load_scenario(EXAMPLES / "training_campus.yaml")
    balancing_map(scn, [60.0], [10.0], base_dir=EXAMPLES)  # warm-up (numba, parquet)
    t0 = time.perf_counter()
    balancing_map(scn, base_dir=EXAMPLES)
    emit("study_balancing_map_10x10_1h_1s", time.perf_counter() - t0, "s")


if __name__ == "__main__":
    main()
