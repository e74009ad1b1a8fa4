"""Plan over a site's life (the bundled conversion_500mw: 15 years, 4 strategies, 3 price
cases): the deterministic plan (goal <= 1 s after warm-up) and 1,000 seeded BTC price paths
(goal <= 10 s). One JSON line each."""

from __future__ import annotations

import time

from bench_programs import best_of, emit  # benchmarks/ is on sys.path when run as a script

from ballast.plan import load_plan, run_plan


def main() -> None:
    plan = load_plan("conversion_500mw")
    run_plan(plan, n_paths=10)  # warm-up (imports, parquet reader of the calibration history)
    emit("plan_deterministic_15y_4_strategies_3_cases", best_of(lambda: run_plan(plan, paths=False)), "s")
    t0 = time.perf_counter()
    result = run_plan(plan, n_paths=1000, seed=2025)
    emit("plan_stochastic_1000_paths_15y_4_strategies", time.perf_counter() - t0, "s")
    emit(
        "plan_10000_paths_15y_4_strategies",
        best_of(lambda: run_plan(plan, n_paths=10_000, seed=2025), 1),
        "s",
    )
    for r in result.strategies:  # the figures, for the closing note
        name = r.strategy.name
        emit(f"plan_npv_flat_case_musd.{name}", r.metrics["flat"]["npv_usd"] / 1e6, "M USD")
        emit(f"plan_delta_npv_p50_musd.{name}", r.risk["delta_npv_usd"]["p50"] / 1e6, "M USD")
        emit(f"plan_prob_npv_negative.{name}", r.risk["prob_npv_negative"], "-")


if __name__ == "__main__":
    main()
