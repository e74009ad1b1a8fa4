"""Plan over a site's life (the bundled conversion_500mw: 15 years, 4 strategies, 3 price
cases): the deterministic plan (goal <= 1 s after warm-up) and 1,000 seeded BTC price paths
(goal <= 10 s); the conversion optimiser on 500 MW in 25 MW blocks, 10 years, 200 scenarios
(goal <= 10 s to optimality), expected NPV and CVaR, with the MILP's size and gap. One JSON line
each; wall and CPU time (the machine may be shared)."""

from __future__ import annotations

import time

from bench_programs import best_of, emit  # benchmarks/ is on sys.path when run as a script

from ballast.plan import load_plan, parse_plan, run_plan
from ballast.plan.bitcoin_future import price_case_usd
from ballast.plan.model import bitcoin_years, gbm_parameters
from ballast.plan.optimizer import optimize_conversion

# conversion_500mw over 10 years (10-year leases) with the optimiser on: a capex budget of
# 1 bn USD a year and a market taking 80 MW of IT a year (assumptions, to make them bind); the
# conversion is sold at book value at the end (salvage 1), so converting late is not penalised
# by the horizon alone.
OPTIMIZER_CASE = {
    "horizon_years": 10,
    "discount_rate": 0.10,
    "hosting": {"term_years": 10, "capex_usd_per_mw": 8e6, "salvage_fraction_of_book_value": 1.0},
    "optimize": {
        "block_mw": 25,
        "scenarios": 200,
        "capex_budget_usd_per_yr": 1e9,
        "tenant_demand_mw_it_per_yr": 80,
        "ballast_uptime": 0.3,
        "ballast_value_usd_per_mw_yr": 20000,
    },
}


def optimizer_bench() -> None:
    doc = load_plan("conversion_500mw").model_dump()
    for key, value in OPTIMIZER_CASE.items():
        doc[key] = {**doc[key], **value} if isinstance(doc.get(key), dict) else value
    cases = (
        ("500mw_25mw_blocks_10y_200_scenarios_expected_npv", "expected_npv", 25, 200),
        ("500mw_25mw_blocks_10y_200_scenarios_cvar", "cvar", 25, 200),
        ("500mw_10mw_blocks_10y_1000_scenarios_cvar", "cvar", 10, 1000),  # beyond the goal's case
    )
    for name, objective, block_mw, scenarios in cases:
        doc["optimize"].update(objective=objective, block_mw=block_mw, scenarios=scenarios)
        plan = parse_plan(doc, "bench")
        gbm = gbm_parameters(plan)
        flat = bitcoin_years(plan, price_case_usd(plan.bitcoin.start_price_usd, 0.0, plan.horizon_years))
        t0, c0 = time.perf_counter(), time.process_time()
        opt = optimize_conversion(plan, gbm, flat)  # coefficients, the MILP, the deterministic plan
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        sol = opt.solution
        tag = f"plan_optimizer_{name}"
        emit(f"{tag}_total_wall", wall, "s")
        emit(f"{tag}_total_cpu", cpu, "s")
        emit(f"{tag}_milp_solve_wall", sol.solve_s, "s")
        emit(f"{tag}_rows", sol.rows, "-")
        emit(f"{tag}_columns", sol.columns, "-")
        emit(f"{tag}_integer_columns", sol.integer_columns, "-")
        emit(f"{tag}_nonzeros", sol.nonzeros, "-")
        emit(f"{tag}_mip_gap", sol.mip_gap, "-")
        emit(f"{tag}_nodes", sol.nodes, "-")
        emit(f"{tag}_objective_musd", sol.objective_usd / 1e6, "M USD")
        emit(f"{tag}_converted_mw", float(sol.convert_blocks.sum() * plan.optimize.block_mw), "MW")


