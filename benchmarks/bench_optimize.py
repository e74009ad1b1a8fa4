"""Dispatch optimisation speed: the perfect-foresight LP on HiGHS (``ballast.optimize``)
against the same one-node case in PyPSA 1.4 with HiGHS, in the same process.

Case: the West Texas 2024 campus (100 MW AI at PUE 1.3, three miner groups, 150 MW of solar
behind the meter, a 50 MW / 200 MWh battery, 280 MW import and 100 MW export limits) on real
2024 ERCOT prices. Figures: wall seconds to build, solve and read back the solution (median of
repeats) for an hourly year in both tools, their ratio and the objectives' relative gap; the
optimum of the 15-min year (35,136 intervals); its rolling horizon (48-h windows every 24 h,
366 solves on one HiGHS model; also on the DAM price forecast and with the 4CP charge); the
15-min year without the battery (the closed-form merit order) and with the example's 4CP
charge; and the whole
``compare`` call (backtest + LP + KPIs) on the 15-min year, and ``simulate --policy rolling``
(the controller following the day-ahead schedule, battery included) on it. Each figure is given in wall and
process CPU seconds: the machine is shared, and CPU time moves least under load.

Measured 2026-12-03 on the shared 2-core machine (five other jobs, load average 4-11), process
CPU seconds over five runs (wall suffers most from the load). Before this round: hourly year
0.38-0.54 against PyPSA 3.6-4.4 (6.6-10x), 15-min year with the battery 1.5-1.7. Now (fixed
columns dropped before HiGHS, crossover from the windows' dispatch and duals, three-week warm
windows with Dantzig pricing, devex after the warm start): hourly year 0.28-0.41 (best of five
0.28-0.32) against PyPSA 3.0-5.3, 10.6-14.2x on CPU (best against best up to 17.8x); the 20x
goal is not met; objectives equal (gap 0.0). 15-min year with the battery 1.02-1.33 (goal 1 s:
not met); without it 0.010-0.014; with the 4CP charge 1.10-1.46; rolling 48-h windows
0.85-1.47, with the 4CP charge 0.95-1.70, on the DAM forecast 1.08-1.80; ``compare`` 1.8-2.6.

Then (later on 2026-12-03, four runs, two alternating with ``main``, load average 3-6): the
final solve starts from a basis read off the windows' point (``lp.basis_from_point``) instead
of crossover, and windows hand HiGHS only what changed. Best of five calls: hourly year
0.23-0.29 (``main`` 0.27-0.32) against PyPSA 3.0-4.4, 13.2-15.1x by CPU (median against
median), 10.6-16.7x by wall; the 20x goal is still not met; objectives equal (gap 0.0). 15-min
year with the battery 0.76-0.94 (``main`` 0.96-1.25; goal 1 s: met), with the 4CP charge
0.86-1.18 (``main`` 1.08-1.55); rolling 48-h windows 0.80-1.31, with the 4CP charge 1.03-1.59,
on the DAM forecast 0.99-1.68; ``compare`` 1.3-2.3 (``main`` 2.0-2.4); ``simulate --policy
rolling`` 1.1-1.7 (``main`` 1.5-2.0).

Then (branch ``optspeed2``, 17:00-17:50 UTC on 2026-12-03, three other helpers, load average
3-5): the warm start's windows cut out of the run's LP on one HiGHS window model
(``optimize.warm``), imports moved into their balance rows (``optimize.presolve``), no ``@`` on
long vectors (OpenBLAS's threads spun after each). Hourly year best 0.16-0.23 (median
0.17-0.25) against PyPSA best 4.2-5.3: 20.6-36.5x by CPU median against median, 22.2-32.7x best
against best (``main`` in alternating runs: 0.26-0.34, 12.5-20.2x); the 20x goal is met in these
five runs; objectives equal (gap 0.0). 15-min year with the battery best 0.73-0.85 (``main``
1.08), with the 4CP charge 0.93-0.94 (``main`` 1.14); the rolling paths are unchanged.
"""

from __future__ import annotations

import json
import logging
import statistics
import time

from ballast.backtest import simulate
from ballast.control import ControllerConfig
from ballast.examples import examples_dir
from ballast.inputs import build_inputs
from ballast.optimize import compare
from ballast.optimize.forecast import forecast_problem
from ballast.optimize.model import problem_from_inputs, solve
from ballast.optimize.rolling import solve_rolling
from ballast.scenario import load_scenario, parse_scenario

SCENARIO = examples_dir() / "west_texas_2024.yaml"


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 6), "unit": unit}), flush=True)


