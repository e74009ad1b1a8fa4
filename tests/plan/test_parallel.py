"""The stochastic plan and the tornado on a real two-worker LocalCluster (worker processes,
through the sweep engine's Dask path): the same numbers as in-process."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ballast.cli import app
from ballast.cli.plan import _dask_mapper
from ballast.plan import load_plan, parse_plan, run_plan
from ballast.plan.parallel import chunks
from ballast.plan.sensitivity import subject, tornado
from tests.plan.helpers import plan_doc

runner = CliRunner()


@pytest.fixture(scope="module")
def client():
    from ballast.sweep.engine import open_client

    with open_client(workers=2) as c:
        yield c


def test_chunks_cover_every_path_once():
    assert chunks(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert chunks(2, 8) == [(0, 1), (1, 2)]  # never an empty chunk
    assert chunks(5, 1) == [(0, 5)]


def test_paths_and_tornado_on_dask_equal_in_process(client):
    plan = parse_plan(plan_doc(bitcoin={**plan_doc()["bitcoin"], "paths": {"n": 301, "seed": 7}}))
    here = run_plan(plan)
    there = run_plan(plan, map_fn=_dask_mapper(client), parts=8)
    assert len(client.scheduler_info()["workers"]) == 2
    for a, b in zip(here.strategies, there.strategies, strict=True):
        assert a.path_npv_usd.shape == (301,)
        np.testing.assert_array_equal(a.path_npv_usd, b.path_npv_usd)
        np.testing.assert_array_equal(a.path_delta_npv_usd, b.path_delta_npv_usd)
        assert a.risk == b.risk
    name = subject(here)
    assert tornado(here, name) == tornado(there, name, map_fn=_dask_mapper(client))


def test_the_cli_on_a_scheduler_prints_the_in_process_document(client):
    address = client.scheduler.address
    args = ["plan", "conversion_500mw", "--paths", "120", "--json"]
    here = runner.invoke(app, args)
    there = runner.invoke(app, [*args, "--scheduler", address])
    assert here.exit_code == 0, here.output
    assert there.exit_code == 0, there.output
    assert json.loads(there.stdout) == json.loads(here.stdout)
    assert load_plan("conversion_500mw").optimize is not None  # the optimiser ran in both


def test_workers_and_scheduler_together_are_refused():
    result = runner.invoke(app, ["plan", "conversion_500mw", "--workers", "2", "--scheduler", "tcp://x:1"])
    assert result.exit_code == 2
    assert "--workers, --scheduler: give one" in result.output


def test_backtested_configurations_travel_with_the_tasks(client, monkeypatch):
    from dataclasses import replace

    from ballast.plan import operations

    plan = load_plan("hybrid_west_texas")  # operations: west_texas_2024_programs at 1 h
    true_run = run_plan(plan, n_paths=40, optimize=False)
    measured = operations.cache_entries(plan)
    assert measured  # the configurations this run backtested
    # mark the parent's measurements (half the uptime): a worker that backtested them again
    # would value the paths with the true uptime instead
    for key, m in measured.items():
        monkeypatch.setitem(operations._CACHE, key, replace(m, uptime=m.uptime / 2))
    here = run_plan(plan, n_paths=40, optimize=False)
    there = run_plan(plan, n_paths=40, optimize=False, map_fn=_dask_mapper(client), parts=4)
    keep = 0  # keep_mining: every year mines
    assert not np.allclose(here.strategies[keep].path_npv_usd, true_run.strategies[keep].path_npv_usd)
    for a, b in zip(here.strategies, there.strategies, strict=True):
        np.testing.assert_array_equal(a.path_npv_usd, b.path_npv_usd)


def _clear_cache() -> None:
    from ballast.plan import operations

    operations._CACHE.clear()


def test_the_configurations_are_backtested_on_the_workers(client, monkeypatch):
    from ballast.plan import operations

    plan = load_plan("hybrid_west_texas")
    here = run_plan(plan, n_paths=20, optimize=False)
    measured = operations.cache_entries(plan)
    monkeypatch.setattr(operations, "_CACHE", {})  # this process has backtested nothing
    client.run(_clear_cache)  # nor the workers (an earlier test seeded marked entries there)
    todo = operations.to_measure(plan, [r.schedule for r in here.strategies])  # all of them now
    said: list[str] = []
    there = run_plan(
        plan, n_paths=20, optimize=False, map_fn=_dask_mapper(client), parts=2, progress=said.append
    )
    assert f"backtesting {len(todo)} configurations of west_texas_2024_programs as tasks" in said
    assert not any(s.startswith("backtesting west_texas") for s in said)  # none in this process
    got = operations.cache_entries(plan)  # from the workers, equal to the in-process ones
    assert len(got) == len(todo) and got == {key: measured[key] for key in got}
    for a, b in zip(here.strategies, there.strategies, strict=True):
        np.testing.assert_array_equal(a.path_npv_usd, b.path_npv_usd)
