"""Backtest speed: the West Texas 2024 year at 15 min and 1 min (Ballast + baseline).

Figures: wall seconds after warm-up (median of repeats) for the full `simulate` call (inputs,
two controller runs), for `ballast.simulate` at 15 min (plus the strike-price run and the
optimum) and for the compiled controller loop alone; peak resident MB of the
process at the end.
"""

from __future__ import annotations

import json
import resource
import statistics
import time

from ballast.backtest import simulate as ballast_simulate
from ballast.control import ControllerConfig
from ballast.examples import examples_dir
from ballast.scenario import load_scenario, parse_scenario
from ballast.sim import Results, simulate
from ballast.sim.engine import run_policy
from ballast.sim.inputs import build_inputs

SCENARIO = examples_dir() / "west_texas_2024.yaml"


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 4), "unit": unit}), flush=True)


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    base = load_scenario(SCENARIO)
    for resolution, repeats in (("15min", 5), ("1min", 3)):
        doc = base.model_dump(mode="json")
        doc["run"]["resolution"] = resolution
        scn = parse_scenario(doc)
        Results.from_simulation(simulate(scn))  # warm-up: numba compile/cache load, file cache
        emit(f"backtest_2024_{resolution}_simulate_wall", timed(lambda s=scn: simulate(s), repeats),
             "s")
        inputs = build_inputs(scn)
        cfg = ControllerConfig.from_scenario(scn)
        emit(f"backtest_2024_{resolution}_controller_loop_wall",
             timed(lambda c=cfg, i=inputs: run_policy(c, i, "ballast"), repeats), "s")
        emit(f"backtest_2024_{resolution}_steps", float(len(inputs.frame)), "steps")
        emit(f"backtest_2024_{resolution}_simulate_with_kpis_wall",
             timed(lambda s=scn: Results.from_simulation(simulate(s)), 1), "s")
        if resolution == "15min":  # `ballast simulate`: plus strike price and optimum (HiGHS)
            emit(f"backtest_2024_{resolution}_simulate_with_baselines_wall",
                 timed(lambda s=scn: ballast_simulate(s), 1), "s")
    emit("backtest_peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")


if __name__ == "__main__":
    main()
