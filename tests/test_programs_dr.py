"""Demand response has one meaning (programs/dr.py): a reduction of campus import below a
stated or metered baseline. Table tests of the functions, and each host (backtest, live runtime,
API, OpenADR VEN) giving the same cap for the same request."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ballast.programs.dr import (
    DrRequest,
    dr_achieved_reduction_mw,
    dr_cap,
    dr_shortfall_mw,
)

# (request, import before [MW], miners before [MW]) -> (baseline, reduction, target, cap, short)
# AI load = import - miners (no renewables) in every row but the last
CASES = [
    (DrRequest(reduction_mw=30.0), 120.0, 40.0, (120.0, 30.0, 90.0, 10.0, 0.0)),
    (DrRequest(reduction_share=0.25), 120.0, 40.0, (120.0, 30.0, 90.0, 10.0, 0.0)),
    # more than the miners have: all miners off, the AI load's share is short
    (DrRequest(reduction_mw=50.0), 120.0, 40.0, (120.0, 50.0, 70.0, 0.0, 10.0)),
    (DrRequest(reduction_share=1.0), 120.0, 40.0, (120.0, 120.0, 0.0, 0.0, 80.0)),
    # stated baseline above the metered import: the miners must cut more
    (DrRequest(reduction_mw=30.0, baseline_mw=130.0), 120.0, 40.0,
     (130.0, 30.0, 100.0, 20.0, 0.0)),
    # stated baseline below the metered import: the share is of the stated baseline
    (DrRequest(reduction_share=0.5, baseline_mw=100.0), 120.0, 40.0,
     (100.0, 50.0, 50.0, 0.0, 30.0)),
    # exporting (negative import): a share asks nothing
    (DrRequest(reduction_share=0.5), -20.0, 10.0, (-20.0, 0.0, -20.0, 10.0, 0.0)),
    # renewables cover part of the load: import 30 = AI 60 + miners 40 - solar 70
    (DrRequest(reduction_mw=10.0), 30.0, 40.0, (30.0, 10.0, 20.0, 30.0, 0.0)),
]


@pytest.mark.parametrize(("request_", "import_mw", "miners_mw", "expect"), CASES)
def test_dr_cap_table(request_, import_mw, miners_mw, expect):
    c = dr_cap(request_, import_mw, miners_mw)
    got = (c.baseline_import_mw, c.reduction_mw, c.target_import_mw, c.cap_mw,
           c.expected_shortfall_mw)
    assert got == pytest.approx(expect)


@pytest.mark.parametrize(("baseline", "metered", "asked", "achieved", "short"), [
    (120.0, [90.0, 95.0, 80.0], 30.0, [30.0, 25.0, 40.0], [0.0, 5.0, 0.0]),
    (120.0, [125.0], 30.0, [-5.0], [35.0]),  # import rose: negative achievement, all short
])
def test_dr_settlement_table(baseline, metered, asked, achieved, short):
    got = dr_achieved_reduction_mw(baseline, np.array(metered))
    assert got == pytest.approx(achieved)
    assert dr_shortfall_mw(asked, got) == pytest.approx(short)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "give exactly one of reduction_mw or reduction_share"),
    ({"reduction_mw": 1.0, "reduction_share": 0.1}, "give exactly one"),
    ({"reduction_mw": 0.0}, "reduction_mw must be > 0, got 0.0"),
    ({"reduction_share": 0.0}, "reduction_share must be in (0, 1], got 0.0"),
    ({"reduction_share": 1.01}, "reduction_share must be in (0, 1], got 1.01"),
    ({"reduction_mw": float("nan")}, "reduction_mw is nan, not a finite number"),
    ({"reduction_mw": 5.0, "baseline_mw": float("inf")}, "baseline_mw is inf"),
    ({"reduction_mw": True}, "reduction_mw is True, not a finite number"),
])
def test_bad_request_named(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DrRequest(**kwargs)


# ---- every host: one request (a quarter of the import), AI 80 MW, the miners drawing ~40 MW --

S19J_MW = 3050 * 1.05 / 1e6  # one S19j Pro at the meter [MW] (catalog x default PUE)
COUNT = 12_500  # 40.03 MW running
START = pd.Timestamp("2024-05-01T00:00Z")


def backtest(event: dict):
    """Run the backtest's program plan (real rule stack) with one DR event at tick 4."""
    from ballast.control import ControllerConfig
    from ballast.inputs import SiteInputs
    from ballast.programs.plan import build_plan
    from ballast.scenario import parse_scenario
    from ballast.sim.engine import run_policy

    n = 8
    at = [(START + k * pd.Timedelta("15min")).isoformat() for k in range(n + 1)]
    scn = parse_scenario({
        "version": 1, "site": {"import_limit_mw": 200.0},
        "miners": [{"name": "a", "model": "Antminer S19j Pro", "count": COUNT,
                    "min_on_minutes": 0, "min_off_minutes": 0}],
        "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
        "run": {"start": at[0], "end": at[n]},
        "programs": {"demand_response": {"events": [
            {"name": "e", "start": at[4], "end": at[6], **event}]}}})
    frame = pd.DataFrame({"price_usd_per_mwh": np.full(n, 20.0),
                          "decision_price_usd_per_mwh": np.full(n, 20.0),
                          "hashprice_usd_per_ph_day": np.full(n, 50.0),
                          "ai_load_mw": np.full(n, 80.0), "renewable_mw": np.zeros(n)},
                         index=scn.run.index())
    cfg = ControllerConfig.from_scenario(scn)
    plan = build_plan(scn, SiteInputs(frame=frame, renewable_columns=()), cfg)
    out = run_policy(cfg, SiteInputs(frame=frame, renewable_columns=()), "ballast",
                     cap_mw=plan.cap_mw, floor_mw=plan.floor_mw, breaks=plan.breaks,
                     before_chunk=plan.on_chunk)
    return plan, out.frame


