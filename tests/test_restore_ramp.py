"""Staged restore (issue 17, item 7): waking miners raise the campus import no faster than the
restore ramp; shedding is never slowed; the ramp is off when the scenario sets null; the import
limit always wins. Table-driven cases of the compiled rule with an injected clock (the
snapshot's time), then ``step`` tick by tick, the 1-min backtest and the 1-s plant loop."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ballast.control import ControllerState, Snapshot, step
from ballast.control.controller import new_restore
from ballast.control.records import RESTORE_DTYPE, record
from ballast.control.rules import (
    RS_CEILING,
    RS_LAST_T,
    RS_MAX_DT,
    RS_MINERS,
    RS_ON,
    RS_RAMP,
    restore_allowance_mw,
    restore_commit,
    rule_restore_ramp,
)
from ballast.scenario import parse_scenario
from ballast.sim import simulate
from ballast.sim.fine import run_fine
from ballast.sim.fine_ai import FineAi
from tests.test_controller_rules import make_config

NAN, INF = float("nan"), float("inf")
RAMP = 6.0  # MW/min in the cases below: 0.1 MW/s


def restore(ceiling_mw, miners_mw, last_t_s=100.0, on=True, max_dt_s=INF):
    rs = record(new_restore(miners_mw), RESTORE_DTYPE)
    rs[RS_CEILING], rs[RS_LAST_T], rs[RS_MAX_DT] = ceiling_mw, last_t_s, max_dt_s
    rs[RS_ON], rs[RS_RAMP] = (1.0 if on else 0.0), RAMP / 60.0
    return rs


@pytest.mark.parametrize(
    ("case", "rs", "time_s", "ai_mw", "renew_mw", "expect_mw"),
    [
        # import 50 MW (AI 40 + miners 10); 60 s later the miners may add 60 s x 0.1 MW/s
        ("ramp limits wake-up", restore(50.0, 10.0), 160.0, 40.0, 0.0, 16.0),
        ("one tick of 1 s", restore(50.0, 10.0), 101.0, 40.0, 0.0, 10.1),
        # the AI falls 20 MW: the miners may fill in up to the import of before, at once
        ("fill-in after an AI drop", restore(50.0, 10.0), 101.0, 20.0, 0.0, 30.1),
        # the AI rises 20 MW: the ramp sheds nothing (the import limit decides that)
        ("AI rise keeps the last command", restore(50.0, 10.0), 101.0, 60.0, 0.0, 10.0),
        ("renewables lower the import", restore(50.0, 10.0), 101.0, 40.0, 5.0, 15.1),
        ("clock stepped back: no ramp", restore(50.0, 10.0), 40.0, 40.0, 0.0, 10.0),
        ("clock jump credits max_dt only", restore(50.0, 10.0, max_dt_s=3.0), 3700.0, 40.0,
         0.0, 10.3),
        ("unseeded: hold the last command", restore(NAN, 10.0), 160.0, 40.0, 0.0, 10.0),
        ("unknown last command: 0 MW", restore(50.0, NAN), 160.0, 40.0, 0.0, 0.0),
        ("unknown AI: hold the last command", restore(50.0, 10.0), 160.0, NAN, 0.0, 10.0),
        ("off when null", restore(50.0, 10.0, on=False), 101.0, 40.0, 0.0, INF),
    ],
)
def test_allowance_table(case, rs, time_s, ai_mw, renew_mw, expect_mw):
    assert restore_allowance_mw(rs, time_s, ai_mw, renew_mw) == pytest.approx(expect_mw), case


@pytest.mark.parametrize(
    ("hi_mw", "lo_mw", "allowance_mw", "expect_mw"),
    [
        (INF, 0.0, 16.0, 16.0),  # the ramp narrows an open band
        (12.0, 0.0, 16.0, 12.0),  # the import limit above is tighter: it stays
        (40.0, 20.0, 16.0, 20.0),  # a floor set above (an obligation) wins over the ramp
        (40.0, 0.0, INF, 40.0),  # off
    ],
)
def test_rule_table(hi_mw, lo_mw, allowance_mw, expect_mw):
    assert rule_restore_ramp(hi_mw, lo_mw, allowance_mw) == expect_mw


def test_commit_keeps_the_planned_import_and_leaves_an_off_ramp_alone():
    rs = restore(50.0, 10.0)
    restore_commit(rs, 101.0, 42.0, 2.0)  # shed to 2 MW: the ceiling falls with the import
    assert (rs[RS_CEILING], rs[RS_MINERS], rs[RS_LAST_T]) == (42.0, 2.0, 101.0)
    off = restore(50.0, 10.0, on=False)
    restore_commit(off, 101.0, 42.0, 2.0)
    assert (off[RS_CEILING], off[RS_MINERS], off[RS_LAST_T]) == (50.0, 10.0, 100.0)


# ---------------------------------------------------------------- step, tick by tick
# make_config: 1,000 S19j Pro (3,050 W) + 1,000 S21 (3,500 W) at PUE 1: 6.55 MW running
FLEET_MW = 6.55
STEP_MW = 0.0035  # the largest miner: whole miners may overshoot a tick's ramp by one
CHEAP, DEAR = 20.0, 500.0  # USD/MWh against breakevens of 68 and 119 (hashprice 50)


def snap(t, ai_mw=40.0, price=CHEAP):
    return Snapshot(time_s=float(t), price_usd_per_mwh=price, hashprice_usd_per_ph_day=50.0,
                    ai_load_mw=ai_mw)


def run_steps(cfg, state, snaps):
    out = [step(cfg, state, s) for s in snaps]
    imp = np.array([s.ai_load_mw + d.miner_power_mw for s, d in zip(snaps, out, strict=True)])
    return out, imp


def test_waking_a_sleeping_fleet_ramps_the_import():
    cfg = replace(make_config(), restore_ramp_mw_per_min=1.0)
    state = ControllerState.initial(cfg, 0.0, running=False)
    out, imp = run_steps(cfg, state, [snap(t) for t in range(1, 601)])
    # the import never rises above the ramp's line from where the wake-up started ...
    line = imp[0] + 1.0 / 60.0 * np.arange(len(imp))
    assert (imp <= line + 1e-9).all()
    # ... and, tick by tick, by at most the ramp plus one whole miner
    assert np.diff(imp).max() <= 1.0 / 60.0 + STEP_MW
    assert out[30].binding_rule == "restore_ramp"
    assert out[-1].miner_power_mw == pytest.approx(FLEET_MW)  # all awake after ~6.5 min
    woke = next(i for i, d in enumerate(out) if d.miner_power_mw == pytest.approx(FLEET_MW))
    # from sleep power to 6.55 MW at 1 MW/min, not at once
    wake_s = (FLEET_MW - float(cfg.groups.count @ cfg.groups.sleep_mw)) * 60.0
    assert wake_s - 3 <= woke <= wake_s + 3


def test_shedding_is_not_ramped():
    cfg = replace(make_config(min_on=0.0, min_off=0.0), restore_ramp_mw_per_min=1.0)
    state = ControllerState.initial(cfg, 0.0, running=True)
    step(cfg, state, snap(1))
    asleep = float(cfg.groups.count @ cfg.groups.sleep_mw)
    # a price spike: every miner to sleep in one tick
    assert step(cfg, state, snap(2, price=DEAR)).miner_power_mw == pytest.approx(asleep)
    # the AI jumps to the import limit: the miners shed in one tick as well
    state = ControllerState.initial(cfg, 0.0, running=True)
    step(cfg, state, snap(1))
    d = step(cfg, state, snap(2, ai_mw=99.0))
    assert d.binding_rule == "import_limit" and d.miner_power_mw <= 1.0 + 1e-9


def test_filling_in_for_an_ai_drop_is_not_ramped():
    # the import limit holds the miners at 100 - 96 = 4 MW; the AI drops 2 MW
    cfg = replace(make_config(min_on=0.0, min_off=0.0), restore_ramp_mw_per_min=1.0)
    state = ControllerState.initial(cfg, 0.0, running=True)
    before = step(cfg, state, snap(1, ai_mw=96.0))
    after = step(cfg, state, snap(2, ai_mw=94.0))
    assert after.miner_power_mw - before.miner_power_mw > 1.9  # not 1/60 MW
    assert 94.0 + after.miner_power_mw <= 100.0 + 1e-9
    assert after.binding_rule == "import_limit"


def test_off_when_null_wakes_at_once():
    cfg = replace(make_config(), restore_ramp_mw_per_min=None)
    state = ControllerState.initial(cfg, 0.0, running=False)
    out, _ = run_steps(cfg, state, [snap(t) for t in range(1, 3)])
    assert out[1].miner_power_mw == pytest.approx(FLEET_MW)


@pytest.mark.parametrize("ramp", [0.5, 6.0, 1e6])
def test_the_ramp_never_lifts_the_import_above_the_limit(ramp):
    rng = np.random.default_rng(7)
    cfg = replace(make_config(min_on=0.0, min_off=0.0), restore_ramp_mw_per_min=ramp)
    state = ControllerState.initial(cfg, 0.0, running=False)
    ai = 90.0 + 8.0 * rng.random(900)  # AI swings across the limit's room
    price = np.where(rng.random(900) < 0.1, DEAR, CHEAP)
    snaps = [snap(t + 1, a, p) for t, (a, p) in enumerate(zip(ai, price, strict=True))]
    _, imp = run_steps(cfg, state, snaps)
    assert imp.max() <= 100.0 + 1e-9
    # a rise beyond the ramp only ever comes from the AI itself
    excess = np.diff(imp) - ramp / 60.0 - STEP_MW
    assert (excess <= np.maximum(np.diff(ai), 0.0) + 1e-9).all()


def test_restore_from_meter_never_steps_up():
    cfg = replace(make_config(), restore_ramp_mw_per_min=RAMP)
    state = ControllerState.initial(cfg, 0.0)
    state.restore_from_meter(100.0, 45.0, 5.0)  # first reading: the ceiling is the meter
    assert state.restore[RS_CEILING] == 45.0 and state.restore[RS_MINERS] == 5.0
    state.restore_from_meter(110.0, 80.0, 40.0)  # a higher reading 10 s later: +1 MW only
    assert state.restore[RS_CEILING] == pytest.approx(46.0)
    state.restore_from_meter(120.0, 41.0, 1.0)  # the miners slept meanwhile: the meter wins
    assert state.restore[RS_CEILING] == 41.0
    state.restore_from_meter(130.0, NAN, 1.0)  # a bad reading seeds nothing
    assert state.restore[RS_LAST_T] == 120.0


# ------------------------------------------------------------- every resolution
def week_1min(ramp):
    from tests.conftest import BASE_SCENARIO

    doc = {**BASE_SCENARIO, "run": {**BASE_SCENARIO["run"], "end": "2024-05-08T00:00:00Z",
                                    "resolution": "1min"},
           "control": {"restore_ramp_mw_per_min": ramp}}
    return simulate(parse_scenario(doc))


def test_one_minute_backtest_ramps_the_restore_and_not_the_baseline():
    ramp = 5.0
    sim, free = week_1min(ramp), week_1min(None)
    f = sim.ballast.frame
    imp = f["import_mw"].to_numpy()
    net = (f["ai_load_mw"] - f["renewable_mw"]).to_numpy()  # import without miners
    step_mw = float(sim.config.groups.run_mw.max())  # one whole miner
    rise = np.diff(imp) - ramp - step_mw  # MW per 1-min interval beyond the ramp
    assert (rise <= np.maximum(np.diff(net), 0.0) + 1e-6).all()
    assert (f["binding_rule"] == "restore_ramp").any()  # the ramp did bind
    unramped = free.ballast.frame["import_mw"].to_numpy()
    assert (np.diff(unramped) - ramp > np.maximum(np.diff(net), 0.0) + 1e-6).any()
    pd.testing.assert_frame_equal(sim.baseline.frame, free.baseline.frame)  # all-on: no ramp


def test_one_second_plant_loop_ramps_the_metered_import():
    cfg = replace(make_config(min_on=0.0, min_off=0.0), restore_ramp_mw_per_min=3.0)
    minutes = 8
    price = np.r_[DEAR, np.full(minutes - 1, CHEAP)]  # asleep, then cheap: wake the fleet
    coarse = pd.DataFrame({"price_usd_per_mwh": price, "decision_price_usd_per_mwh": price,
                           "hashprice_usd_per_ph_day": 50.0, "renewable_mw": 0.0})
    ai = FineAi("flat", 1.0, 0.0, np.full(minutes, 40.0), 60)
    run = run_fine(cfg, coarse, ai, minutes * 60, [])
    imp = run.import_mw.astype("float64")
    assert imp[59] < 40.1  # asleep through the first minute
    assert imp[-1] == pytest.approx(40.0 + FLEET_MW, abs=0.01)  # awake at the end
    # the metered import followed the ramp (whole miners: within one of its line)
    assert np.diff(imp).max() <= 3.0 / 60.0 + STEP_MW + 1e-4
    woke = np.arange(len(imp)) >= 60
    line = imp[60] + 3.0 / 60.0 * (np.arange(len(imp)) - 60)
    assert (imp[woke] <= line[woke] + STEP_MW + 1e-4).all()
    assert imp[60 + 60] - imp[60] <= 3.0 + STEP_MW


def test_at_rest_under_the_import_limit_the_limit_is_reported_binding():
    # whole miners leave up to one miner of room under the limit; the ramp's bound may sit in
    # that room, but it changes nothing, so the import limit is what binds
    cfg = replace(make_config(min_on=0.0, min_off=0.0), restore_ramp_mw_per_min=1.0)
    state = ControllerState.initial(cfg, 0.0, running=True)
    out, imp = run_steps(cfg, state, [snap(t, ai_mw=96.0) for t in range(1, 61)])
    assert {d.binding_rule for d in out} == {"import_limit"}
    assert imp.max() <= 100.0 + 1e-9 and imp.min() >= 100.0 - STEP_MW
