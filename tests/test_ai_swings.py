"""AI swing models: each produces its stated period, dips, crashes and ramps; seeded."""

import numpy as np
import pytest
from scipy import signal

from ballast.data.errors import DataError
from ballast.models.ai_swings import TrainingSwings, crash_times_s, training_level_chunk
from ballast.sim.fine_ai import fine_ai, read_trace

QUIET = {"checkpoint_every_s": 0.0, "checkpoint_s": 0.0, "crashes_per_day": 0.0}


def level(sw: TrainingSwings, n: int, dt_s: float, t0_s: float = 0.0, crashes=(), phase=0.0):
    out = np.empty(n, dtype=np.float32)
    fill = np.empty(n, dtype=np.float32)
    training_level_chunk(t0_s, dt_s, sw.as_array(), np.asarray(crashes, dtype="float64"), phase,
                         out, fill)
    return out, fill


@pytest.mark.parametrize(("period_s", "dt_s"), [(2.0, 0.1), (4.0, 1.0), (10.0, 1.0),
                                                 (30.0, 1.0), (1.0, 0.1)])
def test_swing_spectral_peak_at_configured_frequency(period_s, dt_s):
    sw = TrainingSwings(swing_period_s=period_s, **QUIET)
    x, _ = level(sw, int(3600 / dt_s), dt_s)
    f, pxx = signal.welch(x, fs=1 / dt_s, nperseg=int(600 / dt_s))
    peak = f[np.argmax(pxx[1:]) + 1]
    assert peak == pytest.approx(1 / period_s, abs=2 * (f[1] - f[0]))
    assert x.max() == pytest.approx(1.0) and x.min() == pytest.approx(1 - 0.3)


def test_swing_faster_than_two_ticks_is_rejected():
    with pytest.raises(ValueError, match="swing_period_s"):
        TrainingSwings(swing_period_s=1.5).check(1.0)


def test_checkpoint_dips_every_n_for_d_seconds():
    sw = TrainingSwings(swing_amplitude_share=0, checkpoint_every_s=600, checkpoint_s=45,
                        crashes_per_day=0, idle_share=0.2)
    x, _ = level(sw, 3600, 1.0)
    idle = np.flatnonzero(np.isclose(x, 0.2))
    starts = idle[np.r_[True, np.diff(idle) > 1]]
    assert list(starts) == [0, 600, 1200, 1800, 2400, 3000]
    assert len(idle) == 6 * 45


def test_crash_drops_to_idle_then_restarts_with_a_ramp():
    sw = TrainingSwings(swing_amplitude_share=0, checkpoint_every_s=0, crashes_per_day=0,
                        idle_share=0.1, restart_s=300, start_ramp_s=60)
    x, _ = level(sw, 1200, 1.0, crashes=[100.0])
    assert np.allclose(x[:100], 1.0)
    assert np.allclose(x[100:400], 0.1)
    ramp = x[400:460]
    assert np.all(np.diff(ramp) > 0) and ramp[30] == pytest.approx(0.1 + 0.9 * 0.5, abs=1e-6)
    assert np.allclose(x[460:], 1.0)


def test_gpu_floor_lifts_swings_but_not_a_crash_and_reports_its_fill():
    sw = TrainingSwings(swing_amplitude_share=0.4, swing_period_s=4, checkpoint_every_s=0,
                        crashes_per_day=0, idle_share=0.1, restart_s=100, floor_share=0.9)
    x, fill = level(sw, 400, 1.0, crashes=[200.0])
    assert x[:200].min() == pytest.approx(0.9)
    assert np.allclose(x[200:300], 0.1) and np.all(fill[200:300] == 0)
    assert fill[:200].max() == pytest.approx(0.3, abs=1e-6)


def test_crashes_are_seeded_and_near_the_rate():
    a = crash_times_s(0, 100 * 86400, 8.6, seed=7)
    b = crash_times_s(0, 100 * 86400, 8.6, seed=7)
    assert np.array_equal(a, b)
    assert 700 < len(a) < 1020  # Poisson, mean 860


