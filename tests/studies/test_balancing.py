"""Limits of miner balancing: the capability map on the fine engine, the quotable sentence and
the interconnection-level MW of AI oscillation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ballast.cli import app
from ballast.examples import examples_dir
from ballast.scenario import load_scenario
from ballast.studies.balancing import (
    BalancingMap,
    amplitude_at,
    balancing_map,
    system_oscillation_mw,
    system_table,
)
from ballast.studies.frequency_doc import bundled_study_path, load_study
from ballast.studies.sfr import simulate

EXAMPLES = examples_dir()


@pytest.fixture(scope="module")
def small_map() -> BalancingMap:
    scn = load_scenario(EXAMPLES / "training_campus.yaml")
    return balancing_map(scn, periods_s=[4.0, 900.0], amplitudes_mw=[10.0], base_dir=EXAMPLES)


def test_slow_swing_is_removed_and_fast_one_is_not(small_map):
    # the fleet's latency is 1 s plus a 5 s sleep / 10 s wake ramp (LuxOS)
    fast, slow = small_map.residual[:, 0]
    assert slow < 0.1  # 900 s swing: almost entirely removed
    assert fast > 0.8  # 4 s swing: faster than the miners can move, not removed
    assert small_map.mining_energy_lost[1, 0] > 0  # holding headroom costs mining energy
    sentence = small_map.sentence()
    assert "slower than 900 s" in sentence and "faster than 4 s it needs a battery" in sentence


def test_lock_in_amplitude_by_hand():
    t = np.arange(0, 600.0, 1.0)
    x = 5.0 + 3.0 * np.sin(2 * np.pi * t / 60) + 1.0 * np.sin(2 * np.pi * t / 7)
    assert amplitude_at(x, 1.0, 60.0) == pytest.approx(3.0, rel=0.02)


def test_system_oscillation_limit_matches_time_domain_simulation():
    study = load_study(bundled_study_path())
    from ballast.studies.frequency_study import sfr_params

    p = sfr_params(study)
    mw = system_oscillation_mw(study, limit_mhz=10.0, forcing_hz=0.05)
    t = np.arange(0, 400.0, 0.01)
    trace = simulate(p, mw * np.sin(2 * np.pi * 0.05 * t), 0.01)
    late = trace.freq_hz[t > 200]
    assert (late.max() - late.min()) / 2 == pytest.approx(0.010, rel=0.02)


def test_system_table_by_hand():
    study = load_study(bundled_study_path())
    bmap = BalancingMap("x", 60.0, np.array([100.0]), np.array([30.0, 60.0]),
                        residual=np.array([[0.5, 0.5]]), mining_energy_lost=np.zeros((1, 2)))
    bare = system_oscillation_mw(study, 10.0, 0.01)
    row = system_table(bmap, study, miners_mw=120.0, limit_mhz=10.0).iloc[0]
    assert row.without_miners_mw == pytest.approx(bare)
    # 120 MW of miners meet system swings of 60 and 120 MW at this campus's ratio, halving them
    assert row.with_miners_mw == pytest.approx(min(120.0, 2 * bare))


def test_balancing_cli_bad_input_one_line():
    res = CliRunner().invoke(app, ["study", "balancing", "training_campus", "--hours", "0"])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--hours and --limit-mhz must be > 0" in lines[0]


def test_balancing_cli_writes_outputs(tmp_path):
    res = CliRunner().invoke(app, ["study", "balancing", "training_campus", "--hours", "0.25",
                                   "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "balancing.json").read_text())
    assert doc["schema"] == "ballast.study.balancing/1" and len(doc["cells"]) == 100
    assert doc["sentence"].startswith("This 60 MW fleet")
    assert len(doc["system"]["rows"]) == 10
    assert "<script src=" not in (tmp_path / "balancing.html").read_text()
