"""Measurement checks, DR date window, quarantine parsing and tick health as tables of cases with
an injected monotonic clock (issue 9). The end-to-end behaviour is in test_live_safety.py."""

from __future__ import annotations

import math

import pytest

from ballast.live.health import TickHealth
from ballast.live.obligations import DR_WINDOW_S, check_dr_window, dr_event_from_row, utc_iso
from ballast.live.sensing import (
    FROZEN,
    IMPLAUSIBLE,
    NON_FINITE,
    FrozenDetector,
    Sensing,
    SiteNameplate,
    check_value,
    plausible_ranges,
    worst_case_ai_mw,
)
from ballast.live.site_config import SensingConfig, SiteConfigError, parse_site_config

NAN, INF = float("nan"), float("inf")
NOW_S = 1_780_000_000.0  # an instant in 2026 [UNIX s]; nothing depends on today's date


def test_derived_ranges_scale_from_the_site_nameplate():
    # 200 MW limit, 20 MW export, 50 MW renewables; AI 100 MW; miners 160 MW at full power
    plate = SiteNameplate(200.0, 20.0, 100.0, 160.0, 50.0)
    r = plausible_ranges(plate, SensingConfig())
    assert r["import"] == (-(20 + 50) - 5, 1.5 * (100 + 160) + 5)  # loads exceed the limit
    assert r["ai_feeder"] == r["ai_telemetry"] == (-5, 1.5 * 100 + 5)
    assert r["miners_feeder"] == (-5, 1.5 * 160 + 5)
    assert r["renewables_feeder"] == (-5, 1.5 * 50 + 5)
    assert r["frequency"] == (55.0, 65.0)
    small = SiteNameplate(200.0, 0.0, 10.0, 20.0, 0.0)  # loads below the limit
    assert plausible_ranges(small, SensingConfig())["import"] == (-5, 1.5 * 200 + 5)
    given = SensingConfig(import_range_mw=(-1, 250), frequency_range_hz=(59, 61))
    r = plausible_ranges(plate, given)
    assert r["import"] == (-1, 250) and r["frequency"] == (59, 61)


@pytest.mark.parametrize(("value", "why"), [
    (10.0, None), (-5.0, None), (155.0, None),
    (NAN, NON_FINITE), (INF, NON_FINITE), (-INF, NON_FINITE), (None, NON_FINITE),
    (True, NON_FINITE), ("12", NON_FINITE),
    (155.01, IMPLAUSIBLE), (-5.01, IMPLAUSIBLE), (1e30, IMPLAUSIBLE),
])
def test_check_value(value, why):
    assert check_value(value, -5.0, 155.0) == why


def test_worst_case_ai_ignores_non_finite_readings():
    assert worst_case_ai_mw([NAN, 40.0], 100.0) == 40.0  # max() with NaN first gave NaN
    assert worst_case_ai_mw([40.0, NAN], 100.0) == 40.0
    assert worst_case_ai_mw([NAN], 100.0) == 100.0  # blind: the tenant's full load
    assert worst_case_ai_mw([], 100.0) == 100.0
    assert worst_case_ai_mw([30.0, 45.0], 100.0) == 45.0


# (t [s], meter values, witness) -> frozen?
FROZEN_CASES = [
    (0.0, (1.0, 2.0), "a", False),
    (5.0, (1.0, 2.0), "a", False),  # identical, but nothing changed that it should show
    (20.0, (1.0, 2.0), "a", False),
    (21.0, (1.0, 2.0), "b", False),  # the AI or miners changed: the clock starts
    (30.9, (1.0, 2.0), "c", False),
    (31.0, (1.0, 2.0), "c", True),  # 10 s identical since then: frozen
    (32.0, (1.0, 2.1), "c", False),  # it moves again
    (50.0, (1.0, 2.1), "c", False),
]


def test_frozen_detector_needs_a_witness_change_and_the_configured_time():
    det = FrozenDetector(10.0)
    for t, values, witness, frozen in FROZEN_CASES:
        assert det.update(values, witness, t) is frozen, t


class Sample:
    def __init__(self, **kw: float) -> None:
        base = {"campus_import_power_mw": 150.0, "ai_feeder_power_mw": 100.0,
                "miners_feeder_power_mw": 50.0, "renewables_feeder_power_mw": 0.0,
                "frequency_hz": 60.0}
        self.__dict__.update({**base, **kw})


