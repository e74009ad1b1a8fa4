"""Dispatch optimisation speed: the perfect-foresight LP on HiGHS (``ballast.optimize``)
against the same one-node case in PyPSA 1.4 with HiGHS, in the same process.

Case: the West Texas 2024 campus (100 MW AI at PUE 1.3, three miner groups, 150 MW of solar
behind the meter, a 50 MW / 200 MWh battery, 280 MW import and 100 MW export limits) on real
2024 ERCOT prices. Figures: wall seconds to build, solve and read back the solution (median of
repeats) for an hourly year in both tools, their ratio and the objectives' relative gap; the
optimum of the 15-min year (35,136 intervals); its rolling horizon (48-h windows every 24 h,
366 solves on one HiGHS model); and the whole ``compare`` call (backtest + LP +
KPIs) on the 15-min year.
"""

from __future__ import annotations

import json
import logging
import statistics
import time

from ballast.control import ControllerConfig
from ballast.examples import examples_dir
from ballast.optimize import compare
from ballast.optimize.model import problem_from_inputs, solve
from ballast.optimize.rolling import solve_rolling
from ballast.scenario import load_scenario, parse_scenario
from ballast.sim.inputs import build_inputs

SCENARIO = examples_dir() / "west_texas_2024.yaml"


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 6), "unit": unit}), flush=True)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def scenario(resolution: str):
    doc = load_scenario(SCENARIO).model_dump(mode="json")
    doc["renewables"] = [{"name": "solar", "kind": "solar", "capacity_mw": 150}]
    doc["battery"] = {"power_mw": 50, "energy_mwh": 200, "round_trip_efficiency": 0.88}
    doc["run"]["resolution"] = resolution
    doc["costs"].pop("transmission_usd_per_kw_year", None)  # PyPSA's case has no 4CP charge
    return parse_scenario(doc)


def main() -> None:
    logging.getLogger("pypsa").setLevel(logging.ERROR)
    logging.getLogger("linopy").setLevel(logging.ERROR)
    scn = scenario("1h")
    problem = problem_from_inputs(build_inputs(scn), ControllerConfig.from_scenario(scn), scn)
    solve(problem)  # warm-up
    ours_s, sol = timed(lambda: solve(problem), 3)
    emit("optimize_2024_1h_highspy_wall", ours_s, "s")
    try:
        from ballast.optimize.pypsa_reference import solve_pypsa
    except ImportError:  # pypsa is a development dependency
        solve_pypsa = None
    if solve_pypsa is not None:
        solve_pypsa(problem)  # warm-up (imports, linopy)
        pypsa_s, theirs = timed(lambda: solve_pypsa(problem), 3)
        emit("optimize_2024_1h_pypsa_wall", pypsa_s, "s")
        emit("optimize_2024_1h_speedup_vs_pypsa", pypsa_s / ours_s, "x")
        emit("optimize_2024_1h_objective_gap_vs_pypsa",
             abs(sol.objective_usd - theirs) / abs(theirs), "share")
    scn15 = scenario("15min")
    p15 = problem_from_inputs(build_inputs(scn15), ControllerConfig.from_scenario(scn15), scn15)
    solve15_s, _ = timed(lambda: solve(p15), 3)
    emit("optimize_2024_15min_highspy_wall", solve15_s, "s")
    rolling_s, _ = timed(lambda: solve_rolling(p15, window_h=48.0, commit_h=24.0), 1)
    emit("optimize_2024_15min_rolling_48h_wall", rolling_s, "s")
    compare_s, _ = timed(lambda: compare(scn15), 1)
    emit("optimize_2024_15min_compare_wall", compare_s, "s")


if __name__ == "__main__":
    main()
