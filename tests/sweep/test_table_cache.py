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