def test_sensing_counts_each_refusal_by_channel_and_reason():
    plate = SiteNameplate(200.0, 0.0, 100.0, 160.0, 0.0)
    s = Sensing(plausible_ranges(plate, SensingConfig()), frozen_after_s=2.0)
    assert s.check_meter(Sample(), 0, 0.0)
    assert not s.check_meter(Sample(ai_feeder_power_mw=NAN), 0, 0.1)
    assert not s.check_meter(Sample(frequency_hz=0.0), 0, 0.2)
    assert not s.check_meter(Sample(campus_import_power_mw=-400.0), 0, 0.3)
    assert s.check_meter(Sample(), 0, 0.4)
    assert s.check_meter(Sample(), 1, 0.5)  # witness changed at 0.5 s
    assert not s.check_meter(Sample(), 2, 2.6)  # identical 2.1 s since: frozen
    assert not s.check_ai(-50.0) and not s.check_ai(INF) and s.check_ai(60.0)
    assert dict(s.stats.rejected) == {("ai_feeder", NON_FINITE): 1,
                                      ("frequency", IMPLAUSIBLE): 1,
                                      ("import", IMPLAUSIBLE): 1, ("meter", FROZEN): 1,
                                      ("ai_telemetry", IMPLAUSIBLE): 1,
                                      ("ai_telemetry", NON_FINITE): 1}


@pytest.mark.parametrize(("bad", "field"), [
    ({"import_range_mw": [10, 5]}, "import_range_mw"),
    ({"frequency_range_hz": [60, float("nan")]}, "frequency_range_hz"),
    ({"frozen_after_s": 0}, "frozen_after_s"),
    ({"range_factor": float("inf")}, "range_factor"),
    ({"nope": 1}, "nope"),
])
def test_sensing_config_is_strict(bad, field):
    with pytest.raises(SiteConfigError, match=field):
        parse_site_config({"scenario": "x.yaml", "sensing": bad}, "site.yaml")


@pytest.mark.parametrize(("start_s", "end_s", "message"), [
    (NOW_S, NOW_S + 3600, None),
    (NOW_S - DR_WINDOW_S, NOW_S + DR_WINDOW_S, None),  # the window's edges are inside
    (NOW_S, NOW_S + DR_WINDOW_S + 1, "end"),
    (NOW_S - DR_WINDOW_S - 1, NOW_S, "start"),
    (NOW_S, 253402300799.0 + 43200, "end"),  # 9999-12-31T23:59:59-12:00 (issue 9)
    (NOW_S, NAN, "finite"),
    (INF, NOW_S, "finite"),
    (NOW_S, NOW_S, "after start"),
])
def test_dr_window(start_s, end_s, message):
    if message is None:
        check_dr_window(start_s, end_s, NOW_S)
    else:
        with pytest.raises(ValueError, match=message):
            check_dr_window(start_s, end_s, NOW_S)


def test_utc_iso_never_raises():
    assert utc_iso(0.0) == "1970-01-01T00:00:00Z"
    assert utc_iso(253402300799.0 + 43200) is None  # year 10000
    assert utc_iso(NAN) is None and utc_iso(1e300) is None


ROW = {"id": "ev1", "start_s": NOW_S, "end_s": NOW_S + 600, "reduction_mw": 10.0,
       "reduction_share": None, "cancelled_s": None}


@pytest.mark.parametrize(("change", "message"), [
    ({}, None),
    ({"end_s": 1e300}, "days from now"),
    ({"start_s": "abc"}, "start_s"),
    ({"end_s": None}, "end_s"),
    ({"reduction_mw": NAN}, "reduction_mw"),
    ({"reduction_share": 0.5}, "exactly one"),
    ({"reduction_mw": -3.0}, "reduction_mw must be > 0, got -3.0"),
    ({"end_s": NOW_S - 1e9, "start_s": NOW_S - 1e9 - 60}, None),  # long over: history
])
def test_dr_rows_are_checked_before_use(change, message):
    row = {**ROW, **change}
    if message is None:
        ev = dr_event_from_row(row, NOW_S)
        assert (ev.start_s, ev.end_s) == (row["start_s"], row["end_s"])
    else:
        with pytest.raises(ValueError, match=message):
            dr_event_from_row(row, NOW_S)


def test_tick_health_fails_safe_after_n_failures_and_reports_late_ticks():
    h = TickHealth(max_failed=3, late_s=0.6, now_s=100.0)
    assert h.problem(100.5) is None
    assert "first tick" in h.problem(100.7)  # never ticked for 0.7 s
    assert h.succeeded(100.8) is None and h.problem(101.0) is None
    assert [h.failed(OSError("disk full")) for _ in range(4)] == [False, False, True, False]
    assert h.failed_total == h.consecutive == 4
    assert "3 ticks failed in a row" in h.failsafe_reason and "disk full" in h.failsafe_reason
    assert "4 tick(s) failed" in h.problem(101.0)
    cleared = h.succeeded(102.0)
    assert cleared is not None and h.failsafe_reason is None and h.consecutive == 0
    assert h.problem(102.5) is None
    assert "no successful tick for 0.7 s" in h.problem(102.7)
    assert math.isclose(h.age_s(102.7), 0.7)
