"""``simulate --policy rolling``: the rule controller following the rolling day-ahead schedule
(``optimize.schedule``), below the import limit and the grid programs."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from ballast.backtest import simulate
from ballast.cli import app
from ballast.control.build import controller_config
from ballast.inputs import build_inputs
from ballast.optimize import OptimizeError
from ballast.optimize.forecast import dam_published_utc, known_price
from ballast.optimize.schedule import rolling_schedule_mw
from ballast.scenario import ScenarioError, parse_scenario
from ballast.sim.engine import simulate as engine_simulate
from tests.conftest import BASE_SCENARIO


def _scenario(end: str = "2024-05-05T00:00:00Z", import_limit_mw: float = 220.0, **extra):
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["run"]["end"] = end
    doc["site"]["import_limit_mw"] = import_limit_mw  # binds on calm, cheap hours
    doc.update(extra)
    return parse_scenario(doc)


@pytest.fixture(scope="module")
def four_days():
    """Four May days of the test campus (ERCOT 2024 real-time prices): the rules and the
    rolling policy on a perfect forecast, without the optimum (not needed here)."""
    scn = _scenario()
    rules = simulate(scn, optimum=False)
    rolling = simulate(scn, optimum=False, policy="rolling", forecast="perfect")
    return scn, rules, rolling


def test_rolling_on_a_perfect_forecast_earns_at_least_the_rules(four_days):
    _scn, rules, rolling = four_days
    ours = rolling.kpis.loc["net_margin_usd", "ballast"]
    theirs = rules.kpis.loc["net_margin_usd", "ballast"]
    assert np.isfinite(ours) and np.isfinite(theirs)
    # the schedule knows each interval's settled price; the rules decide on the last one, so
    # following it costs nothing beyond whole miners (tolerance: 0.05 % of the margin)
    assert ours >= theirs - 5e-4 * abs(theirs)
    # the baselines are the same runs: gain and regret compare across policies
    for col in ("baseline", "strike_price"):
        pd.testing.assert_series_equal(rolling.kpis[col], rules.kpis[col])
    assert rolling.baselines.gain_over_practice_usd >= rules.baselines.gain_over_practice_usd - 5e-4 * abs(
        theirs
    )


def test_rolling_never_breaks_the_import_limit_nor_exceeds_the_schedule(four_days):
    scn, _rules, rolling = four_days
    sim = rolling.simulation
    f = sim.ballast.frame
    assert f["import_mw"].max() <= scn.site.import_limit_mw + 1e-6
    assert (f["miner_mw"].to_numpy() <= sim.schedule_mw + 1e-6).all()
    rule = f["binding_rule"].astype(str)
    # the schedule bound somewhere, and the import limit still binds above it
    assert (rule == "schedule").any()
    assert (rule == "import_limit").any()
    limited = (rule == "import_limit").to_numpy()
    assert (f["miner_mw"].to_numpy()[limited] < sim.schedule_mw[limited] - 1e-6).all()


def test_results_say_which_policy_ran(four_days, tmp_path):
    _scn, rules, rolling = four_days
    page = rolling.report(tmp_path / "report.html").read_text(encoding="utf-8")
    assert "policy rolling (perfect forecast)" in page  # the header
    assert "Policy rolling (perfect forecast): the rule controller following" in page
    assert rules.to_json()["policy"] == "rules"
    doc = rolling.to_json()
    assert doc["policy"] == "rolling (perfect forecast)"
    assert any(n.startswith("policy rolling:") for n in doc["notes"])
    assert json.dumps(doc)  # a JSON document


def test_dam_schedule_never_sees_real_time_prices():
    scn = _scenario()
    inputs = build_inputs(scn, scn.base_dir)
    config = controller_config(scn, scn.run.step.total_seconds())
    dam = rolling_schedule_mw(scn, inputs, config, "dam")
    perfect = rolling_schedule_mw(scn, inputs, config, "perfect")
    # alter every real-time price after the first day, far beyond the breakevens both ways
    f = inputs.frame.copy()
    later = f.index >= pd.Timestamp("2024-05-02T00:00Z")
    for col in ("price_usd_per_mwh", "decision_price_usd_per_mwh"):
        f.loc[later, col] = np.where(np.arange(later.sum()) % 2, 900.0, -50.0)
    changed = type(inputs)(**{**vars(inputs), "frame": f})
    np.testing.assert_array_equal(rolling_schedule_mw(scn, changed, config, "dam"), dam)
    # the perfect forecast does follow them (so the assertion above could fail)
    assert not np.allclose(rolling_schedule_mw(scn, changed, config, "perfect")[later], perfect[later])


def test_persistence_schedule_uses_only_settled_prices():
    scn = _scenario()
    inputs = build_inputs(scn, scn.base_dir)
    config = controller_config(scn, scn.run.step.total_seconds())
    before = rolling_schedule_mw(scn, inputs, config, "persistence")
    cut = pd.Timestamp("2024-05-03T00:00Z")  # a window starts here; alter every price from it on
    f = inputs.frame.copy()
    later = f.index >= cut
    for col in ("price_usd_per_mwh", "decision_price_usd_per_mwh"):
        f.loc[later, col] = np.where(np.arange(later.sum()) % 2, 900.0, -50.0)
    after = rolling_schedule_mw(scn, type(inputs)(**{**vars(inputs), "frame": f}), config, "persistence")
    # the window solved at the cut sees only the day before it, unchanged: nothing before the
    # cut's next day moves; the window solved a day later sees the new prices
    day = pd.Timedelta("1D")
    unseen = f.index < cut + day
    np.testing.assert_array_equal(after[unseen], before[unseen])
    nxt = (f.index >= cut + day) & (f.index < cut + 2 * day)
    assert not np.allclose(after[nxt], before[nxt])


def test_dam_publication_is_1330_central_the_day_before():
    # ERCOT posts the DAM at 13:30 Central the day before the operating day
    stamps = pd.DatetimeIndex(
        ["2024-05-02T05:00Z", "2024-05-02T04:00Z", "2024-01-10T06:00Z", "2024-01-10T05:45Z"]
    )
    expected = pd.DatetimeIndex(
        [
            "2024-05-01T18:30Z",  # 00:00 CDT on 2 May: posted 1 May 13:30 CDT (UTC-5)
            "2024-04-30T18:30Z",  # 23:00 CDT on 1 May: posted 30 April
            "2024-01-09T19:30Z",  # 00:00 CST on 10 January: posted 9 January 13:30 CST (UTC-6)
            "2024-01-08T19:30Z",  # 23:45 CST on 9 January: posted 8 January
        ]
    )
    pd.testing.assert_index_equal(dam_published_utc(stamps), expected)


def test_unpublished_hours_repeat_the_latest_known_day():
    # lag 2 intervals; the series holds 2 intervals before the run (-2, -1), then 0..5
    ahead = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    # known before interval 3: 1, 2 as they are; 3 -> 1, 4 -> 2, 5 -> 1 (two days back)
    np.testing.assert_array_equal(known_price(ahead, 3, 2, 1, 6), [1.0, 2.0, 1.0, 2.0, 1.0])
    # nothing of the run known yet (persistence at the run's start): the day before it
    np.testing.assert_array_equal(known_price(ahead, 0, 2, 0, 4), [-2.0, -1.0, -2.0, -1.0])


def test_rolling_with_programs_keeps_obligations_first():
    # an EEA window: the program takes every miner off, the schedule cannot raise that cap
    scn = _scenario(
        end="2024-05-03T00:00:00Z",
        programs={
            "emergency": {
                "windows": [{"start": "2024-05-01T18:00:00Z", "end": "2024-05-01T20:00:00Z"}],
            }
        },
    )
    r = simulate(scn, optimum=False, policy="rolling", forecast="perfect")
    sim = r.simulation
    f = sim.ballast.frame
    window = (f.index >= "2024-05-01T18:00Z") & (f.index < "2024-05-01T20:00Z")
    asleep = sim.programs.sleep_floor_mw  # a cap below it leaves every miner asleep
    np.testing.assert_allclose(f.loc[window, "miner_mw"], asleep)
    followed = np.maximum(sim.schedule_mw, sim.programs.floor_mw)
    cap = np.maximum(np.minimum(sim.programs.cap_mw, followed), asleep)
    assert (f["miner_mw"].to_numpy() <= cap + 1e-6).all()
    assert set(f.loc[window, "binding_rule"].astype(str)) <= {"obligation_cap", "import_limit"}
    # the programs' own comparison run follows the same schedule
    assert (sim.no_programs.frame["miner_mw"].to_numpy() <= sim.schedule_mw + 1e-6).all()


def test_a_schedule_never_cuts_below_a_program_floor():
    # RRS sold from running miners needs them running (the plan's floor); a schedule of all
    # miners off (handed to the engine directly) must not take them below it
    rrs = {"responsive_reserve": {"offer_mw": 30, "price_usd_per_mw_h": 5.0}}
    scn = _scenario(end="2024-05-03T00:00:00Z", programs=rrs)
    sim = engine_simulate(scn, policy="all off", schedule=lambda _s, inputs, _c: np.zeros(len(inputs.index)))
    f = sim.ballast.frame
    floor = sim.programs.floor_mw
    held = floor > sim.programs.sleep_floor_mw
    assert held.any()
    miner = f["miner_mw"].to_numpy()
    safe = (f["binding_rule"].astype(str) != "import_limit").to_numpy()
    g = sim.config.groups
    one_miner_mw = float((g.run_mw - g.sleep_mw).max())  # the merit order floors to whole miners
    assert (miner[held & safe] >= floor[held & safe] - one_miner_mw).all()
    # elsewhere the schedule holds every miner asleep
    np.testing.assert_allclose(miner[floor == 0], sim.programs.sleep_floor_mw)


def test_bad_policy_or_forecast_fails_by_name():
    scn = _scenario(end="2024-05-02T00:00:00Z")
    with pytest.raises(OptimizeError, match="policy 'greedy': expected one of rules, rolling"):
        simulate(scn, optimum=False, policy="greedy")
    with pytest.raises(OptimizeError, match="forecast 'dam': a price forecast needs --policy rolling"):
        simulate(scn, optimum=False, forecast="dam")
    # the fine engine (1 s and finer) has no schedule: refused, not silently run as the rules
    with pytest.raises(ScenarioError, match="a schedule is followed at 1 min or coarser"):
        simulate(scn, resolution="1s", end="2024-05-01T00:10:00Z", optimum=False, policy="rolling")


runner = CliRunner()


def test_cli_policy_rolling_and_a_bad_forecast(tmp_path):
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["run"]["end"] = "2024-05-03T00:00:00Z"
    path = tmp_path / "campus.yaml"
    path.write_text(yaml.safe_dump(doc))
    ok = runner.invoke(
        app, ["simulate", str(path), "--policy", "rolling", "--forecast", "dam", "--no-optimum", "--json"]
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["policy"] == "rolling (dam forecast)"
    table = runner.invoke(app, ["simulate", str(path), "--policy", "rolling", "--no-optimum"])
    assert table.exit_code == 0, table.output
    assert "policy rolling (perfect forecast)" in " ".join(table.stdout.split())
    bad = runner.invoke(app, ["simulate", str(path), "--policy", "rolling", "--forecast", "oracle"])
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == [
        "error: --forecast 'oracle': expected one of perfect, dam, persistence"
    ]
    bad = runner.invoke(app, ["simulate", str(path), "--policy", "greedy"])
    assert bad.exit_code == 2 and "--policy 'greedy': expected one of rules, rolling" in bad.output
