"""The frequency study's named events through the sweep engine: on a real two-worker
LocalCluster (worker processes) the tables and traces equal the in-process run's, in any
batching, and the command line runs them on a cluster with --workers > 1."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ballast.cli import app
from ballast.studies.frequency_doc import bundled_study_path, load_study
from ballast.studies.frequency_study import event_metrics, event_runs, run_event, run_study

pytestmark = pytest.mark.timeout(240)
STUDY = load_study(bundled_study_path())
runner = CliRunner()


@pytest.fixture(scope="module")
def client():
    from ballast.sweep.engine import open_client

    with open_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def in_process():
    return run_study(STUDY)


def _assert_same(a, b) -> None:
    pd.testing.assert_frame_equal(a.table(), b.table(), check_exact=True)
    pd.testing.assert_frame_equal(a.sweep_table(), b.sweep_table(), check_exact=True)
    assert list(a.traces) == list(b.traces)
    for key, tr in a.traces.items():
        other = b.traces[key]
        for name in ("t_s", "freq_hz", "relief_mw", "trip_time_s"):
            np.testing.assert_array_equal(getattr(tr, name), getattr(other, name), err_msg=str(key))


def test_named_events_on_a_local_cluster_equal_the_in_process_run(client, in_process):
    from dask.distributed import get_task_stream

    with get_task_stream(client) as stream:
        on_cluster = run_study(STUDY, client=client, batch_size=1)  # one task per simulation
    _assert_same(on_cluster, in_process)
    ran = [t for t in stream.data if t["key"].startswith("ballast-frequency-")]
    assert len(ran) == len(event_runs(STUDY)) == len(in_process.rows) + len(in_process.sweep)
    assert len({t["worker"] for t in ran}) == 2  # both worker processes took events
    assert len(client.nthreads()) == 2


def test_the_tables_do_not_depend_on_the_batching(client, in_process):
    _assert_same(run_study(STUDY, client=client), in_process)  # the automatic batch size
    _assert_same(run_study(STUDY, batch_size=3), in_process)


def test_each_row_is_its_own_event_and_case(in_process):
    # rows come back in the study's order, whichever task ran them
    event = STUDY.events[0]
    fleet = STUDY.miners.fleet_mw
    with_miners = event_metrics(run_event(STUDY, event, fleet), event.at_s, STUDY.run.report_thresholds_hz)
    row = in_process.table().set_index(["event", "case"]).loc[(event.name, "with miners")]
    assert row.fleet_mw == fleet
    for name, value in with_miners.items():
        assert row[name] == value, name
    sweep = in_process.sweep_table()
    assert list(sweep.fleet_mw) == list(STUDY.miners.fleet_sweep_mw)


def test_a_worker_error_reaches_the_caller(client):
    bad = STUDY.model_copy(update={"run": STUDY.run.model_copy(update={"step_s": -1.0})})
    with pytest.raises(IndexError):
        run_study(bad, client=client)


def test_cli_runs_the_events_on_a_local_cluster_with_the_same_result(in_process):
    res = runner.invoke(app, ["study", "frequency", "ercot", "--workers", "2", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc == json.loads(json.dumps(in_process.to_json()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers 0: give at least 1 worker process"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers, --scheduler: give one"),
    ],
)
def test_cli_bad_engine_options_exit_2_with_one_line(args, message):
    res = runner.invoke(app, ["study", "frequency", "ercot", *args])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0]
