"""Run a sweep plan on a ``dask.distributed`` client (a LocalCluster or any scheduler: one code
path), or in-process with the same task function (``client=None``: tests and benchmarks).

Runs go out in batches (one task each); results stream back with ``as_completed`` and are
stored as they arrive. A task lost with its worker is rescheduled by Dask on another worker
(the scheduler's ``allowed-failures``); a task that still fails records each of its runs as
failed. Dask is imported only here, and only when a sweep runs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ballast.sweep.document import RunSpec, SweepPlan
from ballast.sweep.store import SweepStore
from ballast.sweep.tasks import BatchResult, run_batch

# (runs done, runs to do, the batch result); called once with (0, to do, None) at the start
OnResult = Callable[[int, int, BatchResult | None], None]
MAX_AUTO_BATCH = 16  # runs per task at most: a task lost with its worker costs little
# Guided batches take 1/(TAIL_FACTOR x workers) of the runs left (guided_sizes). bench_sweep,
# 200 runs, 2 workers: equal batches (29 tasks of 6-7 runs) left one worker a whole batch more
# (97/103 runs), 50-55 ms overhead per task on the quiet machine; guided (21 tasks): idle tail
# 0.04-0.07 s, 38-46 ms per task on the shared machine (load 1-4)
TAIL_FACTOR = 2


@dataclass
class SweepOutcome:
    runs: pd.DataFrame  # every stored run (this session and resumed ones), sorted by run
    failures: pd.DataFrame
    total: int  # runs in the plan
    ran: int  # runs attempted in this session
    skipped: int  # runs already stored (resume)
    tasks: int
    wall_s: float
    run_wall_s: list[float] = field(default_factory=list)
    run_cpu_s: list[float] = field(default_factory=list)  # CPU of the task thread, per run
    units: dict[str, str] = field(default_factory=dict)
    workers: dict[int, int] = field(default_factory=dict)  # worker pid -> runs done


def batches(runs: list, size: int) -> list[list]:
    """At most ``size`` items per group, in ``ceil(len / size)`` groups whose sizes differ by at
    most one; group ``g`` takes every n-th item from ``g`` (a stride), so each group mixes the
    cheap and the costly ends of a grid and the last tasks do not leave a worker idle.
    Results are keyed by run, so the grouping never changes a table."""
    n = math.ceil(len(runs) / max(size, 1))
    return [runs[g::n] for g in range(n)]


def guided_sizes(n: int, n_workers: int, most: int = MAX_AUTO_BATCH) -> list[int]:
    """Batch sizes that shrink towards the end (guided self-scheduling, Polychronopoulos & Kuck
    1987): each takes ``1 / (TAIL_FACTOR x workers)`` of the runs still left, at most ``most``
    and at least 1, so the first tasks are big (few round trips) and the last ones single runs
    (the worker that finishes first waits for at most about one run, not one whole batch)."""
    sizes, left = [], n
    while left > 0:
        size = max(1, min(most, left, math.ceil(left / (TAIL_FACTOR * max(n_workers, 1)))))
        sizes.append(size)
        left -= size
    return sizes


def guided_batches(items: list, n_workers: int, most: int = MAX_AUTO_BATCH) -> list[list]:
    """``items`` in groups of ``guided_sizes``, largest first. The items are dealt in a stride
    first (as ``batches``), so a group mixes the cheap and the costly ends of a grid; results
    are keyed by run, so the grouping never changes a table."""
    sizes = guided_sizes(len(items), n_workers, most)
    dealt = [x for group in batches(items, math.ceil(len(items) / max(len(sizes), 1)))
             for x in group]
    out, at = [], 0
    for size in sizes:
        out.append(dealt[at:at + size])
        at += size
    return out


def task_groups(items: list, n_workers: int, batch_size: int | None = None,
                most: int = MAX_AUTO_BATCH) -> list[list]:
    """``items`` in tasks: ``batch_size`` each when given (``batches``), else guided sizes of at
    most ``most`` (``guided_batches``). Sweeps, the frequency study and its Monte Carlo."""
    return batches(items, batch_size) if batch_size else guided_batches(items, n_workers, most)


# Our LocalCluster shares the machine's cores with its own client and scheduler, so Dask's
# background work is slowed down. Measured idle on 2 cores (2 workers): the client process
# (scheduler, client) 41 ms CPU per second and each worker 22 ms/s with Dask's defaults,
# 12 and 5 ms/s with these: the event-loop tick, the memory monitor (pause/spill/terminate now
# react within 1 s), the system monitor (the dashboard's resource plots every 2 s) and work
# stealing (tasks are queued on the scheduler and handed to free workers anyway). The
# statistical profiler, sampling the task thread every 10 ms, cost about 20 % of a run's CPU.
QUIET_CLUSTER = {"distributed.worker.profile.enabled": False,
                 "distributed.admin.tick.interval": "1s",
                 "distributed.worker.memory.monitor-interval": "1s",
                 "distributed.admin.system-monitor.interval": "2s",
                 "distributed.scheduler.work-stealing-interval": "1s"}


@contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None) -> Iterator:
    """A Client on ``scheduler`` (tcp://HOST:8786), or on a new LocalCluster of ``workers``
    single-threaded worker processes on loopback (default: one per core)."""
    import logging

    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler, timeout="20s") as client:  # a shared cluster: its config is its own
            yield client
        return
    import dask

    n = workers or os.cpu_count() or 1
    # Each worker runs one task thread, and numba and the BLAS/OpenMP pools one thread each
    # (Dask sets OMP, MKL, OpenBLAS), so N workers use N cores and do not oversubscribe them;
    # each keeps its freed memory (tasks.keep_freed_memory; elsewhere the sweep's tasks do).
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ"), "NUMBA_NUM_THREADS": 1}
    with dask.config.set({**QUIET_CLUSTER, "distributed.nanny.pre-spawn-environ": environ}), \
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        _tune_workers(client)
        yield client


def _tune_workers(client) -> None:
    """Every worker of our LocalCluster, and any the nanny restarts, keeps its freed memory
    (``tasks.keep_freed_memory``): sweeps, the planner's backtests and the Monte Carlos alike."""
    from dask.distributed import WorkerPlugin

    from ballast.sweep.tasks import keep_freed_memory

    class KeepFreedMemory(WorkerPlugin):
        name = "ballast-keep-freed-memory"

        def setup(self, worker) -> None:
            keep_freed_memory()

    client.register_plugin(KeepFreedMemory())


def _failed_batch(specs: list[RunSpec], message: str) -> BatchResult:
    return BatchResult([], [{"run": s.index, "run_id": s.run_id, **s.params, "error": message,
                             "where": "dask"} for s in specs], {}, [], -1)


def stream_batches(client, fn: Callable, groups: list[list], *args, key_prefix: str,
                   take: Callable[[int, object], None]) -> None:
    """Submit ``fn(group, *args)`` as one Dask task per group (one retry if its worker is lost)
    and call ``take(group index, result)`` as each finishes, in completion order; a task that
    still fails gives its exception instead of a result. When ``take`` raises, or the caller is
    interrupted, every outstanding task is cancelled and released before the exception leaves
    this function, while the client is open: nothing is left for the garbage collector (which
    would cancel on the client's loop, a never-awaited coroutine). The one place tasks go to
    Dask: sweeps, the planner's Monte Carlo and the studies' ensembles."""
    from dask.distributed import as_completed

    futures = {}
    finished = None
    try:
        for i, group in enumerate(groups):
            # in order (the guided batches shrink towards the end): higher priority runs first
            fut = client.submit(fn, group, *args, key=f"{key_prefix}-{i}", pure=False, retries=1,
                                priority=len(groups) - i)
            futures[fut] = i
        finished = as_completed(list(futures))
        for fut in finished:
            i = futures.pop(fut)
            result = fut.result() if fut.status == "finished" else fut.exception()
            fut.release()
            take(i, result)
    finally:
        if finished is not None:
            finished.clear()  # it holds the futures not yet returned
        if futures:
            client.cancel(list(futures))
            futures.clear()


def _stream(client, plan: SweepPlan, groups: list[list[RunSpec]], base_dir: str, evaluator: str,
            warm_doc: dict | None, take: Callable[[BatchResult, int], None], session: str) -> None:
    """One task per batch; take each result as it finishes (what finished is already stored)."""

    def take_batch(i: int, result: BatchResult | BaseException) -> None:
        if isinstance(result, BaseException):
            result = _failed_batch(groups[i], f"{type(result).__name__}: {result}")
        take(result, len(groups[i]))

    stream_batches(client, run_batch, groups, base_dir, evaluator, warm_doc,
                   key_prefix=f"ballast-sweep-{plan.fingerprint}-{session}", take=take_batch)


def run_sweep(plan: SweepPlan, client=None, out_dir: Path | None = None, *, resume: bool = False,
              batch_size: int | None = None, evaluator: str = "backtest",
              on_result: OnResult | None = None) -> SweepOutcome:
    """Run every run of ``plan`` not already stored in ``out_dir``; store results as they come.

    ``client``: a ``dask.distributed.Client``; None runs the same task function in-process.
    ``out_dir`` None keeps results in memory only (``smoothing sweep``)."""
    t0 = time.perf_counter()
    store = SweepStore(out_dir, plan, resume=resume) if out_dir is not None else None
    done_ids = store.stored_ids() if store is not None else set()
    todo = [r for r in plan.runs if r.run_id not in done_ids]
    n_workers = len(client.nthreads()) if client is not None else 1
    groups = task_groups(todo, n_workers, batch_size or plan.sweep.batch_size)
    base_dir = str(plan.base_dir)
    warm_doc = plan.runs[0].scenario if plan.runs else None
    rows: list[dict] = []
    failures: list[dict] = []
    outcome = SweepOutcome(pd.DataFrame(), pd.DataFrame(), len(plan.runs), len(todo),
                           len(plan.runs) - len(todo), len(groups), 0.0)

    done = 0

    def take(result: BatchResult, n_specs: int) -> None:
        nonlocal done
        done += n_specs
        if store is not None:
            store.add(result.rows, result.failures, result.units)
        else:
            rows.extend(result.rows)
            failures.extend(result.failures)
        outcome.units.update(result.units)
        outcome.run_wall_s.extend(result.run_wall_s)
        outcome.run_cpu_s.extend(result.run_cpu_s)
        if result.pid >= 0:
            outcome.workers[result.pid] = outcome.workers.get(result.pid, 0) + len(result.run_wall_s)
        if on_result is not None:
            on_result(done, len(todo), result)

    try:
        if on_result is not None:
            on_result(0, len(todo), None)
        if client is None:  # tables and inputs kept across the runs, the caller's after
            from ballast.data.loaders import tables_in_memory
            from ballast.inputs.cache import inputs_in_memory

            with tables_in_memory(), inputs_in_memory():
                for group in groups:
                    take(run_batch(group, base_dir, evaluator, warm_doc), len(group))
        elif groups:
            _stream(client, plan, groups, base_dir, evaluator, warm_doc, take,
                    store.session if store else "mem")
    finally:
        if store is not None:
            store.close()
    if store is not None:
        outcome.runs = store.consolidate()
        outcome.failures = store.failures()
        outcome.units = dict(store.units)
    else:
        outcome.runs = pd.DataFrame(rows).sort_values("run").reset_index(drop=True) if rows \
            else pd.DataFrame()
        outcome.failures = pd.DataFrame(failures)
    outcome.wall_s = time.perf_counter() - t0
    return outcome