def main() -> None:
    plan = load_plan("conversion_500mw")
    run_plan(plan, n_paths=10)  # warm-up (imports, parquet reader of the calibration history)
    # the four strategies of the document, without its optimiser (timed below)
    emit(
        "plan_deterministic_15y_4_strategies_3_cases",
        best_of(lambda: run_plan(plan, paths=False, optimize=False)),
        "s",
    )
    t0 = time.perf_counter()
    result = run_plan(plan, n_paths=1000, seed=2025, optimize=False)
    emit("plan_stochastic_1000_paths_15y_4_strategies", time.perf_counter() - t0, "s")
    emit(
        "plan_10000_paths_15y_4_strategies",
        best_of(lambda: run_plan(plan, n_paths=10_000, seed=2025, optimize=False), 1),
        "s",
    )
    t0, c0 = time.perf_counter(), time.process_time()
    run_plan(plan, n_paths=1000, seed=2025)
    emit("plan_bundled_with_optimizer_1000_paths_wall", time.perf_counter() - t0, "s")
    emit("plan_bundled_with_optimizer_1000_paths_cpu", time.process_time() - c0, "s")
    for r in result.strategies:  # the figures, for the closing note
        name = r.strategy.name
        emit(f"plan_npv_flat_case_musd.{name}", r.metrics["flat"]["npv_usd"] / 1e6, "M USD")
        emit(f"plan_delta_npv_p50_musd.{name}", r.risk["delta_npv_usd"]["p50"] / 1e6, "M USD")
        emit(f"plan_prob_npv_negative.{name}", r.risk["prob_npv_negative"], "-")
    optimizer_bench()
    operations_bench()
    dask_bench()


def operations_bench() -> None:
    """hybrid_west_texas with operations: the first run backtests each configuration over
    west_texas_2024 (1 h), the second finds them cached."""
    plan = load_plan("hybrid_west_texas")
    for tag in ("cold", "warm"):
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_plan(plan, n_paths=1000)
        emit(f"plan_hybrid_west_texas_operations_{tag}_wall", time.perf_counter() - t0, "s")
        emit(f"plan_hybrid_west_texas_operations_{tag}_cpu", time.process_time() - c0, "s")
    for r in result.strategies:
        emit(
            f"plan_hybrid_west_texas_npv_flat_case_musd.{r.strategy.name}",
            r.metrics["flat"]["npv_usd"] / 1e6,
            "M USD",
        )


def dask_bench(workers: int = 2, n_paths: int = 10_000) -> None:
    """conversion_500mw's 10,000 paths valued in-process and on a local Dask cluster of
    ``workers`` processes (``ballast plan --workers``; 4 chunks per worker), the cluster's
    start excluded. CPU is this process's only (the workers' is not counted); on a shared
    2-core machine the cluster mostly pays for shipping the chunks."""
    from ballast.cli.plan import _dask_mapper
    from ballast.sweep.engine import open_client

    plan = load_plan("conversion_500mw")
    t0, c0 = time.perf_counter(), time.process_time()
    run_plan(plan, n_paths=n_paths, seed=2025, optimize=False)
    emit(f"plan_{n_paths}_paths_in_process_wall", time.perf_counter() - t0, "s")
    emit(f"plan_{n_paths}_paths_in_process_cpu", time.process_time() - c0, "s")
    with open_client(workers=workers) as client:
        mapper = _dask_mapper(client)
        run_plan(plan, n_paths=100, seed=2025, optimize=False, map_fn=mapper, parts=4 * workers)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        run_plan(plan, n_paths=n_paths, seed=2025, optimize=False, map_fn=mapper, parts=4 * workers)
        emit(f"plan_{n_paths}_paths_dask_{workers}_workers_wall", time.perf_counter() - t0, "s")
        emit(f"plan_{n_paths}_paths_dask_{workers}_workers_client_cpu", time.process_time() - c0, "s")
        # hybrid_west_texas with every configuration backtested cold, as tasks on the workers
        from ballast.plan import operations

        def clear() -> None:
            operations._CACHE.clear()

        clear()
        client.run(clear)
        west = load_plan("hybrid_west_texas")
        t0, c0 = time.perf_counter(), time.process_time()
        run_plan(west, n_paths=1000, map_fn=mapper, parts=4 * workers)
        tag = f"plan_hybrid_west_texas_operations_cold_dask_{workers}_workers"
        emit(f"{tag}_wall", time.perf_counter() - t0, "s")
        emit(f"{tag}_client_cpu", time.process_time() - c0, "s")


if __name__ == "__main__":
    main()
