"""Limits of miner balancing: the capability map on the fine engine, the quotable sentence and
the interconnection-level MW of AI oscillation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ballast.cli import app
from ballast.control import ControllerConfig
from ballast.examples import examples_dir
from ballast.inputs import SiteInputs
from ballast.scenario import load_scenario
from ballast.sim.engine import RunSeries
from ballast.sim.fine import fine_setup
from ballast.sim.kpis import interval_money, mining_revenue_usd
from ballast.sim.smoothing import run_case, to_run_series
from ballast.studies.balancing import (
    BalancingMap,
    _map_scenario,
    amplitude_at,
    balancing_map,
    mining_margin_usd,
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
    assert (small_map.mining_margin_lost_usd > 0).all()
    sentence = small_map.sentence()
    assert "slower than 900 s" in sentence and "faster than 4 s it needs a battery" in sentence


def test_slow_swing_loses_less_margin_per_mwh_swung(small_map):
    # same 10 MW amplitude: the 900 s swing is removed (residual < 0.1) for less margin than the
    # 4 s swing costs while removing nothing; per MWh swung (mean |AI - mean| x 1 h = 2A/pi MWh)
    swung_mwh = 2 * 10.0 / np.pi * 1.0
    fast_usd, slow_usd = small_map.mining_margin_lost_usd[:, 0] / swung_mwh
    assert 0 < slow_usd < fast_usd
    # the slow swing's cost is the headroom held, not the swing: per MWh of mining energy lost
    # it is at most what one MWh of the campus's best miners earns over the same hour
    scn = _map_scenario(load_scenario(EXAMPLES / "training_campus.yaml"), 1.0, flat=True)
    setup, cfg = fine_setup(scn, EXAMPLES), ControllerConfig.from_scenario(scn)
    n = len(setup.coarse.index)
    per_miner_usd = mining_revenue_usd(np.ones((n, len(cfg.groups.names))), setup.coarse, cfg)
    best_usd_per_mwh = (per_miner_usd.sum(axis=0) / cfg.groups.run_mw).max()  # 1 h, 1 MW
    lost_mwh = small_map.mining_energy_lost[1, 0] * small_map.fleet_mw * 1.0
    assert 0 < small_map.mining_margin_lost_usd[1, 0] / lost_mwh < best_usd_per_mwh


def test_mining_margin_worked_by_hand():
    cfg = ControllerConfig.from_scenario(load_scenario(EXAMPLES / "training_campus.yaml"))
    ng = len(cfg.groups.names)
    idx = pd.date_range("2024-07-01", periods=2, freq="1min", tz="UTC")
    inputs = SiteInputs(pd.DataFrame({"price_usd_per_mwh": [30.0, 60.0],
                                      "btc_per_th_day": [5e-7, 5e-7],
                                      "btc_price_usd": [60_000.0, 60_000.0]}, index=idx), ())
    ticks = pd.date_range("2024-07-01", periods=4, freq="30s", tz="UTC")
    running = np.zeros((4, ng))
    running[:, 0] = [100, 200, 300, 300]  # group 0 only
    imp = np.array([10.0, 10.0, 20.0, -4.0])  # the last tick exports
    run = RunSeries("x", pd.DataFrame({"import_mw": imp}, index=ticks),
                    pd.DataFrame(running, index=ticks, columns=list(cfg.groups.names)),
                    pd.DataFrame(np.zeros((4, ng)), index=ticks, columns=list(cfg.groups.names)))
    th, fee = cfg.groups.hashrate_th_s[0], cfg.groups.pool_fee_share[0]
    # 1 min = 1/1440 day: minute 1 has 150 miners on average, minute 2 has 300
    btc = (150 + 300) * th * 5e-7 / 1440 * (1 - fee)
    revenue = btc * 60_000.0
    # 30 s = 1/120 h; exports are paid at export_price_share = 0.5 of the price
    cost = (10 * 30 + 10 * 30 + 20 * 60 - 4 * 0.5 * 60) / 120
    assert mining_margin_usd(run, inputs, cfg, 0.5) == pytest.approx(revenue - cost, rel=1e-12)


def test_mining_margin_equals_the_backtest_kpis():
    # the tick-level margin of a real fine run equals the backtest's own money (interval_money)
    # on the run's minute means (export paid at the full price, so the means are exact)
    scn = _map_scenario(load_scenario(EXAMPLES / "training_campus.yaml"), 0.25, flat=True)
    assert scn.markets.export_price_share == 1.0
    setup = fine_setup(scn, EXAMPLES)
    case = run_case(setup, "miners", True, False, False)
    ticks = to_run_series(case, setup)
    minute = RunSeries("m", ticks.frame[["import_mw"]].resample("1min").mean(),
                       ticks.group_running.resample("1min").mean(),
                       ticks.group_power_mw.resample("1min").mean())
    money = interval_money(minute, setup.coarse, case.config, scn)
    expected = money["mining_revenue_usd"].sum() - money["energy_cost_usd"].sum()
    got = mining_margin_usd(ticks, setup.coarse, case.config, 1.0)
    assert got == pytest.approx(expected, rel=1e-9)
    assert money["mining_revenue_usd"].sum() > 0


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
                        residual=np.array([[0.5, 0.5]]), mining_energy_lost=np.zeros((1, 2)),
                        mining_margin_lost_usd=np.zeros((1, 2)))
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
    assert all(np.isfinite(c["mining_margin_lost_usd"]) for c in doc["cells"])
    assert "mining_margin_lost_usd" in (tmp_path / "balancing.csv").read_text().splitlines()[0]
    assert "Mining margin lost to balancing [USD per 0.25 h]" in (
        tmp_path / "balancing.html").read_text()
    assert len(doc["system"]["rows"]) == 10
    assert "<script src=" not in (tmp_path / "balancing.html").read_text()
