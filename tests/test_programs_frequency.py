"""Synthetic frequency shapes (labelled synthetic) and the definite-time UFR relay."""

import numpy as np
import pytest

from ballast.programs.frequency import (
    SHAPES,
    frequency_shape_hz,
    load_frequency_shape,
    synthetic_events_frame,
    ufr_trip_time_s,
)


@pytest.mark.parametrize(("shape", "trips", "latest_s"), [
    ("step_loss_of_generation", True, 8.0),
    ("slow_decline", True, 600.0),
    ("shallow_dip", False, None),
])
def test_relay_on_bundled_shapes(shape, trips, latest_s):
    t, f = load_frequency_shape(shape)
    trip = ufr_trip_time_s(t, f, 59.70, 0.333)
    assert np.isnan(trip) != trips
    if trips:
        below = t[np.argmax(f < 59.70)]
        assert trip == pytest.approx(below + 0.333, abs=0.11)  # 0.1-s samples
        assert trip <= latest_s


@pytest.mark.parametrize(("series", "delay", "expect"), [
    ([60, 59.6, 59.6, 59.6, 60], 0.2, 2.0),   # below from t=1; 0.2 s later = next sample
    ([60, 59.6, 60, 59.6, 59.6], 1.0, 4.0),   # a short dip resets the timer
    ([60, 59.71, 59.71], 0.0, np.nan),        # never below pickup
])
def test_relay_table(series, delay, expect):
    t = np.arange(len(series), dtype=float)
    got = ufr_trip_time_s(t, np.array(series, dtype=float), 59.70, delay)
    if np.isnan(expect):
        assert np.isnan(got)
    else:
        assert got == expect


def test_bundled_file_is_the_generator_output():
    frame = synthetic_events_frame()
    for shape in SHAPES:
        _t, f = load_frequency_shape(shape)
        np.testing.assert_allclose(f, frame.loc[frame["shape"] == shape, "frequency_hz"])
        assert f[0] == 60.0 and f.min() > 59.0


def test_unknown_shape_is_named():
    with pytest.raises(ValueError, match="unknown frequency shape 'x'"):
        frequency_shape_hz("x", np.zeros(2))


def test_recorded_event_file_trips_the_relay(tmp_path):
    from ballast.programs.frequency import read_frequency_event

    path = tmp_path / "pmu.csv"
    path.write_text("offset_s,frequency_hz\n0,60.0\n1,59.8\n2,59.65\n3,59.64\n4,59.9\n")
    t, f = read_frequency_event("pmu.csv", tmp_path)
    assert ufr_trip_time_s(t, f, 59.70, 0.5) == 3.0


@pytest.mark.parametrize(("body", "message"), [
    ("t,frequency_hz\n0,60\n", "column 'offset_s'"),
    ("offset_s,frequency_hz\n0,60\n1,0.2\n", "row 2): frequency 0.2 is not a grid frequency"),
    ("offset_s,frequency_hz\n0,60\n0,59.9\n", "row 2): offsets must be numbers, increasing"),
])
def test_bad_recorded_event_names_file_column_row(tmp_path, body, message):
    from ballast.data.errors import DataError
    from ballast.programs.frequency import read_frequency_event

    (tmp_path / "pmu.csv").write_text(body)
    with pytest.raises(DataError, match=r"pmu\.csv.*" + message.replace("(", r"\(").replace(
            ")", r"\)")):
        read_frequency_event("pmu.csv", tmp_path)
