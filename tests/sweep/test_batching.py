"""How a sweep's runs go out as tasks (guided batches, largest first, single runs at the end)
and how a task's rows are stored: the grouping never changes the table."""

from __future__ import annotations

import pandas as pd
import pytest

from ballast.sweep.document import load_sweep
from ballast.sweep.engine import batches, guided_batches, guided_sizes, run_sweep, task_groups
from ballast.sweep.store import SweepStore
from tests.sweep.helpers import GRID, write_sweep

pytestmark = pytest.mark.timeout(240)


def test_guided_sizes_worked_by_hand():
    # 2 workers: each batch takes a quarter of the runs left, rounded up, at most 16
    # left 30 -> 8, 22 -> 6, 16 -> 4, 12 -> 3, 9 -> 3, 6 -> 2, 4 -> 1, 3 -> 1, 2 -> 1, 1 -> 1
    assert guided_sizes(30, 2) == [8, 6, 4, 3, 3, 2, 1, 1, 1, 1]
    assert guided_sizes(30, 2, most=5) == [5, 5, 5, 4, 3, 2, 2, 1, 1, 1, 1]
    assert guided_sizes(1, 2) == [1] and guided_sizes(0, 2) == []


@pytest.mark.parametrize(("n", "workers"), [(200, 2), (1000, 2), (200, 4), (7, 3)])
def test_guided_sizes_shrink_to_single_runs_and_cover_every_run(n, workers):
    sizes = guided_sizes(n, workers)
    assert sum(sizes) == n and max(sizes) <= 16
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-workers:] == [1] * workers  # the last task of each worker is one run


def test_guided_batches_hold_every_item_once_and_mix_the_grid():
    items = list(range(200))
    groups = guided_batches(items, 2)
    assert sorted(x for g in groups for x in g) == items
    assert [len(g) for g in groups] == guided_sizes(200, 2)
    first = groups[0]
    assert min(first) < 20 and max(first) >= 180  # the first task spans the grid, not its head


def test_an_explicit_batch_size_gives_equal_batches():
    assert task_groups(list(range(10)), 2, batch_size=4) == batches(list(range(10)), 4)
    assert [len(g) for g in task_groups(list(range(10)), 2, batch_size=4)] == [4, 3, 3]


def test_guided_batches_on_the_cluster_give_the_serial_table(tmp_path, client):
    serial = run_sweep(load_sweep(write_sweep(tmp_path, grid=GRID, batch_size=1)), None)
    guided = run_sweep(load_sweep(write_sweep(tmp_path, grid=GRID)), client, tmp_path / "out")
    assert guided.tasks == len(guided_sizes(6, 2)) == 5  # sizes 2, 1, 1, 1, 1
    pd.testing.assert_frame_equal(guided.runs, serial.runs, check_exact=True)


def test_a_task_part_keeps_every_column_any_row_has(tmp_path):
    plan = load_sweep(write_sweep(tmp_path, grid=GRID))
    store = SweepStore(tmp_path / "out", plan, resume=False)
    store.add([{"run": 0, "run_id": "a", "x": 1.5}, {"run": 1, "run_id": "b", "y": 2.0}], [], {})
    table = store.consolidate()
    assert list(table.columns) == ["run", "run_id", "x", "y"]
    assert table.x.iloc[0] == 1.5 and pd.isna(table.x.iloc[1])
    assert table.y.iloc[1] == 2.0 and pd.isna(table.y.iloc[0])
