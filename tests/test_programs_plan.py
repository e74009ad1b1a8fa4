"""Program rules through the real rule stack: EEA, DR events, reserves (headroom, floors, UFR
trips, ECRS/ERS deployments), with hand-made inputs on a 15-min grid."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.control import ControllerConfig
from ballast.inputs import SiteInputs
from ballast.programs.plan import build_plan, reserve_headroom_mw, sell_reserves
from ballast.scenario import ScenarioError, parse_scenario
from ballast.sim.engine import run_policy

START = pd.Timestamp("2024-05-01T00:00Z")
S19J_MW = 3050 * 1.05 / 1e6  # one S19j Pro at the meter [MW] (catalog x default PUE)


def scenario(n, programs, limit_mw=100.0, count=10_000):
    doc = {"version": 1, "site": {"import_limit_mw": limit_mw},
           "miners": [{"name": "a", "model": "Antminer S19j Pro", "count": count,
                       "min_on_minutes": 0, "min_off_minutes": 0}],
           "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
           "run": {"start": START.isoformat(),
                   "end": (START + n * pd.Timedelta("15min")).isoformat()},
           "programs": programs}
    return parse_scenario(doc)


def run(programs, ai_mw, price=20.0, limit_mw=100.0, count=10_000, hashprice=50.0):
    ai = np.broadcast_to(np.asarray(ai_mw, dtype=float), (len(np.atleast_1d(ai_mw)),))
    n = len(ai)
    scn = scenario(n, programs, limit_mw, count)
    settle = np.broadcast_to(price, (n,)).astype(float)
    # decided on the last settled price (markets.price.decision_delay: interval), the first
    # interval on its own (as build_inputs at the start of a price file)
    frame = pd.DataFrame({"price_usd_per_mwh": settle,
                          "decision_price_usd_per_mwh": np.r_[settle[:1], settle[:-1]],
                          "hashprice_usd_per_ph_day": np.full(n, hashprice),
                          "ai_load_mw": ai, "renewable_mw": np.zeros(n)}, index=scn.run.index())
    inputs = SiteInputs(frame=frame, renewable_columns=())
    cfg = ControllerConfig.from_scenario(scn)
    plan = build_plan(scn, inputs, cfg)
    out = run_policy(cfg, inputs, "ballast", cap_mw=plan.cap_mw, floor_mw=plan.floor_mw,
                     breaks=plan.breaks, before_chunk=plan.on_chunk)
    return plan, out.frame, cfg


def at(k):
    return (START + k * pd.Timedelta("15min")).isoformat()


@pytest.mark.parametrize(("level", "curtail_at_level", "off"), [
    (3, 1, True), (1, 1, True), (2, 3, False),  # site policy: act only from EEA3
])
def test_eea_takes_every_miner_off_in_its_window_only(level, curtail_at_level, off):
    window = {"start": at(4), "end": at(8), "level": level}
    plan, f, _ = run({"emergency": {"curtail_at_level": curtail_at_level, "windows": [window]}},
                     np.full(12, 20.0))
    sleep_mw = 10_000 * 25 / 1e6
    assert np.allclose(f["miner_mw"].iloc[4:8], sleep_mw) == off
    assert f["miner_mw"].iloc[:4].min() > 30 and f["miner_mw"].iloc[8:].min() > 30
    assert (f["binding_rule"].iloc[4:8] == "obligation_cap").all() == off
    assert plan.events[0].opted_in == off


@pytest.mark.parametrize(("event", "policy", "expect_drop_mw"), [
    ({"target_mw": 10.0}, {}, 10.0),
    # half the campus import before the event (AI 20 MW + the whole fleet running)
    ({"reduction_pct": 50.0}, {}, 0.5 * (20.0 + 10_000 * S19J_MW)),
    # stated baseline 60 MW, 30 MW below it: import 30 MW, miners 10 MW
    ({"target_mw": 30.0, "baseline_mw": 60.0}, {}, 10_000 * S19J_MW - 10.0),
    ({"target_mw": 10.0, "notice_minutes": 5}, {"min_notice_minutes": 30}, 0.0),   # declined
    ({"target_mw": 10.0}, {"max_reduction_mw": 5.0}, 0.0),                         # declined
])
def test_dr_event_table(event, policy, expect_drop_mw):
    ev = {"name": "e", "start": at(4), "end": at(8), **event}
    plan, f, _ = run({"demand_response": {"events": [ev], **policy}}, np.full(12, 20.0))
    before = f["miner_mw"].iloc[3]
    drop = before - f["miner_mw"].iloc[4:8]
    assert np.allclose(drop, expect_drop_mw, atol=S19J_MW)  # whole miners
    (pe,) = plan.events
    assert pe.opted_in == (expect_drop_mw > 0)
    assert pe.signal_time_utc == pd.Timestamp(at(4)) - pd.Timedelta(
        minutes=event.get("notice_minutes", 0))


FLEET_MW = 10_000 * S19J_MW
STEP_MW = S19J_MW - 25e-6  # one miner from sleep to run
SLEEP_MW = 10_000 * 25e-6


@pytest.mark.parametrize(("ai_mw", "offers", "expect"), [
    # room = min(limit 100 - AI, fleet) - sleep floor - one miner step (whole miners)
    (60.0, {"responsive_reserve": 30.0}, {"responsive_reserve": 30.0}),
    (80.0, {"responsive_reserve": 30.0}, {"responsive_reserve": 20.0 - SLEEP_MW - STEP_MW}),
    (60.0, {"responsive_reserve": 30.0, "ecrs": 20.0},
     {"responsive_reserve": 30.0, "ecrs": FLEET_MW - SLEEP_MW - STEP_MW - 30.0}),
    (99.0, {"ecrs": 5.0}, {"ecrs": 1.0 - SLEEP_MW - STEP_MW}),
    (99.9, {"ecrs": 5.0}, {"ecrs": 0.0}),
])
def test_reserve_headroom_and_sale_table(ai_mw, offers, expect):
    idx = pd.date_range(START, periods=4, freq="15min")
    head = reserve_headroom_mw(np.full(4, ai_mw), idx, 100.0, 0.0, FLEET_MW, SLEEP_MW,
                               np.full(4, np.inf), STEP_MW)
    sold = sell_reserves(offers, head)
    for name, mw in expect.items():
        assert sold[name] == pytest.approx(np.full(4, mw), abs=1e-9)


def test_headroom_uses_the_hours_highest_ai_load():
    idx = pd.date_range(START, periods=8, freq="15min")
    ai = np.array([50, 50, 90, 50, 50, 50, 50, 50], dtype=float)
    head = reserve_headroom_mw(ai, idx, 100.0, 0.0, 1e9, 0.0, np.full(8, np.inf), 0.0)
    assert head.tolist() == [10.0] * 4 + [50.0] * 4


def test_ufr_trip_drops_the_sold_reserve_and_logs_it():
    ev = {"at": at(6), "shape": "step_loss_of_generation"}
    plan, f, _ = run({"responsive_reserve": {"offer_mw": 15.0, "frequency_events": [ev]}},
                     np.full(16, 40.0))
    (trip,) = plan.events
    assert trip.kind == "ufr_trip:step_loss_of_generation" and trip.commit_mw == 15.0
    assert trip.signal_time_utc == pd.Timestamp(at(6)) + pd.Timedelta(seconds=5.8)
    assert f["miner_mw"].iloc[trip.start_tick:trip.end_tick].max() <= trip.reference_mw - 15.0
    assert trip.end_tick - trip.start_tick == 5  # 60 min from 5.8 s in: through the 5th interval


@pytest.mark.parametrize("program", ["ecrs", "ers"])
def test_deployment_reaches_commitment_and_recovers(program):
    cfg = {"offer_mw": 12.0, "deployments": [{"at": at(5), "duration_minutes": 30}]}
    plan, f, _ = run({program: cfg}, np.full(12, 40.0))
    (dep,) = plan.events
    red = dep.reference_mw - f["miner_mw"].iloc[5:7]
    assert (red >= 12.0 - 1e-9).all()
    assert f["miner_mw"].iloc[7] == pytest.approx(dep.reference_mw)  # recovered


def test_deployment_reference_never_peeks_at_the_future():
    cfg = {"ecrs": {"offer_mw": 12.0, "deployments": [{"at": at(5), "duration_minutes": 30}]}}
    calm = np.full(12, 20.0)
    spike = calm.copy()
    spike[5:] = 5000.0  # a price spike from the deployment on must not change its reference
    p1, _, _ = run(cfg, np.full(12, 40.0), price=calm)
    p2, _, _ = run(cfg, np.full(12, 40.0), price=spike)
    assert p1.events[0].reference_mw == p2.events[0].reference_mw


def test_reserve_not_sold_when_the_price_is_above_breakeven():
    price = np.full(8, 20.0)
    price[3:6] = 900.0
    plan, f, _ = run({"ecrs": {"offer_mw": 10.0}}, np.full(8, 40.0), price=price)
    sold = plan.reserve_sold_mw["ecrs"]
    # price known at t is the last interval's; a sale needs t-1 sellable too (held before)
    assert sold[4:7].max() == 0.0 and sold[2] == 10.0 and sold[7] == 0.0
    assert f["miner_mw"].iloc[4] < 1.0  # economics curtailed, no floor forcing a loss


def test_offer_larger_than_the_fleet_is_rejected_with_the_field():
    with pytest.raises(ScenarioError, match=r"programs: reserve offers .* only drop 32\.0 MW"):
        scenario(4, {"responsive_reserve": {"offer_mw": 30.0}, "ecrs": {"offer_mw": 5.0}})


@settings(max_examples=40, deadline=None)
@given(limit_mw=st.floats(20, 150), count=st.integers(100, 20_000),
       rrs_mw=st.floats(0.5, 40), ecrs_mw=st.floats(0.5, 30),
       ai=st.lists(st.floats(0, 160), min_size=8, max_size=24),
       prices=st.lists(st.floats(-50, 150), min_size=8, max_size=24),  # breakeven ~66
       trip_k=st.integers(1, 7), eea_k=st.integers(0, 7), dr_k=st.integers(0, 7),
       dr_mw=st.floats(0.5, 50))
def test_reserve_and_limit_are_never_both_broken(limit_mw, count, rrs_mw, ecrs_mw, ai, prices,
                                                 trip_k, eea_k, dr_k, dr_mw):
    n = min(len(ai), len(prices))
    fleet_mw = count * S19J_MW
    if rrs_mw + ecrs_mw > fleet_mw:
        rrs_mw, ecrs_mw = fleet_mw / 2, fleet_mw / 4
    progs = {"responsive_reserve": {"offer_mw": rrs_mw, "frequency_events": [
                 {"at": at(trip_k), "shape": "step_loss_of_generation"}]},
             "ecrs": {"offer_mw": ecrs_mw},
             "emergency": {"windows": [{"start": at(eea_k), "end": at(eea_k + 2)}]},
             "demand_response": {"events": [{"start": at(dr_k), "end": at(dr_k + 3),
                                             "target_mw": dr_mw}]}}
    ai_mw = np.array(ai[:n])
    plan, f, _cfg = run(progs, ai_mw, price=np.array(prices[:n]), limit_mw=limit_mw, count=count)
    miner = f["miner_mw"].to_numpy()
    sleep_mw = plan.sleep_floor_mw
    total_sold = plan.reserve_sold_mw["responsive_reserve"] + plan.reserve_sold_mw["ecrs"]
    # a reserve is never sold without the headroom for it
    assert (total_sold <= plan.headroom_mw + 1e-9).all()
    deployed = np.zeros(n, dtype=bool)  # reserve deployed, or a cap that outranks the floor
    for ev in plan.events:
        if ev.opted_in:
            deployed[ev.start_tick:ev.end_tick] = True
    assert (total_sold[deployed & np.isfinite(plan.fixed_caps_mw["emergency"])] == 0).all()
    feasible = ai_mw + sleep_mw <= limit_mw
    over_limit = (ai_mw + miner > limit_mw + 1e-6) & feasible
    short = (miner < sleep_mw + total_sold - 1e-6) & ~deployed
    assert not over_limit.any()  # the limit always holds
    assert not (over_limit & short).any()
    assert not short.any()  # and the sold reserve is running, ready to drop
    assert (miner <= np.maximum(plan.cap_mw, sleep_mw) + 1e-9).all()  # every cap obeyed


@pytest.mark.parametrize(("price", "shortfall_mw"), [
    (20.0, 0.0),    # miners running: the 10 MW reduction is delivered
    (900.0, 10.0),  # price already took them off: nothing left to reduce, all short
])
def test_dr_event_log_measures_achieved_reduction_and_shortfall(price, shortfall_mw):
    from types import SimpleNamespace

    from ballast.programs.settle import _event_rows

    ev = {"name": "e", "start": at(4), "end": at(8), "target_mw": 10.0}
    plan, f, _ = run({"demand_response": {"events": [ev]}}, np.full(12, 20.0),
                     price=np.full(12, price))
    rows = _event_rows(plan, SimpleNamespace(frame=f), SimpleNamespace(frame=f), 0.25)
    (row,) = rows.to_dict("records")
    assert row["signal_time_utc"] == pd.Timestamp(at(4))
    assert row["shortfall_mw"] == pytest.approx(shortfall_mw, abs=S19J_MW)
    assert row["achieved_reduction_mw"] == pytest.approx(10.0 - shortfall_mw, abs=S19J_MW)
    assert row["command"].startswith("cap miners at")


def test_event_at_the_first_tick_uses_what_the_miners_could_draw():
    ev = {"name": "e", "start": at(0), "end": at(2), "target_mw": 10.0}
    plan, f, _ = run({"demand_response": {"events": [ev]}}, np.full(6, 20.0))
    assert plan.events[0].reference_mw == pytest.approx(FLEET_MW)  # nothing measured yet
    assert f["miner_mw"].iloc[:2].to_numpy() == pytest.approx(FLEET_MW - 10.0, abs=S19J_MW)


@pytest.mark.parametrize(("programs", "message"), [
    ({"demand_response": {"events": [{"start": at(1), "end": at(2)}]}},
     "programs.demand_response.events.0: give exactly one of target_mw or reduction_pct"),
    ({"emergency": {"windows": [{"start": at(3), "end": at(2)}]}},
     "programs.emergency.windows.0: end must be after start"),
    ({"responsive_reserve": {"offer_mw": 5, "frequency_events": [{"at": "2024-05-01T00:00"}]}},
     "programs.responsive_reserve.frequency_events.0: times need a UTC offset"),
    ({"ers": {"kind": "ERS-60", "offer_mw": 1}}, "programs.ers.kind"),
    ({"ecrs": {"offer_mw": 1, "colour": "red"}}, "programs.ecrs.colour: Extra inputs"),
])
def test_bad_program_input_names_the_field(programs, message):
    with pytest.raises(ScenarioError, match=message.replace(".", r"\.")):
        scenario(4, programs)