CPU_S: dict[str, float] = {}  # the last timed call's process CPU seconds (the machine is shared)


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall seconds of ``repeats`` calls and the last result; ``CPU_S`` gets the median
    and the best (least) process CPU seconds (the best is what a busy machine spoils least)."""
    times, cpu, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU_S["last"] = statistics.median(cpu)
    CPU_S["best"] = min(cpu)
    return statistics.median(times), out


def emit_timed(name: str, wall_s: float) -> None:
    """Wall and CPU seconds of the last ``timed`` call (CPU: the figure a busy machine moves
    least)."""
    emit(f"{name}_wall", wall_s, "s")
    emit(f"{name}_cpu", CPU_S["last"], "s")
    emit(f"{name}_cpu_best", CPU_S["best"], "s")


def scenario(resolution: str, *, battery: bool = True, fourcp: bool = False):
    doc = load_scenario(SCENARIO).model_dump(mode="json")
    doc["renewables"] = [{"name": "solar", "kind": "solar", "capacity_mw": 150}]
    if battery:
        doc["battery"] = {"power_mw": 50, "energy_mwh": 200, "round_trip_efficiency": 0.88}
    doc["run"]["resolution"] = resolution
    if not fourcp:  # PyPSA's case has no 4CP charge
        doc["costs"].pop("transmission_usd_per_kw_year", None)
    return parse_scenario(doc)


def problem_of(scn):
    return problem_from_inputs(build_inputs(scn), ControllerConfig.from_scenario(scn), scn)


def main() -> None:
    logging.getLogger("pypsa").setLevel(logging.ERROR)
    logging.getLogger("linopy").setLevel(logging.ERROR)
    scn = scenario("1h")
    problem = problem_of(scn)
    solve(problem)  # warm-up
    ours_s, sol = timed(lambda: solve(problem), 5)
    emit_timed("optimize_2024_1h_highspy", ours_s)
    ours_cpu_s, ours_best_s = CPU_S["last"], CPU_S["best"]
    try:
        from ballast.optimize.pypsa_reference import solve_pypsa
    except ImportError:  # pypsa is a development dependency
        solve_pypsa = None
    if solve_pypsa is not None:
        solve_pypsa(problem)  # warm-up (imports, linopy)
        pypsa_s, theirs = timed(lambda: solve_pypsa(problem), 3)
        emit_timed("optimize_2024_1h_pypsa", pypsa_s)
        pypsa_cpu_s, pypsa_best_s = CPU_S["last"], CPU_S["best"]
        emit("optimize_2024_1h_speedup_vs_pypsa", pypsa_s / ours_s, "x")
        emit("optimize_2024_1h_speedup_vs_pypsa_cpu", pypsa_cpu_s / ours_cpu_s, "x")
        emit("optimize_2024_1h_speedup_vs_pypsa_cpu_best", pypsa_best_s / ours_best_s, "x")
        emit(
            "optimize_2024_1h_objective_gap_vs_pypsa", abs(sol.objective_usd - theirs) / abs(theirs), "share"
        )
    scn15 = scenario("15min")
    p15 = problem_of(scn15)
    solve15_s, _ = timed(lambda: solve(p15), 5)
    emit_timed("optimize_2024_15min_highspy", solve15_s)
    # no battery: the LP separates per interval, the merit order solves it in closed form
    p15_free = problem_of(scenario("15min", battery=False))
    merit_s, _ = timed(lambda: solve(p15_free), 3)
    emit_timed("optimize_2024_15min_no_battery_merit", merit_s)
    # the example's 4CP charge (60 USD/kW-yr on 2024's real peaks) in the objective
    p15_4cp = problem_of(scenario("15min", fourcp=True))
    fourcp_s, _ = timed(lambda: solve(p15_4cp), 1)
    emit_timed("optimize_2024_15min_4cp_highspy", fourcp_s)
    rolling_s, _ = timed(lambda: solve_rolling(p15, window_h=48.0, commit_h=24.0), 1)
    emit_timed("optimize_2024_15min_rolling_48h", rolling_s)
    # the windows with the 4CP charge of the real peaks inside them (perfect forecast)
    rolling_4cp_s, _ = timed(lambda: solve_rolling(p15_4cp, window_h=48.0, commit_h=24.0), 1)
    emit_timed("optimize_2024_15min_rolling_48h_4cp", rolling_4cp_s)
    dam = forecast_problem(
        p15,
        "dam",
        build_inputs(scn15).frame["price_usd_per_mwh"].to_numpy(),
        scn15.markets.export_price_share,
    )
    dam_s, _ = timed(lambda: solve_rolling(p15, window_h=48.0, commit_h=24.0, forecast=dam), 1)
    emit_timed("optimize_2024_15min_rolling_48h_dam", dam_s)
    compare_s, _ = timed(lambda: compare(scn15), 1)
    emit_timed("optimize_2024_15min_compare", compare_s)
    # the rolling policy (issue 11): the rule controller following the day-ahead schedule, the
    # battery dispatched by the schedule and played through its physics (no optimum)
    policy_s, _ = timed(lambda: simulate(scn15, policy="rolling", optimum=False), 1)
    emit_timed("simulate_2024_15min_policy_rolling_battery", policy_s)


if __name__ == "__main__":
    main()