def backtest_cap_mw(event: dict) -> tuple[float, float, float]:
    """The backtest's DR cap, and the import and miner power metered before the event [MW]."""
    plan, f = backtest(event)
    (ev,) = plan.events
    return ev.cap_mw, float(f["import_mw"].iloc[3]), float(f["miner_mw"].iloc[3])


def test_backtest_runtime_api_and_ven_give_the_same_cap():
    from ballast.live.api_models import DrEventIn
    from ballast.live.obligations import DrBook, DrEvent
    from ballast.programs.openadr.ven import VenPolicy, event_to_commands

    cap_bt, import_mw, miners_mw = backtest_cap_mw({"reduction_pct": 25.0})
    assert miners_mw == pytest.approx(COUNT * S19J_MW)  # the whole fleet ran before
    expect = dr_cap(DrRequest(reduction_share=0.25), import_mw, miners_mw)
    # a quarter of the campus import (AI included), not of the miner power
    assert expect.reduction_mw == pytest.approx(0.25 * (80.0 + COUNT * S19J_MW))
    assert cap_bt == pytest.approx(expect.cap_mw)

    body = DrEventIn(duration_s=900.0, reduction_share=0.25)  # the API's request
    book = DrBook()
    book.events["a"] = DrEvent("a", 0.0, 900.0, body.reduction_mw, body.reduction_share)
    cap_live, (doc,), _ = book.cap(1.0, import_mw, miners_mw)
    assert cap_live == pytest.approx(expect.cap_mw)
    assert doc["target_import_mw"] == pytest.approx(expect.target_import_mw)

    # OpenADR: reduce campus import by the same MW (LOAD_DISPATCH delta, in kW)
    now = datetime(2024, 5, 1, tzinfo=UTC)
    start = now + timedelta(hours=1)
    event = {"event_descriptor": {"event_id": "x", "event_status": "far"},
             "active_period": {"dtstart": start},
             "event_signals": [{"signal_name": "LOAD_DISPATCH", "signal_type": "delta",
                                "intervals": [{"dtstart": start,
                                               "duration": timedelta(minutes=30),
                                               "signal_payload": -expect.reduction_mw * 1e3}]}]}
    (cmd,) = event_to_commands(event, VenPolicy(), miners_mw, now,
                               import_mw_now=import_mw).commands
    assert cmd.cap_mw == pytest.approx(expect.cap_mw)
    # and that command replayed in the backtest caps the miners the same way
    cap_replay, _, _ = backtest_cap_mw({"target_mw": cmd.to_dr_event()["target_mw"]})
    assert cap_replay == pytest.approx(expect.cap_mw)


def test_backtest_settles_against_the_import_baseline():
    """The event log's achieved reduction is baseline import minus metered import."""
    from types import SimpleNamespace

    from ballast.programs.settle import _event_rows

    plan, f = backtest({"target_mw": 10.0, "baseline_mw": 130.0})
    # stated baseline 130 MW, 10 MW below it: import at most 120 MW, the miners 40 MW
    assert plan.events[0].cap_mw == pytest.approx(120.0 - 80.0)
    rows = _event_rows(plan, SimpleNamespace(frame=f), SimpleNamespace(frame=f), 0.25)
    (row,) = rows.to_dict("records")
    during = f["import_mw"].iloc[4:6].to_numpy()
    assert during.max() <= 120.0 + 1e-9
    assert row["baseline_import_mw"] == 130.0  # stated, not the metered 120 MW
    assert row["achieved_reduction_mw"] == pytest.approx(130.0 - during.mean())
    assert row["achieved_reduction_mw"] == pytest.approx(10.0, abs=S19J_MW)  # whole miners
    assert row["shortfall_mw"] == pytest.approx(0.0, abs=S19J_MW)
    assert row["reduced_mwh"] == pytest.approx((130.0 - during).sum() * 0.25)
