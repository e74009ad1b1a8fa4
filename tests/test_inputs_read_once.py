"""build_inputs reads each data file once per call (the coverage check and the builder share
the reads) and keeps nothing between calls: a file changed between two runs is read again."""

from collections import Counter

from ballast.data import loaders
from ballast.examples import examples_dir
from ballast.inputs import build_inputs, cache
from ballast.scenario import load_scenario, parse_scenario


def test_each_file_is_read_once_per_call_and_not_kept(monkeypatch):
    doc = load_scenario(examples_dir() / "west_texas_2024.yaml").model_dump(mode="json")
    doc["run"].update(start="2024-03-01T00:00:00Z", end="2024-03-03T00:00:00Z")
    scenario = parse_scenario(doc)
    reads: Counter[str] = Counter()
    real = loaders._read_table

    def counting(path):
        reads[path.name] += 1
        return real(path)

    monkeypatch.setattr(loaders, "_read_table", counting)
    # a caller may have switched ``keep_tables_in_memory`` on for the process; this is about a
    # call without it
    monkeypatch.setattr(loaders, "_TABLES", None)
    monkeypatch.setattr(cache, "_CACHE", None)  # nor the inputs cache (ballast.inputs.cache)
    first = build_inputs(scenario)
    assert len(reads) >= 4 and set(reads.values()) == {1}, reads  # prices, BTC, load, carbon...
    second = build_inputs(scenario)
    assert set(reads.values()) == {2}, reads  # read again: nothing kept between calls
    assert first.frame.equals(second.frame)
    assert loaders._CALL_TABLES.get() is None
