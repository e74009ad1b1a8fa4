"""Monte Carlo of random generation trips (trip size, inertia H, miner fleet MW), run through
the sweep engine: batches of events as Dask tasks on a ``dask.distributed`` client (a
LocalCluster or a scheduler), or the same batch function in-process (``client=None``).

Each event draws its three values from its own generator, seeded from the sweep seed and the
event's index exactly as a sweep seeds its runs (``ballast.sweep.document.run_seed``), so the
table does not depend on the batch size, the number of workers or the order tasks finish in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ballast.studies.frequency_doc import Event, FrequencyStudy
from ballast.studies.frequency_study import event_metrics, run_event
from ballast.sweep.document import run_seed
from ballast.sweep.engine import stream_batches, task_groups

MAX_EVENTS_PER_TASK = 1000  # one 60-s event at 10 ms takes about 0.4 ms: 1,000 is under a second


@dataclass(frozen=True)
class McRanges:
    """Uniform ranges of the random draws."""

    trip_mw: tuple[float, float] = (500.0, 3500.0)
    inertia_h_s: tuple[float, float] = (2.5, 5.0)
    fleet_mw: tuple[float, float] = (0.0, 4000.0)


def draw(seed: int, index: int, ranges: McRanges) -> tuple[int, float, float, float]:
    """(event seed, trip [MW], inertia H [s], fleet [MW]) of event ``index``."""
    event_seed = run_seed(seed, index)
    rng = np.random.default_rng(event_seed)
    return (
        event_seed,
        float(rng.uniform(*ranges.trip_mw)),
        float(rng.uniform(*ranges.inertia_h_s)),
        float(rng.uniform(*ranges.fleet_mw)),
    )


def mc_batch(indices: list[int], study: FrequencyStudy, seed: int, ranges: McRanges) -> list[dict]:
    """The task: one row of event metrics per index (the engine's batch function)."""
    base = Event(name="random trip", kind="generation_trip", mw=0.0)
    rows = []
    for index in indices:
        event_seed, trip, h, fleet = draw(seed, index, ranges)
        case = study.model_copy(update={"system": study.system.model_copy(update={"inertia_h_s": h})})
        tr = run_event(case, base.model_copy(update={"mw": trip}), fleet)
        rows.append(
            {
                "run": index,
                "seed": event_seed,
                "trip_mw": trip,
                "inertia_h_s": h,
                "fleet_mw": fleet,
                **event_metrics(tr, base.at_s, study.run.report_thresholds_hz),
            }
        )
    return rows


def monte_carlo(
    study: FrequencyStudy,
    n_events: int,
    seed: int,
    ranges: McRanges = McRanges(),
    client=None,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """``n_events`` generation trips with uniform random size, inertia and fleet; one row of
    event metrics each, sorted by event. ``client``: a ``dask.distributed.Client`` (see
    ``ballast.sweep.engine.open_client``); None runs the batches in-process."""
    if n_events < 1:
        raise ValueError(f"n_events must be >= 1, got {n_events}")
    n_workers = len(client.nthreads()) if client is not None else 1
    groups = task_groups(list(range(n_events)), n_workers, batch_size, MAX_EVENTS_PER_TASK)
    rows: list[dict] = []
    if client is None:
        for group in groups:
            rows.extend(mc_batch(group, study, seed, ranges))
    else:

        def take(_: int, result: list | BaseException) -> None:
            if isinstance(result, BaseException):
                raise result  # the outstanding tasks are cancelled (stream_batches)
            rows.extend(result)

        stream_batches(
            client,
            mc_batch,
            groups,
            study,
            seed,
            ranges,
            key_prefix=f"ballast-frequency-mc-{uuid.uuid4().hex[:8]}",
            take=take,
        )
    return pd.DataFrame(rows).sort_values("run").reset_index(drop=True)
