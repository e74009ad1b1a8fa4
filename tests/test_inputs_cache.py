"""The inputs cache of a batch worker (ballast.inputs.cache): a run gets the inputs an uncached
build gives it, run by run; a run that changes a field the inputs read never gets another
run's entry; the arrays are read-only; entries are bounded and follow their files."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from ballast.data import loaders
from ballast.data.errors import DataError
from ballast.examples import bundled_examples
from ballast.inputs import build_inputs, cache
from ballast.inputs.site import inputs_key
from ballast.scenario import load_scenario, parse_scenario
from ballast.sim import simulate
from ballast.sim.results import kpis_of
from tests.conftest import BASE_SCENARIO

TWO_DAYS = {"start": "2024-05-01T00:00:00Z", "end": "2024-05-03T00:00:00Z", "resolution": "15min"}


@pytest.fixture(autouse=True)
def no_process_cache(monkeypatch):
    """Each test starts without the process's caches (a sweep test may have turned them on)."""
    monkeypatch.setattr(cache, "_CACHE", None)
    monkeypatch.setattr(loaders, "_TABLES", None)


def _doc(**run) -> dict:
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["run"] = {**TWO_DAYS, **run}
    return doc


def _uncached(doc: dict, base_dir=None) -> pd.DataFrame:
    assert cache.active_cache() is None
    return build_inputs(parse_scenario(doc), base_dir).frame


def _cached(doc: dict, base_dir=None) -> pd.DataFrame:
    with cache.inputs_in_memory():
        return build_inputs(parse_scenario(doc), base_dir).frame


def _set(doc: dict, path: str, value) -> dict:
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[last] = value
    return out


# fields the inputs read: each changes the inputs, so a reused entry would be wrong
READ = [
    ("run.start", "2024-05-02T00:00:00Z"),  # the period (a year in a sweep)
    ("run.end", "2024-05-04T00:00:00Z"),
    ("run.resolution", "5min"),
    ("ai.profile", "diurnal_inference"),
    ("ai.it_load_mw", 120.0),
    ("ai.pue", 1.2),
    ("renewables.0.capacity_mw", 300.0),
    ("renewables.0.kind", "solar"),
    ("markets.price.source", "bundled:ercot_dam_hb_hubavg_hourly_2021_2024"),
    ("markets.price.decision_delay", "none"),
    ("markets.bitcoin.fees", "share"),
    ("markets.bitcoin.price_delay_h", 0.0),
    ("site.timezone", "America/New_York"),
]  # the diurnal profile's local time


@pytest.mark.parametrize(("path", "value"), READ)
def test_a_field_the_inputs_read_never_reuses_an_entry(path, value):
    base = _doc()
    if path == "site.timezone":
        base["ai"]["profile"] = "diurnal_inference"
    other = _set(base, path, value)
    expected = _uncached(other)
    assert not expected.equals(_uncached(base))  # the field matters: a reuse would be wrong
    with cache.inputs_in_memory() as kept:
        build_inputs(parse_scenario(base))
        got = build_inputs(parse_scenario(other)).frame
        assert (kept.hits, kept.misses) == (0, 2)
    pd.testing.assert_frame_equal(got, expected)


def test_the_seed_is_part_of_the_key_when_the_ai_load_is_noisy():
    noisy = _doc(seed=1)
    noisy["ai"]["noise_share"] = 0.05
    other = _set(noisy, "run.seed", 2)
    assert not _uncached(noisy).equals(_uncached(other))
    assert inputs_key(parse_scenario(noisy), None) != inputs_key(parse_scenario(other), None)


def test_a_price_node_is_part_of_the_key(tmp_path):
    """A gridstatus file of two settlement points; the run picks one by location."""
    index = pd.date_range("2024-05-01", "2024-05-03", freq="15min", inclusive="left", tz="UTC")
    rows = [
        pd.DataFrame(
            {
                "Interval Start": index,
                "Interval End": index + pd.Timedelta("15min"),
                "Location": node,
                "SPP": np.arange(len(index)) + shift,
            }
        )
        for node, shift in (("HB_WEST", 0.0), ("HB_NORTH", 7.5))
    ]
    pd.concat(rows).to_csv(tmp_path / "spp.csv", index=False)
    west = _doc()
    west["markets"]["price"] = {"source": "spp.csv", "location": "HB_WEST"}
    north = _set(west, "markets.price.location", "HB_NORTH")
    with cache.inputs_in_memory() as kept:
        a = build_inputs(parse_scenario(west), tmp_path).frame
        b = build_inputs(parse_scenario(north), tmp_path).frame
        assert kept.misses == 2
    np.testing.assert_array_equal(b["price_usd_per_mwh"] - a["price_usd_per_mwh"], 7.5)
    pd.testing.assert_frame_equal(b, _uncached(north, tmp_path))


