"""Small dispatch problems whose optimum is worked out by hand in each test's comment, solved
by HiGHS through ``ballast.optimize.model``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ballast.optimize.model import (
    BatteryParams,
    DispatchProblem,
    InfeasibleError,
    SolverError,
    solve,
)


def problem(
    prices,
    ai_mw,
    *,
    counts=(),
    run_mw=(),
    value_usd=None,
    renewable_mw=None,
    import_limit_mw=5.0,
    export_limit_mw=0.0,
    battery=None,
    reserves=None,
    peak_charge=None,
) -> DispatchProblem:
    """Hourly intervals from 2024-01-01 UTC; energy priced as ``sim.kpis`` prices it with an
    export share of 1 (1 MW for 1 h costs the price)."""
    n = len(prices)
    price = np.asarray(prices, dtype="float64")
    ng = len(counts)
    return DispatchProblem(
        index=pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC"),
        step_h=1.0,
        ai_load_mw=np.asarray(ai_mw, dtype="float64"),
        renewable_mw=np.zeros(n) if renewable_mw is None else np.asarray(renewable_mw, float),
        value_usd_per_miner=np.zeros((n, ng))
        if value_usd is None
        else np.asarray(value_usd, dtype="float64").reshape(n, ng),
        import_cost_usd_per_mw=price,
        export_cost_usd_per_mw=-price,
        count=np.asarray(counts, dtype="float64"),
        run_mw=np.asarray(run_mw, dtype="float64"),
        sleep_mw=np.zeros(ng),
        import_limit_mw=import_limit_mw,
        export_limit_mw=export_limit_mw,
        battery=battery,
        reserves=reserves,
        peak_charge=peak_charge,
    )


def test_one_negative_price_hour():
    # 10 miners of 0.1 MW, each earning 5 USD per hour; AI 1 MW.
    # Hour 0 at 100 USD/MWh: a miner costs 0.1 x 100 = 10 > 5, all asleep; import 1 MW, -100.
    # Hour 1 at -50 USD/MWh: a miner is paid 5 + 0.1 x 50 = 10, all run; import 2 MW earns 100
    # and the miners 50. Optimum = -100 + 100 + 50 = 50 USD.
    p = problem([100.0, -50.0], [1.0, 1.0], counts=[10], run_mw=[0.1], value_usd=[[5.0], [5.0]])
    s = solve(p)
    assert s.objective_usd == pytest.approx(50.0, abs=1e-6)
    np.testing.assert_allclose(s.running[:, 0], [0.0, 10.0], atol=1e-6)
    np.testing.assert_allclose(s.import_mw, [1.0, 2.0], atol=1e-6)


def test_negative_price_curtails_own_renewables():
    # AI 1 MW, 0.5 MW of wind, price -40 USD/MWh, one hour, no miners, export allowed.
    # Importing is paid, exporting would cost: the wind is curtailed, the site imports 1 MW and
    # earns 40 USD (keeping the wind would import 0.5 MW and earn only 20).
    p = problem([-40.0], [1.0], renewable_mw=[0.5], export_limit_mw=10.0)
    s = solve(p)
    assert s.objective_usd == pytest.approx(40.0, abs=1e-6)
    assert s.curtailed_mw[0] == pytest.approx(0.5, abs=1e-6)
    assert s.import_mw[0] == pytest.approx(1.0, abs=1e-6)


def test_battery_cycles_between_two_prices():
    # Battery 1 MW / 1 MWh, one-way efficiency 0.9, empty at the start; no load; export up to
    # 10 MW paid the full price. Hour 0 at 10 USD/MWh: charge 1 MW (cost 10), stores 0.9 MWh.
    # Hour 1 at 100 USD/MWh: the 0.9 MWh deliver 0.9 x 0.9 = 0.81 MW, exported for 81.
    # Optimum = 81 - 10 = 71 USD; it ends empty, as it started.
    b = BatteryParams(power_mw=1.0, energy_mwh=1.0, efficiency=0.9, initial_soc_mwh=0.0)
    p = problem([10.0, 100.0], [0.0, 0.0], export_limit_mw=10.0, battery=b)
    s = solve(p)
    assert s.objective_usd == pytest.approx(71.0, abs=1e-6)
    np.testing.assert_allclose(s.battery_mw, [-1.0, 0.81], atol=1e-6)  # discharge positive
    np.testing.assert_allclose(s.soc_mwh, [0.9, 0.0], atol=1e-6)
    np.testing.assert_allclose(s.import_mw, [1.0, -0.81], atol=1e-6)


def test_battery_must_end_at_its_initial_charge():
    # The same battery starting half full (0.5 MWh) over one hour at 100 USD/MWh: without the
    # end condition it would sell 0.45 MW; with it, it must stay at 0.5 MWh: optimum 0.
    b = BatteryParams(power_mw=1.0, energy_mwh=1.0, efficiency=0.9, initial_soc_mwh=0.5)
    s = solve(problem([100.0], [0.0], export_limit_mw=10.0, battery=b))
    assert s.objective_usd == pytest.approx(0.0, abs=1e-6)
    assert s.soc_mwh[-1] >= 0.5 - 1e-9


def test_import_limit_binds():
    # AI 4 MW under a 5 MW limit; 20 miners of 0.1 MW each earning 20 USD per hour.
    # Hour 0 at 50 USD/MWh: a miner costs 5 < 20, all would run (2 MW) but only 1 MW is left:
    # 10 miners; -5 x 50 + 10 x 20 = -50. Hour 1 at 250 USD/MWh: a miner costs 25 > 20, none
    # run; -4 x 250 = -1000. Optimum = -1050 USD.
    p = problem([50.0, 250.0], [4.0, 4.0], counts=[20], run_mw=[0.1], value_usd=[[20.0], [20.0]])
    s = solve(p)
    assert s.objective_usd == pytest.approx(-1050.0, abs=1e-6)
    np.testing.assert_allclose(s.running[:, 0], [10.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(s.import_mw, [5.0, 4.0], atol=1e-6)


def test_ai_load_above_the_limit_names_the_interval():
    # interval 1 (01:00 UTC) needs 6 MW under a 5 MW limit
    p = problem([10.0, 10.0, 10.0], [4.0, 6.0, 4.0])
    with pytest.raises(
        InfeasibleError,
        match=r"interval 1 \(2024-01-01T01:00:00\+00:00\).*"
        r"import limit 5\.000 MW",
    ):
        solve(p)


def test_battery_runs_empty_names_the_interval():
    # Limit 5 MW, AI 4, 6, 6 MW; battery 1 MW / 1 MWh, lossless, half full. Hour 0 it can
    # charge to full (1 MWh); hour 1 it covers 1 MW (empty); hour 2 nothing is left.
    b = BatteryParams(power_mw=1.0, energy_mwh=1.0, efficiency=1.0, initial_soc_mwh=0.5)
    with pytest.raises(InfeasibleError, match=r"interval 2 .*battery is empty"):
        solve(problem([10.0] * 3, [4.0, 6.0, 6.0], battery=b))
    # two hours: feasible on the way, but it cannot end half full again
    with pytest.raises(InfeasibleError, match=r"interval 1 .*initial state of charge"):
        solve(problem([10.0] * 2, [4.0, 6.0], battery=b))
    # and with room to recharge afterwards the same site is feasible (the check is not too strict)
    s = solve(problem([10.0] * 3, [4.0, 6.0, 4.0], battery=b))
    assert s.soc_mwh[-1] >= 0.5 - 1e-9


def test_time_limit_is_reported_not_printed_as_an_optimum():
    rng = np.random.default_rng(0)
    n = 2000
    b = BatteryParams(power_mw=10.0, energy_mwh=40.0, efficiency=0.93, initial_soc_mwh=20.0)
    p = problem(
        rng.normal(40, 30, n),
        np.full(n, 50.0),
        counts=[1000, 1000],
        run_mw=[0.01, 0.02],
        value_usd=rng.uniform(0.1, 1.0, (n, 2)),
        import_limit_mw=70.0,
        export_limit_mw=20.0,
        battery=b,
    )
    with pytest.raises(SolverError, match=r"without a proven optimum.*[Tt]ime limit"):
        solve(p, time_limit_s=1e-9)
