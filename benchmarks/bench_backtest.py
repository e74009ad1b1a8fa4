"""Backtest speed: the West Texas 2024 year at 15 min and 1 min (Ballast + baseline).

Figures, after warm-up (numba compile or cache load, file cache):
- ``*_simulate_wall``: median wall seconds of ``sim.simulate`` (the input builder reading and
  aligning every series, the controller configuration, the compiled loop for Ballast and for
  the baseline, site flows); ``*_simulate_best_wall``/``*_simulate_best_cpu``: the best of the
  repeats, wall and CPU (the machine is shared: CPU time moves less with other jobs);
- ``*_simulate_with_kpis_*``: the same plus ``Results.from_simulation`` (KPIs of both runs,
  the 4CP charge, monthly table, events): what ``ballast simulate`` does before writing files;
- ``*_controller_loop_wall``: the compiled loop alone (``run_policy``, one run);
- ``backtest_2024_15min_simulate_with_baselines_wall``: ``ballast.simulate`` at 15 min (plus
  the strike-price run and the optimum, HiGHS), once;
- the peak resident MB of the process at the end.
"""

from __future__ import annotations

import json
import resource
import statistics
import time

from ballast.backtest import simulate as ballast_simulate
from ballast.control import ControllerConfig
from ballast.examples import examples_dir
from ballast.inputs import build_inputs
from ballast.scenario import load_scenario, parse_scenario
from ballast.sim import Results, simulate
from ballast.sim.engine import run_policy

SCENARIO = examples_dir() / "west_texas_2024.yaml"


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 4), "unit": unit}), flush=True)


def timed(fn, repeats: int) -> float:
    return timings(fn, repeats)[0]


def timings(fn, repeats: int) -> tuple[float, float, float]:
    """(median wall, best wall, best CPU) seconds of ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), min(walls), min(cpus)


def main() -> None:
    base = load_scenario(SCENARIO)
    for resolution, repeats in (("15min", 5), ("1min", 3)):
        doc = base.model_dump(mode="json")
        doc["run"]["resolution"] = resolution
        scn = parse_scenario(doc)
        Results.from_simulation(simulate(scn))  # warm-up: numba compile/cache load, file cache
        med, best, cpu = timings(lambda s=scn: simulate(s), repeats)
        emit(f"backtest_2024_{resolution}_simulate_wall", med, "s")
        emit(f"backtest_2024_{resolution}_simulate_best_wall", best, "s")
        emit(f"backtest_2024_{resolution}_simulate_best_cpu", cpu, "s")
        inputs = build_inputs(scn)
        cfg = ControllerConfig.from_scenario(scn)
        emit(f"backtest_2024_{resolution}_controller_loop_wall",
             timed(lambda c=cfg, i=inputs: run_policy(c, i, "ballast"), repeats), "s")
        emit(f"backtest_2024_{resolution}_steps", float(len(inputs.frame)), "steps")
        med, best, cpu = timings(lambda s=scn: Results.from_simulation(simulate(s)), repeats)
        emit(f"backtest_2024_{resolution}_simulate_with_kpis_wall", med, "s")
        emit(f"backtest_2024_{resolution}_simulate_with_kpis_best_wall", best, "s")
        emit(f"backtest_2024_{resolution}_simulate_with_kpis_best_cpu", cpu, "s")
        if resolution == "15min":  # `ballast simulate`: plus strike price and optimum (HiGHS)
            emit(f"backtest_2024_{resolution}_simulate_with_baselines_wall",
                 timed(lambda s=scn: ballast_simulate(s), 1), "s")
    emit("backtest_peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")


if __name__ == "__main__":
    main()