def test_replay_trace_interpolates_and_repeats(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("time_s,power_mw\n0,10\n10,20\n20,10\n")
    doc = {"version": 1, "site": {"import_limit_mw": 100},
           "ai": {"it_load_mw": 10, "profile": "replay", "replay": {"source": str(path)}},
           "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
           "run": {"start": "2024-01-01T00:00Z", "end": "2024-01-01T00:01Z", "resolution": "1s"}}
    from ballast.scenario import parse_scenario

    ai = fine_ai(parse_scenario(doc), np.full(1, 13.0), 60, 1.0, 0.0, 60.0)
    x, _ = ai.chunk(0, 45)
    assert x[5] == pytest.approx(15) and x[10] == pytest.approx(20) and x[25] == pytest.approx(15)


@pytest.mark.parametrize(("text", "match"), [
    ("time_s,power_mw\n0,10\n0,20\n", "row 2"),
    ("time_s,power_mw\n0,10\n1,x\n", "power_mw"),
    ("t,power_mw\n0,10\n1,20\n", "no column 'time_s'"),
    ("time_s,power_mw\n0,10\n1,-5\n", "below the allowed minimum"),
])
def test_bad_trace_names_file_row_and_column(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as exc:
        read_trace(str(path), "time_s", "power_mw", None)
    assert "bad.csv" in str(exc.value)


def test_inference_holds_the_diurnal_shape_with_seeded_tick_noise():
    from ballast.scenario import parse_scenario

    doc = {"version": 1, "site": {"import_limit_mw": 100},
           "ai": {"it_load_mw": 50, "pue": 1.2, "profile": "diurnal_inference",
                  "noise_share": 0.02},
           "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
           "run": {"start": "2024-01-01T00:00Z", "end": "2024-01-01T01:00Z", "resolution": "1s",
                   "seed": 4}}
    scn = parse_scenario(doc)
    coarse = np.linspace(50.0, 54.0, 60)  # one row per minute
    a, _ = fine_ai(scn, coarse, 60, 1.0, 0.0, 3600.0).chunk(0, 3600)
    b, _ = fine_ai(scn, coarse, 60, 1.0, 0.0, 3600.0).chunk(0, 3600)
    assert np.array_equal(a, b)
    resid = a - np.repeat(coarse, 60)
    assert resid.std() == pytest.approx(0.02 * 50 * 1.2, rel=0.1)
    assert abs(resid.mean()) < 0.05


def test_mean_level_matches_a_long_generated_waveform():
    from ballast.models.ai_swings import mean_level_share

    sw = TrainingSwings(crashes_per_day=20, checkpoint_every_s=900, checkpoint_s=90)
    crashes = crash_times_s(0, 20 * 86400, sw.crashes_per_day, seed=3)
    x, _ = level(sw, 20 * 86400, 1.0, crashes=crashes)
    realized = TrainingSwings(crashes_per_day=len(crashes) / 20, checkpoint_every_s=900,
                              checkpoint_s=90)  # this draw's crash rate (Poisson noise aside)
    assert float(x.mean()) == pytest.approx(mean_level_share(realized), abs=0.005)


def test_training_chunk_is_the_level_times_its_coarse_row_as_float32():
    """``FineAi.chunk`` (training) scales each tick's level and floor fill by the full power
    of its coarse row: the float64 product rounded to float32, from any tick (mid-row too)."""
    from ballast.sim.fine_ai import FineAi

    sw = TrainingSwings(floor_share=0.9, crashes_per_day=0.0)
    coarse = np.array([100.0, 80.0, 0.0, 55.5, 120.25, 70.0])
    ai = FineAi("training", 1.0, 0.0, coarse, 60, swings=sw, phase_s=7.0)
    for i0, n in [(0, 360), (45, 100), (119, 2), (200, 0)]:
        lvl, fill = level(sw, n, 1.0, t0_s=float(i0), phase=7.0)
        row_mw = coarse[np.arange(i0, i0 + n) // 60]
        a, f = ai.chunk(i0, n)
        assert a.dtype == np.float32 and f.dtype == np.float32
        np.testing.assert_array_equal(a, (lvl.astype("float64") * row_mw).astype(np.float32))
        np.testing.assert_array_equal(f, (fill.astype("float64") * row_mw).astype(np.float32))
    assert ai.chunk(45, 100)[1].any()  # the floor adds energy in these ticks
