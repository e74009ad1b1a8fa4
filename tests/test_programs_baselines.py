"""Named DR baselines (programs/baselines.py) against hand calculations written here."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from ballast.programs.baselines import (
    BaselineError,
    baseline_import_mw,
    baseline_meter_before_event,
    baseline_middle_8_of_10,
    baseline_regression,
)

# event: Wednesday 2026-11-25, 14:00-16:00 UTC, hourly intervals
EVENT = pd.date_range("2026-11-25T14:00Z", periods=2, freq="1h")
# the 10 weekdays before it, newest first (weekends 11-21/22 and 11-14/15 are skipped)
WEEKDAYS = [
    "2026-11-24",
    "2026-11-23",
    "2026-11-20",
    "2026-11-19",
    "2026-11-18",
    "2026-11-17",
    "2026-11-16",
    "2026-11-13",
    "2026-11-12",
    "2026-11-11",
]
# import at 14:00 on those days [MW]; 15:00 is one more. 300 is the highest day, 5 the lowest
AT_14 = [100.0, 110.0, 90.0, 105.0, 95.0, 300.0, 5.0, 100.0, 100.0, 100.0]


def history(at_14: dict[str, float], *, weekend_mw: float = 1000.0, older_mw: float = 999.0) -> pd.Series:
    """Hourly import from 2026-11-01 to the event start: ``at_14[day]`` at 14:00 and one more
    at 15:00 on the listed days, ``weekend_mw`` all day on weekends, ``older_mw`` on other
    weekdays, and 123 MW at 13:00 on the event day."""
    idx = pd.date_range("2026-11-01T00:00Z", "2026-11-25T13:00Z", freq="1h")
    mw = np.full(len(idx), older_mw)
    mw[idx.day_of_week >= 5] = weekend_mw
    for day, v in at_14.items():
        mw[idx == pd.Timestamp(f"{day}T14:00Z")] = v
        mw[idx == pd.Timestamp(f"{day}T15:00Z")] = v + 1.0
    mw[-1] = 123.0
    return pd.Series(mw, index=idx)


def test_middle_8_of_10_drops_the_highest_and_lowest_day():
    h = history(dict(zip(WEEKDAYS, AT_14, strict=True)))
    # hand: drop 300 and 5; (100+110+90+105+95+100+100+100)/8 = 100; 15:00 is 101
    got = baseline_middle_8_of_10(h.index, h.to_numpy(), EVENT)
    assert got == pytest.approx([100.0, 101.0])
    # 2026-11-10 (999 MW) is the 11th weekday back: never used
    assert baseline_import_mw("middle_8_of_10", h.index, h.to_numpy(), EVENT) == (
        pytest.approx([100.0, 101.0])
    )


def test_a_holiday_or_a_day_with_a_gap_is_not_a_like_day():
    h = history(dict(zip(WEEKDAYS, AT_14, strict=True)))
    # 11-24 (100 MW) a holiday: the 11th weekday back, 11-10 at 999 MW, comes in and is now
    # the highest; the days are 110, 90, 105, 95, 300, 5, 100, 100, 100, 999: drop 999 and 5,
    # (110+90+105+95+300+100+100+100)/8 = 1000/8 = 125
    got = baseline_middle_8_of_10(h.index, h.to_numpy(), EVENT, holidays=[date(2026, 11, 24)])
    assert got == pytest.approx([125.0, 126.0])
    gap = h.copy()
    gap[pd.Timestamp("2026-11-24T15:00Z")] = np.nan  # no import in one event interval
    assert baseline_middle_8_of_10(gap.index, gap.to_numpy(), EVENT) == pytest.approx([125.0, 126.0])
    # an earlier event day, excluded, has the same effect
    assert baseline_middle_8_of_10(
        h.index, h.to_numpy(), EVENT, exclude_dates=[date(2026, 11, 24)]
    ) == pytest.approx([125.0, 126.0])


def test_weekend_event_uses_weekend_days():
    event = pd.date_range("2026-11-22T14:00Z", periods=1, freq="1h")  # a Sunday
    idx = pd.date_range("2026-08-01T00:00Z", "2026-11-22T13:00Z", freq="1h")
    mw = np.where(idx.day_of_week >= 5, 40.0, 7.0)
    mw[idx == pd.Timestamp("2026-11-21T14:00Z")] = 120.0  # the highest weekend day: dropped
    got = baseline_middle_8_of_10(idx, mw, event)
    assert got == pytest.approx([40.0])


def test_like_days_match_local_wall_time_across_daylight_saving():
    # Monday 2026-11-09 14:00 CST (20:00Z); the 10 weekdays back reach 2026-10-26, before
    # daylight time ended on 2026-11-01: on those days 14:00 local is 19:00Z
    event = pd.date_range("2026-11-09T20:00Z", periods=1, freq="1h")
    idx = pd.date_range("2026-10-01T00:00Z", "2026-11-09T19:00Z", freq="1h")
    local_hour = idx.tz_convert("America/Chicago").hour.to_numpy()
    mw = local_hour.astype(float)  # import = local hour: 14 at 14:00 local on every day
    got = baseline_middle_8_of_10(idx, mw, event, tz="America/Chicago")
    assert got == pytest.approx([14.0])
    assert baseline_regression(idx, mw, event, tz="America/Chicago") == pytest.approx([14.0])


def test_regression_reads_the_trend_at_the_event_day():
    # import at 14:00 = 200 + 2 * (days from the event day): 198 on 11-24, ..., 172 on 11-11;
    # at 15:00 a flat 81 (80 + 1). The line through them gives 200 and 81 at day 0
    offsets = [(date.fromisoformat(d) - date(2026, 11, 25)).days for d in WEEKDAYS]
    h = history({d: 200.0 + 2 * o for d, o in zip(WEEKDAYS, offsets, strict=True)})
    h[[pd.Timestamp(f"{d}T15:00Z") for d in WEEKDAYS]] = 81.0
    assert baseline_regression(h.index, h.to_numpy(), EVENT) == pytest.approx([200.0, 81.0])


def test_regression_least_squares_by_hand():
    # 14:00 values on the 10 weekdays (x = -1, -2, -5, -6, -7, -8, -9, -12, -13, -14 days):
    # 110 on 11-24 (x = -1), 100 on the others. By hand: mean x = -77/10 = -7.7, mean y = 101;
    # Sxx = sum x^2 - 10 * 7.7^2 = 769 - 592.9 = 176.1;
    # Sxy = sum (x + 7.7)(y - 101) = 9 * 6.7 - (0 - 6.7) * 1 = 67 (every other day has
    # y - 101 = -1, and sum (x + 7.7) over all days is 0);
    # slope = 67 / 176.1, intercept (x = 0) = 101 + 7.7 * slope
    at = dict.fromkeys(WEEKDAYS, 100.0)
    at["2026-11-24"] = 110.0
    h = history(at)
    slope = 67.0 / 176.1
    assert baseline_regression(h.index, h.to_numpy(), EVENT)[0] == pytest.approx(101.0 + 7.7 * slope)


def test_meter_before_event_is_the_last_finite_reading():
    h = history(dict(zip(WEEKDAYS, AT_14, strict=True)))
    assert baseline_meter_before_event(h.index, h.to_numpy(), EVENT) == pytest.approx([123.0, 123.0])
    h.iloc[-1] = np.nan  # 13:00 unknown: 12:00 (an ordinary weekday hour, 999 MW)
    assert baseline_import_mw("meter_before_event", h.index, h.to_numpy(), EVENT) == (
        pytest.approx([999.0, 999.0])
    )


def test_not_enough_history_names_what_is_missing():
    h = history(dict(zip(WEEKDAYS, AT_14, strict=True)))
    short = h[h.index >= pd.Timestamp("2026-11-12T00:00Z")]  # 9 weekdays before the event
    msg = (
        "needs 10 like days (weekdays (Mon-Fri, not holidays)) before 2026-11-25 with "
        "metered import in every interval of the event (2 from 14:00 UTC); the history has "
        "9: 2026-11-24, 2026-11-23"
    )
    with pytest.raises(BaselineError, match=re.escape(msg)):
        baseline_middle_8_of_10(short.index, short.to_numpy(), EVENT)
    with pytest.raises(BaselineError, match="needs 10 like days"):
        baseline_regression(short.index, short.to_numpy(), EVENT)
    late = h[h.index >= EVENT[0]]
    with pytest.raises(
        BaselineError,
        match=re.escape(
            "meter_before_event needs a metered import before the event start "
            "2026-11-25T14:00:00+00:00; the history has none"
        ),
    ):
        baseline_meter_before_event(late.index, late.to_numpy(), EVENT)
    with pytest.raises(
        BaselineError,
        match="unknown baseline method 'avg'; one of meter_before_event, middle_8_of_10, regression",
    ):
        baseline_import_mw("avg", h.index, h.to_numpy(), EVENT)
    with pytest.raises(BaselineError, match="times_utc must be UTC-aware"):
        baseline_meter_before_event(h.index.tz_localize(None), h.to_numpy(), EVENT)


# ---- the backtest uses the same code: a DR event settled on ERCOT's like days -----------------

S19J_MW = 3050 * 1.05 / 1e6  # one S19j Pro at the meter [MW] (catalog x default PUE)
COUNT = 12_500  # 40.03 MW running


def backtest(run_start: str, method: str):
    """Two weeks of 15-min ticks up to Wednesday 2024-05-15 12:00Z; one DR event (10 MW below
    the baseline) 10:00-10:30Z that day. AI load by day: 80 MW on the event day; on the 10
    weekdays before it 90, 80, 100 (the highest), 70 (the lowest), then 85 on the other six;
    older weekdays 130, weekends 110. The miners run in full all along (price 20 USD/MWh)."""
    from ballast.control import ControllerConfig
    from ballast.inputs import SiteInputs
    from ballast.programs.plan import build_plan
    from ballast.scenario import parse_scenario
    from ballast.sim.engine import run_policy

    scn = parse_scenario(
        {
            "version": 1,
            "site": {"import_limit_mw": 300.0, "timezone": "UTC"},
            "miners": [
                {
                    "name": "a",
                    "model": "Antminer S19j Pro",
                    "count": COUNT,
                    "min_on_minutes": 0,
                    "min_off_minutes": 0,
                }
            ],
            "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
            "run": {"start": run_start, "end": "2024-05-15T12:00:00Z"},
            "programs": {
                "demand_response": {
                    "baseline_method": method,
                    "events": [
                        {
                            "name": "e",
                            "start": "2024-05-15T10:00:00Z",
                            "end": "2024-05-15T10:30:00Z",
                            "target_mw": 10.0,
                        }
                    ],
                }
            },
        }
    )
    index = scn.run.index()
    n = len(index)
    day = index.normalize()
    ai = np.where(index.day_of_week >= 5, 110.0, 130.0)
    by_day = {
        "2024-05-14": 90.0,
        "2024-05-13": 80.0,
        "2024-05-10": 100.0,
        "2024-05-09": 70.0,
        "2024-05-15": 80.0,
    }
    by_day.update(
        dict.fromkeys(
            ["2024-05-08", "2024-05-07", "2024-05-06", "2024-05-03", "2024-05-02", "2024-05-01"], 85.0
        )
    )
    for d, mw in by_day.items():
        ai[day == pd.Timestamp(d, tz="UTC")] = mw
    frame = pd.DataFrame(
        {
            "price_usd_per_mwh": np.full(n, 20.0),
            "decision_price_usd_per_mwh": np.full(n, 20.0),
            "hashprice_usd_per_ph_day": np.full(n, 50.0),
            "ai_load_mw": ai,
            "renewable_mw": np.zeros(n),
        },
        index=index,
    )
    cfg = ControllerConfig.from_scenario(scn)
    inputs = SiteInputs(frame=frame, renewable_columns=())
    plan = build_plan(scn, inputs, cfg)
    out = run_policy(
        cfg,
        inputs,
        "ballast",
        cap_mw=plan.cap_mw,
        floor_mw=plan.floor_mw,
        breaks=plan.breaks,
        before_chunk=plan.on_chunk,
    )
    return plan, out.frame


def test_backtest_dr_event_on_middle_8_of_10():
    from types import SimpleNamespace

    from ballast.programs.settle import _event_rows

    plan, f = backtest("2024-04-29T00:00:00Z", "middle_8_of_10")
    (ev,) = plan.events
    miners = COUNT * S19J_MW
    assert f["miner_mw"].iloc[:4].to_numpy() == pytest.approx(miners)  # in full before
    # hand: like-day imports are AI + miners; drop 100 and 70, (90 + 80 + 6 * 85) / 8 = 85
    assert ev.baseline_series_mw == pytest.approx([85.0 + miners] * 2)
    # target import 85 + miners - 10; the AI load is 80, so the miners may draw miners - 5
    assert ev.cap_mw == pytest.approx(miners - 5.0)
    rows = _event_rows(plan, SimpleNamespace(frame=f), SimpleNamespace(frame=f), 0.25)
    (row,) = rows.to_dict("records")
    during = f["import_mw"].loc["2024-05-15T10:00Z":"2024-05-15T10:15Z"].to_numpy()
    assert during.max() <= 75.0 + miners + 1e-9
    assert row["baseline_method"] == "middle_8_of_10"
    assert row["baseline_import_mw"] == pytest.approx(85.0 + miners)
    assert row["achieved_reduction_mw"] == pytest.approx(85.0 + miners - during.mean())
    assert row["shortfall_mw"] == pytest.approx(0.0, abs=S19J_MW)  # whole miners


def test_backtest_default_keeps_meter_before_event():
    plan, _ = backtest("2024-04-29T00:00:00Z", "meter_before_event")
    (ev,) = plan.events
    assert ev.baseline_series_mw is None
    assert ev.baseline_import_mw == pytest.approx(80.0 + COUNT * S19J_MW)  # 09:45 import


def test_backtest_without_the_history_names_the_event():
    from ballast.data.errors import DataError

    with pytest.raises(
        DataError,
        match=re.escape(
            "programs.demand_response.events[0] (dr_event:e): baseline_method regression: "
            "needs 10 like days (weekdays (Mon-Fri, not holidays)) before 2024-05-15"
        ),
    ):
        backtest("2024-05-06T00:00:00Z", "regression")