# fields the inputs do not read (ballast.inputs.site.NOT_READ, and the seed without noise):
# changing one keeps the key and the uncached inputs
NOT_READ = [
    ("name", "other"),
    ("description", "x"),
    ("notes", ["a note"]),
    ("miners.0.count", 3000),
    ("miners.2.deadband_usd_per_mwh", 20.0),
    ("site.import_limit_mw", 220.0),
    ("site.export_limit_mw", 0.0),
    ("site.name", "b"),
    ("control.economic_dispatch", False),
    ("control.import_margin_mw", 5.0),
    ("battery", {"power_mw": 50, "energy_mwh": 200}),
    ("costs.fixed_usd_per_year", 1000.0),
    ("markets.export_price_share", 0.5),
    ("run.seed", 7),
]


@pytest.mark.parametrize("profile", ["flat", "diurnal_inference"])
@pytest.mark.parametrize(("path", "value"), NOT_READ)
def test_fields_outside_the_key_do_not_change_the_inputs(path, value, profile):
    base = _set(_doc(), "ai.profile", profile)
    other = _set(base, path, value)
    assert inputs_key(parse_scenario(base), None) == inputs_key(parse_scenario(other), None)
    pd.testing.assert_frame_equal(_uncached(other), _uncached(base))


def test_a_grid_of_fleets_and_limits_gets_the_uncached_inputs_run_by_run():
    docs = [
        _set(_set(_doc(seed=seed), "miners.2.count", count), "site.import_limit_mw", limit)
        for seed, (count, limit) in enumerate([(5000, 240.0), (15000, 280.0), (25000, 320.0)])
    ]
    with cache.inputs_in_memory() as kept:
        got = [build_inputs(parse_scenario(d)).frame for d in docs]
        assert (kept.hits, kept.misses) == (2, 1)
    for frame, doc in zip(got, docs, strict=True):
        pd.testing.assert_frame_equal(frame, _uncached(doc))


def test_cached_arrays_are_read_only_and_each_run_has_its_own_frame():
    doc = _doc()
    with cache.inputs_in_memory():
        first = build_inputs(parse_scenario(doc)).frame
        with pytest.raises(ValueError, match="read-only"):
            first["price_usd_per_mwh"].to_numpy()[0] = 1e6
        with pytest.raises(ValueError, match="read-only"):
            first.iloc[0, 0] = 1e6
        first["extra_mw"] = 1.0  # a run's own column, on its own frame
        first["ai_load_mw"] = 0.0  # a replaced column, too
        second = build_inputs(parse_scenario(doc)).frame
    assert "extra_mw" not in second.columns
    pd.testing.assert_frame_equal(second, _uncached(doc))


def test_entries_are_least_recently_used_within_their_bounds():
    kept = cache.InputsCache(max_entries=2)
    frames = {k: pd.DataFrame({"x_mw": np.full(4, float(k))}) for k in range(3)}
    builds = []

    def build(k):
        return lambda: builds.append(k) or (frames[k], ())

    for k in (0, 1, 0, 2, 0, 1):  # 2 evicts 1 (0 was used since); 1 then comes back
        kept.get(k, build(k))
    assert builds == [0, 1, 2, 1] and len(kept) == 2
    small = cache.InputsCache(max_mb=16 / 2**20)  # 16 bytes: one 4-value frame does not fit
    small.get("a", build(0))
    assert len(small) == 0


def test_a_changed_file_is_built_again(tmp_path):
    index = pd.date_range("2024-05-01", "2024-05-03", freq="15min", inclusive="left", tz="UTC")
    path = tmp_path / "prices.csv"
    doc = _doc()
    doc["markets"]["price"] = {"source": "prices.csv", "decision_delay": "none"}
    with cache.inputs_in_memory() as kept:
        pd.DataFrame({"interval_start_utc": index, "price_usd_per_mwh": 20.0}).to_csv(path, index=False)
        first = build_inputs(parse_scenario(doc), tmp_path).frame
        pd.DataFrame({"interval_start_utc": index, "price_usd_per_mwh": 35.5}).to_csv(path, index=False)
        second = build_inputs(parse_scenario(doc), tmp_path).frame
        assert kept.misses == 2
    assert (first["price_usd_per_mwh"] == 20.0).all() and (second["price_usd_per_mwh"] == 35.5).all()


def test_an_error_is_not_kept():
    doc = _doc(start="2019-01-01T00:00:00Z", end="2019-01-02T00:00:00Z")  # no bundled data
    with cache.inputs_in_memory() as kept:
        for _ in range(2):
            with pytest.raises(DataError, match="not covered"):
                build_inputs(parse_scenario(doc))
        assert len(kept) == 0 and kept.misses == 2


@pytest.mark.parametrize("path", bundled_examples(), ids=lambda p: p.stem)
def test_every_bundled_example_gives_the_same_kpis_with_cached_inputs(path):
    """The second run takes its inputs from the cache (read-only arrays): nothing downstream
    (programs, battery, smoothing, costs, KPIs) writes into them or sees a difference."""
    scenario = load_scenario(path)
    expected = kpis_of(simulate(scenario))
    with cache.inputs_in_memory() as kept:
        for _ in range(2):
            pd.testing.assert_frame_equal(kpis_of(simulate(scenario)), expected, check_exact=True)
        assert kept.hits == 1
