"""Render the sweep reference (docs/sweep.md) from the sweep document model."""

from __future__ import annotations

from ballast.documents import DOCUMENT_RULES
from ballast.scenario_docs import render_reference
from ballast.sweep.document import Sweep

INTRO = """Generated from `src/ballast/sweep/document.py` by `python -m ballast.sweep.docs`; do not
edit by hand.

A sweep names a base scenario and the scenario fields to vary. A field is named by its path in
the scenario document (see scenario.md): `site.import_limit_mw`, `control.economic_dispatch`, a
list item by its name `miners[s21].count` or by position `miners[0].count`. Every run's scenario
is built (base, then the case's override and `set`, then the grid point or sample) and validated
by the scenario model before anything runs: an unknown field or a wrong value stops the sweep at
once with exit code 2, naming the run and the field.

```yaml
version: 1
name: west-texas-fleet
base: west_texas_2024            # bundled example name, or a path relative to this file
seed: 2024
grid:                            # or samples: {n: 200, ranges: {...}, choices: {...}}
  miners[s21].count: [5000, 15000, 25000]
  site.import_limit_mw: [240, 280, 320]
cases:                           # optional; crossed with the grid or the samples
  - {name: no-wind, override: {renewables: []}}
```

`ballast sweep SWEEP.yaml [--out DIR] [--workers N | --scheduler tcp://HOST:8786] [--resume]
[--json]` runs it on a Dask LocalCluster of worker processes (default, one per core) or on an
existing scheduler, and writes into DIR (default `out/sweeps/NAME`):

- `runs.parquet`: one row per run: `run`, `run_id`, the varied fields (as validated), `run.seed`,
  then every KPI of `ballast simulate` for Ballast (`KPI`), the baseline (`baseline.KPI`) and
  their difference (`delta.KPI`); units in the file's `ballast.sweep` metadata and `sweep.json`;
- `failures.csv`: run, parameters, error message and where it was raised, one line per failed run;
- `report.html`: the KPI distribution, a scatter of any two columns, Pareto fronts of net margin
  against CO2 and against the import limit (or peak import), a one-at-a-time sensitivity tornado;
- `parts/` while it runs: finished tasks land there as they arrive, so an interrupted sweep keeps
  them; `--resume` skips the runs already stored and runs only the rest.

Seeds: with `seeds: per_run` run *i* gets `run.seed` = the first 32-bit word of child *i* of
`SeedSequence(seed).spawn(2)[1]` (samples draw from child 0), so the table does not depend on
where or in what order runs execute. Remote clusters: data paths are resolved on the workers;
use `bundled:` data or paths every worker can read. Exit codes: 0 all runs stored, 1 some runs
failed, 2 bad input, 130 interrupted.

How it runs, and what to expect: each Dask task runs a batch of runs. By default the batches
shrink as the sweep goes (guided self-scheduling): each takes a quarter of the runs still left
on two workers (an eighth on four), at most 16, down to single runs at the end, so there are few
round trips early and the worker that finishes first waits for about one run, not one batch;
runs are dealt in a stride first, so a batch mixes cheap and costly corners of a grid.
`batch_size` gives equal batches of that size instead. Each batch is one task, sent in order;
results are stored as each task finishes. A worker
warms once (numba kernels, bundled tables in memory) at its first task, and keeps the inputs of
the last four distinct runs it built (prices, hashprice, AI load, renewables and carbon on the
run's intervals; at most 512 MB; read-only): runs that differ only in fields the inputs do not
read (miner groups, site limits, control, battery, costs, names, and `run.seed` when the AI
load has no noise) share them, while a run that changes the period or resolution, a price
source or node, the AI load, a plant, the Bitcoin, carbon or program settings builds its own,
and a data file changed on disk is read again. A serial sweep keeps them while it runs. The default
LocalCluster runs worker processes with one task thread each (numba, OpenMP and BLAS one thread
each), so N workers use N cores, with Dask's profiler off and its monitors slowed (memory limits
act within 1 s, dashboard resource plots every 2 s). On Linux with glibc every worker keeps its
freed memory (malloc trim threshold 256 MiB), so runs reuse pages instead of faulting them in
again; this keeps a worker's resident memory near its peak (about 350 MB for a 15-min year of
the West Texas campus). Elsewhere (macOS, Windows, musl) that tuning is skipped and a run costs
more CPU in a worker. With `--scheduler` the cluster's own configuration is left as it is; only
the sweep's tasks keep freed memory in the worker processes they run in. Speed-up is bounded by
the cores: with two workers on two cores the client (scheduler, storing results, progress bar)
shares them; `benchmarks/bench_sweep.py` prints the figures."""


def render_markdown() -> str:
    return render_reference(Sweep, "Sweep reference (version 1)", INTRO + "\n\n" + DOCUMENT_RULES)


if __name__ == "__main__":
    print(render_markdown())
