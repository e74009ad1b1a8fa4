"""keep_tables_in_memory: a batch worker reads each data file once; a changed file is re-read."""

from __future__ import annotations

import pandas as pd

from ballast.data import loaders


def test_tables_are_read_once_per_process_and_again_when_the_file_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "_TABLES", None)
    reads = []
    real = loaders._read_table
    monkeypatch.setattr(loaders, "_read_table", lambda p: reads.append(p) or real(p))
    path = tmp_path / "prices.csv"
    path.write_text("interval_start_utc,price\n2024-01-01T00:00:00Z,10\n")
    loaders.read_table(path)
    loaders.read_table(path)
    assert len(reads) == 2  # off by default
    loaders.keep_tables_in_memory()
    first = loaders.read_table(path)
    first["price"] = -1.0  # a caller replacing a column does not touch the cached table
    second = loaders.read_table(path)
    assert len(reads) == 3 and second["price"].tolist() == [10]
    path.write_text("interval_start_utc,price\n2024-01-01T00:00:00Z,10\n2024-01-01T01:00:00Z,12\n")
    third = loaders.read_table(path)
    assert len(reads) == 4
    pd.testing.assert_series_equal(third["price"], pd.Series([10, 12], name="price"))


def _counting_reads(monkeypatch) -> list:
    reads: list = []
    real = loaders._read_table
    monkeypatch.setattr(loaders, "_read_table", lambda p: reads.append(p.name) or real(p))
    return reads


def test_a_serial_sweep_keeps_tables_for_its_runs_and_restores_the_callers_setting(tmp_path, monkeypatch):
    from ballast.sweep.document import load_sweep
    from ballast.sweep.engine import run_sweep
    from tests.sweep.helpers import GRID, write_sweep

    plan = load_sweep(write_sweep(tmp_path, grid=GRID, batch_size=2))
    monkeypatch.setattr(loaders, "_TABLES", None)  # the default: nothing kept
    reads = _counting_reads(monkeypatch)
    outcome = run_sweep(plan, None)
    assert len(outcome.runs) == len(plan.runs) == 6 and outcome.failures.empty
    assert reads and len(reads) == len(set(reads)), reads  # each file read once in the sweep
    assert loaders._TABLES is None  # off again after it
    reads.clear()
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    loaders.read_table(path)
    loaders.read_table(path)
    assert reads == ["t.csv", "t.csv"]  # the caller's reads are not kept


def test_a_serial_sweep_leaves_a_caller_that_keeps_tables_keeping_them(tmp_path, monkeypatch):
    from ballast.sweep.document import load_sweep
    from ballast.sweep.engine import run_sweep
    from tests.sweep.helpers import GRID, write_sweep

    plan = load_sweep(write_sweep(tmp_path, grid=GRID, batch_size=3))
    monkeypatch.setattr(loaders, "_TABLES", None)
    loaders.keep_tables_in_memory()
    mine = loaders._TABLES
    run_sweep(plan, None)
    assert loaders._TABLES is mine and len(mine) > 0  # the same memo, now holding the tables
