"""Smoothing in the controller: a sized reserve keeps a job crash within the ramp spec; the
interconnect limit holds whatever the AI does (property); the live ``step`` API is the same code."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ballast.control import ControllerConfig, ControllerState, Snapshot, step
from ballast.control.build import controller_config, dynamics_of, smoothing_config
from ballast.control.smoothing import reserve_fill_mw
from ballast.sim.compliance import window_ramp_mw_per_s
from ballast.sim.fine import fine_setup, run_fine
from tests.smoothing_helpers import scenario

CRASH_AT_S = 1200.0


def crash_run(enabled: bool, drop_share: float = 0.8, ramp_mw_per_s: float = 1.0):
    """A 100 MW job (no swings) crashes once to idle and restarts 15 min later; 100 MW of
    miners; spec ``ramp_mw_per_s`` over 60 s."""
    scn = scenario(ai__it_load_mw=100, ai__pue=1.0,
                   ai__training={"swing_amplitude_share": 0, "checkpoint_every_s": 0,
                                 "crashes_per_day": 0, "idle_share": 1 - drop_share,
                                 "restart_s": 900, "start_ramp_s": 30},
                   miners=[{"name": "s21", "model": "Antminer S21", "count": 27_200}],
                   site__import_limit_mw=260,
                   smoothing={"ramp_up_mw_per_s": ramp_mw_per_s,
                              "ramp_down_mw_per_s": ramp_mw_per_s, "ramp_window_s": 60,
                              "enabled": enabled})
    setup = fine_setup(scn)
    ai = setup.ai()
    ai = replace(ai, crashes_s=np.array([setup.t0_s + CRASH_AT_S]))
    cfg = replace(ControllerConfig.from_scenario(scn, economic_dispatch=False),
                  smoothing=smoothing_config(scn, ai, setup.dt_s))
    return run_fine(cfg, setup.coarse.frame, ai, setup.n_ticks, dynamics_of(scn)), cfg


def test_job_crash_stays_within_the_ramp_limit_with_the_sized_reserve():
    run, cfg = crash_run(True)
    sm = cfg.smoothing
    # the controller sized the up reserve from the AI risk and the miners' wake delay
    expected = reserve_fill_mw(80.0, 1.0, 60.0, sm.step_share, sm.fill_delay_s, 1.0)
    assert expected == pytest.approx((80 - 0.8 * 1.0 * 60) / (1 - 6 / 60))  # defaults
    held = run.reserve_mw[int(CRASH_AT_S) - 60:int(CRASH_AT_S) - 1, 0]
    assert held.mean() == pytest.approx(expected, rel=0.01)
    ramp = window_ramp_mw_per_s(run.import_mw, 1.0, 60.0)
    assert np.abs(ramp).max() <= 1.0 + 1e-6
    assert run.import_mw.max() <= cfg.import_limit_mw + 1e-6


def test_without_smoothing_the_same_crash_breaks_the_ramp_limit():
    run, _ = crash_run(False)
    ramp = window_ramp_mw_per_s(run.import_mw, 1.0, 60.0)
    assert np.abs(ramp).max() > 80 / 60 - 1e-3  # the whole drop inside one window


def test_miners_cannot_undo_the_first_seconds_of_a_crash():
    run, _ = crash_run(True)
    i = int(CRASH_AT_S)
    assert run.import_mw[i - 1] - run.import_mw[i] == pytest.approx(80.0, abs=0.5)


finite = {"allow_nan": False, "allow_infinity": False}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    it_mw=st.floats(10, 200, **finite),
    amp=st.floats(0, 0.9, **finite),
    period_s=st.sampled_from([2.0, 4.0, 7.0, 20.0]),
    idle=st.floats(0, 0.6, **finite),
    counts=st.lists(st.integers(100, 30_000), min_size=1, max_size=3),
    headroom_mw=st.floats(0, 150, **finite),
    latency_s=st.floats(0, 5, **finite),
    sleep_s=st.floats(1, 20, **finite),
    enabled=st.booleans(),
    battery=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_smoothing_never_breaks_the_interconnect_limit(it_mw, amp, period_s, idle, counts,
                                                      headroom_mw, latency_s, sleep_s, enabled,
                                                      battery, seed):
    models = ["Antminer S19 XP", "Antminer S21", "Antminer S21 XP"]
    miners = [{"name": f"g{i}", "model": models[i], "count": c,
               "dynamics": {"latency_s": latency_s, "sleep_s": sleep_s}}
              for i, c in enumerate(counts)]
    sleep_mw = sum(c * 25e-6 for c in counts)
    limit = it_mw + sleep_mw + headroom_mw + 0.1  # the AI alone always fits
    doc = {"ai__it_load_mw": it_mw, "ai__pue": 1.0,
           "ai__training": {"swing_amplitude_share": amp, "swing_period_s": period_s,
                            "idle_share": idle, "checkpoint_every_s": 300, "checkpoint_s": 40,
                            "crashes_per_day": 150, "restart_s": 120, "start_ramp_s": 10},
           "miners": miners, "site__import_limit_mw": limit,
           "smoothing": {"ramp_up_mw_per_s": 0.5, "ramp_down_mw_per_s": 0.5,
                         "enabled": enabled},
           "run__end": "2024-07-01T00:20:00Z", "run__seed": seed}
    if battery:
        doc["battery"] = {"power_mw": 10, "energy_mwh": 2}
    scn = scenario(**doc)
    setup = fine_setup(scn)
    ai = setup.ai()
    cfg = replace(ControllerConfig.from_scenario(scn),
                  smoothing=smoothing_config(scn, ai, setup.dt_s, battery=scn.battery))
    run = run_fine(cfg, setup.coarse.frame, ai, setup.n_ticks, dynamics_of(scn),
                   battery=scn.battery)
    assert run.import_mw.max() <= limit + 1e-4


def test_live_step_uses_the_same_smoothing_and_reports_reserves():
    scn = scenario()
    setup = fine_setup(scn)
    ai = setup.ai()
    cfg = replace(ControllerConfig.from_scenario(scn),
                  smoothing=smoothing_config(scn, ai, setup.dt_s))
    assert controller_config(scn, setup.dt_s).smoothing == cfg.smoothing  # what live builds
    state = ControllerState.initial(cfg, setup.t0_s)
    x, _ = ai.chunk(0, 120)
    decisions = [step(cfg, state, Snapshot(time_s=setup.t0_s + t, price_usd_per_mwh=20.0,
                                           hashprice_usd_per_ph_day=50.0, ai_load_mw=float(v)))
                 for t, v in enumerate(x)]
    last = decisions[-1]
    assert last.reserve_up_mw > 0 and last.binding_rule in ("reserve_up", "smoothing")
    assert np.isfinite(last.plan_import_mw)
    assert last.miner_power_mw <= cfg.groups.full_power_mw.sum() - last.reserve_up_mw + 1e-6
    # the default config (no smoothing) keeps the old behaviour: no reserve, economics
    plain = ControllerConfig.from_scenario(scn)
    d = step(plain, ControllerState.initial(plain, 0.0),
             Snapshot(time_s=0.0, price_usd_per_mwh=20.0, hashprice_usd_per_ph_day=50.0,
                      ai_load_mw=150.0))
    assert d.reserve_up_mw == 0 and d.binding_rule == "economics"


def test_coarse_recording_keeps_block_means_and_the_tick_series():
    scn = scenario(run__end="2024-07-01T00:10:00Z")
    setup = fine_setup(scn)
    ai = setup.ai()
    cfg = replace(ControllerConfig.from_scenario(scn),
                  smoothing=smoothing_config(scn, ai, setup.dt_s))
    fine = run_fine(cfg, setup.coarse.frame, ai, setup.n_ticks, dynamics_of(scn))
    coarse = run_fine(cfg, setup.coarse.frame, ai, setup.n_ticks, dynamics_of(scn),
                      record_every=7, keep_ticks=False, chunk=50)
    assert np.array_equal(fine.import_mw, coarse.import_mw)  # chunking changes nothing
    n = setup.n_ticks
    blocks = [fine.group_power_mw[i:i + 7].mean(axis=0) for i in range(0, n, 7)]
    assert np.allclose(coarse.group_power_mw, np.array(blocks))  # incl. the partial last block
