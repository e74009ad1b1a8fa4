"""The SFR model against its closed-form solution, relay timing, the study document and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from ballast.cli import app
from ballast.studies.errors import StudyError
from ballast.studies.frequency_doc import bundled_study_path, load_study, render_markdown
from ballast.studies.frequency_study import miner_timing_s, run_event
from ballast.studies.sfr import LoadGroups, SfrParams, analytic_nadir, simulate

# the typical system of Anderson & Mirheydar (1990): H 4 s, D 1, R 0.05, Km 0.95, T_R 8 s, F_H 0.3
SYSTEM = SfrParams(base_mw=50_000, inertia_h_s=4.0, damping_pu=1.0, droop_pu=0.05,
                   governor_gain_pu=0.95, reheat_time_s=8.0, hp_fraction=0.3)
DOC = Path(__file__).resolve().parents[2] / "docs" / "study.md"
runner = CliRunner()


@pytest.mark.parametrize("step_pu", [0.02, 0.05, 0.1])
def test_nadir_matches_closed_form_within_one_percent(step_pu):
    trace = simulate(SYSTEM, np.full(6001, step_pu * SYSTEM.base_mw), 0.01)
    t_nadir, w_nadir = analytic_nadir(SYSTEM, step_pu)
    dip_sim = 60.0 - trace.freq_hz.min()
    assert dip_sim == pytest.approx(-60.0 * w_nadir, rel=0.01)
    assert trace.t_s[np.argmin(trace.freq_hz)] == pytest.approx(t_nadir, abs=0.02)
    # steady state by hand: dw = -dP R / (D R + Km) = -dP x 0.05 / 1.0
    assert trace.freq_hz[-1] == pytest.approx(60.0 * (1 - step_pu * 0.05), abs=2e-3)


def test_rocof_is_step_over_twice_inertia():
    # df/dt at t = 0+ = -dP f0 / (2H): 0.05 x 60 / 8 = 0.375 Hz/s
    trace = simulate(SYSTEM, np.full(11, 0.05 * SYSTEM.base_mw), 0.001)
    assert (trace.freq_hz[1] - trace.freq_hz[0]) / 0.001 == pytest.approx(-0.375, rel=0.01)


def _relay(threshold_hz: float, delay_s: float, ramp_s: float = 0.0, mw: float = 1.0) -> LoadGroups:
    return LoadGroups(("relay",), np.array([mw]), np.array([threshold_hz]), np.array([delay_s]),
                      np.array([ramp_s]))


def test_relay_trips_only_below_threshold_and_only_after_its_delay():
    dist = np.full(3001, 0.05 * SYSTEM.base_mw)  # nadir about 59.675 Hz at 2.37 s
    free = simulate(SYSTEM, dist, 0.01)
    first_below = free.t_s[np.argmax(free.freq_hz < 59.8)]
    tripped = simulate(SYSTEM, dist, 0.01, _relay(59.8, 1.0))
    assert tripped.trip_time_s[0] == pytest.approx(first_below + 1.0, abs=0.011)
    assert (tripped.relief_mw[tripped.t_s < first_below + 1.0] == 0).all()
    # a threshold under the nadir never trips
    assert simulate(SYSTEM, dist, 0.01, _relay(59.6, 0.0)).trip_time_s[0] == -1
    # below 59.69 Hz for less than the delay: the relay resets and never trips
    time_below = (free.freq_hz < 59.69).sum() * 0.01
    assert 0 < time_below < 2.0
    assert simulate(SYSTEM, dist, 0.01, _relay(59.69, 2.0)).trip_time_s[0] == -1


def test_miners_trip_after_relay_plus_command_latency_and_ramp_to_sleep():
    study = load_study(bundled_study_path())
    event = study.events[0]  # the 2,750 MW generation trip
    delay, sleep = miner_timing_s(study)
    assert delay == pytest.approx(0.5 + 1.0) and sleep == pytest.approx(5.0)  # relay + LuxOS
    trace = run_event(study, event, 2000.0)
    i = trace.groups.name.index("miners")
    first_below = trace.t_s[np.argmax(trace.freq_hz < study.miners.threshold_hz)]
    assert trace.trip_time_s[i] == pytest.approx(first_below + delay, abs=0.011)
    without = run_event(study, event, 0.0)
    # until the miners act the two runs are identical; halfway through the ramp 1,000 MW is off
    early = trace.t_s <= trace.trip_time_s[i]
    np.testing.assert_allclose(trace.freq_hz[early], without.freq_hz[early])
    k = round((trace.trip_time_s[i] + sleep / 2) / 0.01) - 1
    assert trace.relief_mw[k] - without.relief_mw[k] == pytest.approx(1000.0, rel=0.01)


def test_study_reference_is_current():
    assert DOC.read_text().strip() == render_markdown().strip(), (
        "docs/study.md is stale: run `python -m ballast.studies.frequency_doc > docs/study.md`")


def _bad_study(tmp_path, edit) -> Path:
    data = yaml.safe_load(bundled_study_path().read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["system"].update(inertia_h_s=0), "system: inertia_h_s must be > 0 s, got 0"),
    (lambda d: d["system"].update(inertia_h_s=-2.5), "inertia_h_s must be > 0 s, got -2.5"),
    (lambda d: d["load_resources"].update(threshold_hz=59.9),
     "relay thresholds out of order: load_resources.threshold_hz = 59.9 Hz must be below "
     "fast_frequency_response.threshold_hz = 59.85 Hz"),
    (lambda d: d["ufls"].reverse(),
     "bad.yaml: relay thresholds out of order: ufls[1].threshold_hz = 58.9 Hz must be below "
     "ufls[0].threshold_hz = 58.5 Hz"),
    (lambda d: d["miners"].update(threshold_hz=60.2),
     "miners.threshold_hz = 60.2 Hz must be below"),
    (lambda d: d["system"].update(inertia_s=4), "system.inertia_s: Extra inputs are not permitted"),
])
def test_bad_study_exits_2_with_one_line(tmp_path, edit, message):
    path = _bad_study(tmp_path, edit)
    with pytest.raises(StudyError, match=r"bad\.yaml: "):
        load_study(path)
    res = runner.invoke(app, ["study", "frequency", str(path)])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], res.stderr


def test_frequency_cli_writes_outputs(tmp_path):
    res = runner.invoke(app, ["study", "frequency", "ercot", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "frequency.json").read_text())
    trip = [r for r in doc["events"] if r["event"].startswith("design contingency")]
    assert {r["case"] for r in trip} == {"without miners", "with miners"}
    without = next(r for r in trip if r["case"] == "without miners")
    assert without["load_resources_mw"] == 1400 and without["nadir_hz"] < 59.7
    assert [r["fleet_mw"] for r in doc["fleet_sweep"]] == [0, 500, 1000, 2000, 3000, 4000]
    assert (tmp_path / "frequency.csv").read_text().startswith("event,case,fleet_mw")
    assert "<script src=" not in (tmp_path / "frequency.html").read_text()


def test_small_matrix_exponential_matches_scipy():
    from scipy.linalg import expm

    from ballast.studies.sfr import expm_small

    rng = np.random.default_rng(3)
    for scale in (1e-3, 0.05, 1.0, 10.0):
        m = rng.normal(size=(3, 3)) * scale
        np.testing.assert_allclose(expm_small(m), expm(m), rtol=1e-12, atol=1e-14)


def test_monte_carlo_is_seeded_and_deeper_for_bigger_trips():
    from ballast.studies.frequency_mc import monte_carlo

    study = load_study(bundled_study_path())
    a = monte_carlo(study, 40, seed=11)
    b = monte_carlo(study, 40, seed=11)
    assert a.equals(b) and len(a) == 40
    assert np.corrcoef(a.trip_mw, a.nadir_hz)[0, 1] < -0.5
    assert (a.rocof_hz_per_s < 0).all()
