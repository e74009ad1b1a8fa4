"""The sweep engine on a real two-worker LocalCluster (worker processes): the same table as the
in-process run of the same task function, failures recorded, resume after an interruption, and
a worker killed by PID mid-sweep."""

from __future__ import annotations

import os
import signal

import pandas as pd
import pytest

from ballast.sweep.document import SweepError, load_sweep
from ballast.sweep.engine import run_sweep
from tests.sweep.helpers import GRID, write_sweep

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def plan(tmp_path):
    return load_sweep(write_sweep(tmp_path, grid=GRID, batch_size=1))


def test_cluster_table_equals_serial_table(plan, client, tmp_path):
    serial = run_sweep(plan, None, tmp_path / "serial")
    cluster = run_sweep(plan, client, tmp_path / "cluster")
    assert len(serial.runs) == 6 and serial.failures.empty
    assert len(cluster.workers) == 2  # both worker processes ran some
    pd.testing.assert_frame_equal(serial.runs, cluster.runs, check_exact=True)
    stored = pd.read_parquet(tmp_path / "cluster" / "runs.parquet")
    pd.testing.assert_frame_equal(stored, cluster.runs, check_exact=True)
    # every KPI of simulate for Ballast, the baseline and their delta; seeds differ per run
    for col in ("net_margin_usd", "baseline.net_margin_usd", "delta.net_margin_usd", "co2_t",
                "peak_import_mw", "uptime_pct[s21]"):
        assert col in stored
    assert (stored["delta.net_margin_usd"] == stored["net_margin_usd"]
            - stored["baseline.net_margin_usd"]).all()
    assert stored["run.seed"].nunique() == 6
    assert stored.loc[stored["miners[s21].count"] == 15000, "btc_mined"].min() > \
        stored.loc[stored["miners[s21].count"] == 5000, "btc_mined"].max()


def test_a_failing_run_is_recorded_and_the_rest_complete(tmp_path, client):
    cases = [{"name": "may-2024"},
             {"name": "before-the-data", "override": {"run": {
                 "start": "2019-05-01T00:00:00Z", "end": "2019-05-02T00:00:00Z"}}}]
    plan = load_sweep(write_sweep(tmp_path, grid={"site.import_limit_mw": [250, 300]},
                                  cases=cases))
    out = run_sweep(plan, client, tmp_path / "out")
    assert sorted(out.runs["run"]) == [0, 1]
    assert sorted(out.failures["run"]) == [2, 3]
    fails = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert list(fails["case"]) == ["before-the-data"] * 2
    assert sorted(fails["site.import_limit_mw"]) == [250.0, 300.0]
    assert fails["error"].str.contains("DataError").all()
    assert fails["error"].str.contains("2019-05-01").all()


def test_resume_after_an_interrupted_sweep_runs_only_the_missing_runs(plan, client, tmp_path):
    out_dir = tmp_path / "out"
    seen = []

    def interrupt(done, total, result):
        if result is not None:
            seen.append(done)
            if done >= 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, client, out_dir, on_result=interrupt)
    stored = len(pd.concat(pd.read_parquet(p) for p in (out_dir / "parts").glob("*.parquet")))
    assert stored == 2 and not (out_dir / "runs.parquet").exists()
    with pytest.raises(SweepError, match="pass --resume"):
        run_sweep(plan, client, out_dir)
    resumed = run_sweep(plan, client, out_dir, resume=True)
    assert resumed.failures.empty, resumed.failures.to_dict("records")
    assert resumed.skipped == 2 and resumed.ran == 4 and len(resumed.run_wall_s) == 4
    full = run_sweep(plan, None, tmp_path / "full")
    pd.testing.assert_frame_equal(resumed.runs, full.runs, check_exact=True)
    again = run_sweep(plan, client, out_dir, resume=True)
    assert again.ran == 0 and len(again.runs) == 6


def test_resume_refuses_a_folder_of_another_sweep(plan, tmp_path):
    run_sweep(plan, None, tmp_path / "out")
    other = load_sweep(write_sweep(tmp_path, grid={"site.import_limit_mw": [260.0]}))
    with pytest.raises(SweepError, match="holds a different sweep"):
        run_sweep(other, None, tmp_path / "out", resume=True)


def test_a_killed_worker_has_its_tasks_retried_elsewhere(tmp_path, client):
    """SIGKILL one worker process (by PID) while it holds tasks; the nanny restarts it and the
    scheduler reschedules its tasks; every run completes with the serial table."""
    grid = {"miners[s21].count": [5000, 10000, 15000, 20000], "site.import_limit_mw": [250, 300]}
    plan = load_sweep(write_sweep(tmp_path, grid=grid, batch_size=1))
    pids = client.run(os.getpid)  # worker address -> pid
    killed = {}

    def kill_one(done, total, result):
        if result is None or killed:
            return
        busy = {w: tasks for w, tasks in client.processing().items() if tasks}
        assert busy, "the sweep still had tasks in flight after its first result"
        address = sorted(busy)[0]
        os.kill(pids[address], signal.SIGKILL)
        killed[address] = len(busy[address])

    out = run_sweep(plan, client, tmp_path / "out", on_result=kill_one)
    assert killed and next(iter(killed.values())) >= 1
    assert out.failures.empty
    assert sorted(out.runs["run"]) == list(range(8))
    assert os.getpid() not in out.workers
    serial = run_sweep(plan, None, tmp_path / "serial")
    pd.testing.assert_frame_equal(out.runs, serial.runs, check_exact=True)
    client.wait_for_workers(2, timeout=60)  # the nanny brought the worker back


def _warm_state() -> tuple[int, int, bool]:
    from ballast.data import loaders
    from ballast.sweep import tasks

    return os.getpid(), len(tasks._WARMED), loaders._TABLES is not None and len(loaders._TABLES) > 0


def test_each_worker_warms_once_and_keeps_the_bundled_tables(plan, client, tmp_path):
    first = run_sweep(plan, client, tmp_path / "a")
    second = run_sweep(plan, client, tmp_path / "b")
    ran = set(first.workers) | set(second.workers)
    states = [s for s in client.run(_warm_state).values() if s[0] in ran]
    assert states
    for _, warmed, tables in states:
        assert warmed == 1 and tables  # one warm-up per process, however many tasks
