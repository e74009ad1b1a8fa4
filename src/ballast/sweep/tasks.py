"""What a sweep task does on a worker: run a batch of scenarios, one row of KPIs each.

``run_batch`` is the only task function; the serial path (tests, benchmarks) calls the same
function in-process. A run that raises becomes a failure record (its parameters and message)
and the batch goes on. Each worker process warms itself once (``warm``): the numba kernels are
loaded and the bundled tables read into a per-process cache, so tasks pay neither; runs that share
their inputs (a grid over the fleet, limits or deadbands) build them once per process.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballast.sweep.document import RunSpec

# Evaluators: scenario -> (row of values, units by column). Named so a task carries a string.
Evaluator = Callable[[Any, Path | None], tuple[dict[str, float], dict[str, str]]]
_WARMED: set[str] = set()


def backtest_row(scenario, base_dir: Path | None) -> tuple[dict[str, float], dict[str, str]]:
    """Every KPI of ``ballast simulate`` for Ballast, the baseline and their delta:
    ``KPI``, ``baseline.KPI``, ``delta.KPI``."""
    from ballast.sim import simulate
    from ballast.sim.results import kpis_of

    kpis = kpis_of(simulate(scenario, base_dir=base_dir))
    row: dict[str, float] = {}
    units: dict[str, str] = {}
    for name, r in kpis.iterrows():
        for col, value in ((name, r.ballast), (f"baseline.{name}", r.baseline),
                           (f"delta.{name}", r.delta)):
            row[col] = float(value)
            units[col] = r.unit
    return row, units


def smoothing_cover_row(scenario, base_dir: Path | None) -> tuple[dict[str, float], dict[str, str]]:
    """``smoothing sweep``: compliance and margin of the miners-only and miners+battery cases
    (``CASE.metric`` columns)."""
    from ballast.sim.smoothing import CASES, compare_cases

    table, _ = compare_cases(scenario, base_dir,
                             [c for c in CASES if c[0] in ("miners", "miners+battery")])
    row: dict[str, float] = {}
    units: dict[str, str] = {}
    for case in table.columns.drop("unit"):
        for metric, value in table[case].items():
            row[f"{case}.{metric}"] = float(value)
            units[f"{case}.{metric}"] = str(table.loc[metric, "unit"])
    return row, units


EVALUATORS: dict[str, Evaluator] = {"backtest": backtest_row, "smoothing_cover": smoothing_cover_row}


@dataclass(frozen=True)
class BatchResult:
    rows: list[dict[str, Any]]  # run, run_id, parameters, values
    failures: list[dict[str, Any]]  # run, run_id, parameters, error
    units: dict[str, str]
    run_wall_s: list[float]
    pid: int
    run_cpu_s: list[float] = field(default_factory=list)  # CPU of the task thread, per run


def keep_freed_memory(trim_threshold_bytes: int = 256 * 2**20,
                      mmap_threshold_bytes: int = 32 * 2**20) -> bool:
    """Tell glibc's malloc to keep freed memory in the process (up to ``trim_threshold_bytes``
    at the top of the heap) and to serve arrays below ``mmap_threshold_bytes`` from the heap,
    so the next run reuses the pages instead of faulting in fresh ones. True if applied (Linux
    with glibc); elsewhere it does nothing.

    Why: a Dask worker starts with ``MALLOC_TRIM_THRESHOLD_=65536`` (Dask's default, to hand
    memory back to the OS), so every year-long array freed at the top of the heap went back to
    the kernel and was faulted in again by the next run. Measured on a 2-core machine, one
    warm worker, the West Texas year (benchmarks/bench_sweep.py): about 50,000 page faults and
    0.14-0.20 s of system CPU per run before, under 1,000 and 0.01 s after, about 25 % of a
    run's CPU time. The same environment variables given to the worker process at spawn did
    not reach that figure (still ~40,000 faults a run); setting them here, once per process,
    does, and it holds on any scheduler's workers, not only on a LocalCluster's.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl): nothing to tune
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc <malloc.h>
    return bool(libc.mallopt(m_trim_threshold, trim_threshold_bytes)) and \
        bool(libc.mallopt(m_mmap_threshold, mmap_threshold_bytes))


def warm(scenario_doc: dict, base_dir: str | None, evaluator: str = "backtest") -> None:
    """Once per process: keep freed memory, the bundled tables and the last few runs' inputs in
    memory (``ballast.inputs.cache``), and run one day of the scenario, so the numba kernels are
    compiled or loaded from the on-disk cache before the first task."""
    import pandas as pd

    from ballast.data.loaders import keep_tables_in_memory
    from ballast.inputs.cache import keep_inputs_in_memory
    from ballast.scenario import Scenario

    keep_tables_in_memory()
    keep_inputs_in_memory()
    if not _WARMED:
        keep_freed_memory()
    if evaluator in _WARMED:  # the kernels and the bundled tables are the same for every run
        return
    _WARMED.add(evaluator)
    doc = dict(scenario_doc)
    run = doc["run"]
    start, end = pd.Timestamp(run["start"]), pd.Timestamp(run["end"])
    short = start + 96 * pd.Timedelta(pd.tseries.frequencies.to_offset(run["resolution"]))
    doc["run"] = {**run, "end": min(end, short).isoformat()}  # 96 steps: a day at 15 min
    try:
        EVALUATORS[evaluator](Scenario.model_validate(doc), Path(base_dir) if base_dir else None)
    except Exception:  # warming is best effort; the real run reports the error
        pass


def run_batch(specs: list[RunSpec], base_dir: str | None, evaluator: str = "backtest",
              warm_doc: dict | None = None) -> BatchResult:
    """Run each spec; never raises for a run's own error (it becomes a failure record)."""
    import os

    from ballast.scenario import Scenario

    if warm_doc is not None:
        warm(warm_doc, base_dir, evaluator)
    fn = EVALUATORS[evaluator]
    folder = Path(base_dir) if base_dir else None
    rows, failures, walls, cpus, units = [], [], [], [], {}
    for spec in specs:
        head = {"run": spec.index, "run_id": spec.run_id, **spec.params}
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            values, u = fn(Scenario.model_validate(spec.scenario), folder)
        except Exception as exc:  # any error of one run is recorded, not fatal
            where = traceback.extract_tb(exc.__traceback__)[-1]
            failures.append({**head, "error": f"{type(exc).__name__}: {exc}",
                             "where": f"{Path(where.filename).name}:{where.lineno}"})
        else:
            rows.append({**head, **values})
            units.update(u)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.thread_time() - c0)
    return BatchResult(rows, failures, units, walls, os.getpid(), cpus)
