"""Grid programs: a 15-min year with every program (4CP, reserves, DR, contract) against the same
year without programs, and the 4CP alert over two years of hourly load. One JSON line each."""

from __future__ import annotations

import json
import time

from ballast.data.loaders import read_series
from ballast.examples import examples_dir
from ballast.programs import fourcp
from ballast.scenario import load_scenario
from ballast.sim import Results, simulate

EXAMPLES = examples_dir()


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 4), "unit": unit}), flush=True)


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    scn = load_scenario(EXAMPLES / "west_texas_2024_programs.yaml")
    plain = scn.model_copy(update={"programs": None})
    simulate(scn, EXAMPLES)  # warm-up (numba, parquet cache)
    emit("programs_year_15min_simulate", best_of(lambda: simulate(scn, EXAMPLES)), "s")
    emit("no_programs_year_15min_simulate", best_of(lambda: simulate(plain, EXAMPLES)), "s")
    sim = simulate(scn, EXAMPLES)
    emit("programs_year_15min_settle", best_of(lambda: Results.from_simulation(sim)), "s")
    load = read_series("bundled:ercot_system_hourly_2023_2024", "ercot_load_mw")
    emit("fourcp_alert_two_years_hourly", best_of(lambda: fourcp.fourcp_alert_hourly(load)), "s")
    uri = load_scenario(EXAMPLES / "uri_2021.yaml")
    emit("uri_month_simulate_and_settle",
         best_of(lambda: Results.from_simulation(simulate(uri, EXAMPLES))), "s")


if __name__ == "__main__":
    main()
