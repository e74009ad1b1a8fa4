"""The frequency Monte Carlo through the sweep engine: the same table serially, in other batch
sizes and on a real two-worker LocalCluster (worker processes), seeded per event."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ballast.studies.frequency_doc import bundled_study_path, load_study
from ballast.studies.frequency_mc import McRanges, draw, monte_carlo
from ballast.sweep.document import run_seed

STUDY = load_study(bundled_study_path())


@pytest.fixture(scope="module")
def client():
    from ballast.sweep.engine import open_client

    with open_client(workers=2) as c:
        yield c


def test_cluster_table_equals_serial_table(client):
    serial = monte_carlo(STUDY, 300, seed=7)
    on_cluster = monte_carlo(STUDY, 300, seed=7, client=client, batch_size=37)
    assert len(client.nthreads()) == 2
    pd.testing.assert_frame_equal(on_cluster, serial, check_exact=True)
    assert list(serial.run) == list(range(300))


def test_the_table_does_not_depend_on_the_batch_size():
    whole = monte_carlo(STUDY, 60, seed=3)
    pd.testing.assert_frame_equal(monte_carlo(STUDY, 60, seed=3, batch_size=1), whole, check_exact=True)
    # a longer Monte Carlo begins with the same events: each event has its own generator
    pd.testing.assert_frame_equal(monte_carlo(STUDY, 80, seed=3).head(60), whole, check_exact=True)


def test_each_event_is_seeded_from_the_sweep_seed_and_its_index():
    table = monte_carlo(STUDY, 5, seed=42)
    for i, row in table.iterrows():
        assert row.seed == run_seed(42, i)
        rng = np.random.default_rng(run_seed(42, i))
        assert row.trip_mw == rng.uniform(500.0, 3500.0)
        assert row.inertia_h_s == rng.uniform(2.5, 5.0)
        assert row.fleet_mw == rng.uniform(0.0, 4000.0)
    assert not monte_carlo(STUDY, 5, seed=43).trip_mw.equals(table.trip_mw)


def test_draws_stay_inside_their_ranges():
    r = McRanges(trip_mw=(1000.0, 1001.0), inertia_h_s=(4.0, 4.5), fleet_mw=(0.0, 1.0))
    for i in range(200):
        _, trip, h, fleet = draw(5, i, r)
        assert 1000.0 <= trip <= 1001.0 and 4.0 <= h <= 4.5 and 0.0 <= fleet <= 1.0


def test_a_worker_error_reaches_the_caller(client):
    # a negative step (model_copy does not validate) leaves no samples: it fails on a worker
    bad = STUDY.model_copy(update={"run": STUDY.run.model_copy(update={"step_s": -1.0})})
    with pytest.raises(IndexError):
        monte_carlo(bad, 4, seed=1, client=client)


def test_cli_monte_carlo_writes_the_table_and_percentiles(tmp_path):
    import json

    from typer.testing import CliRunner

    from ballast.cli import app

    res = CliRunner().invoke(
        app,
        [
            "study",
            "frequency",
            "ercot",
            "--monte-carlo",
            "30",
            "--seed",
            "5",
            "--json",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    table = pd.read_csv(tmp_path / "frequency_monte_carlo.csv")
    assert doc["events"] == 30 and len(table) == 30
    assert doc["percentiles"]["p50"]["nadir_hz"] == pytest.approx(table.nadir_hz.median())
    pd.testing.assert_series_equal(table.trip_mw, monte_carlo(STUDY, 30, seed=5).trip_mw)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--monte-carlo", "0"], "--monte-carlo 0: give between 1 and 1,000,000 events"),
        (["--monte-carlo", "10", "--workers", "0"], "--workers 0: give at least 1 worker process"),
        (["--monte-carlo", "10", "--seed", "-1"], "--seed -1: must be >= 0"),
    ],
)
def test_cli_monte_carlo_bad_input_exits_2_with_one_line(args, message):
    from typer.testing import CliRunner

    from ballast.cli import app

    res = CliRunner().invoke(app, ["study", "frequency", "ercot", *args])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0]
