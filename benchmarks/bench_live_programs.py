"""Live grid programs: the cost one tick pays for them (``LivePrograms.limits`` with the ECRS
floor and the 4CP cap), the cost of settling them each tick (``ProgramSettlement.settle`` with
the ECRS sold and a deployment in force) and one hour's 4CP alert from two years of hourly
ERCOT load (evaluated once an hour and after each live load reading, inside a tick). Best of
several runs, wall and CPU time (the machine may be shared). One JSON line each."""

from __future__ import annotations

import json
import time

import pandas as pd

from ballast.control import ControllerConfig
from ballast.data.loaders import read_series
from ballast.examples import examples_dir
from ballast.live.fourcp_load import FourCpLoad
from ballast.live.grid_programs import LivePrograms
from ballast.live.program_settlement import Commitments, ProgramSettlement
from ballast.programs.schema import Programs
from ballast.scenario import load_scenario


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 7), "unit": unit}), flush=True)


def best_of(fn, repeat: int = 7, inner: int = 1) -> tuple[float, float]:
    """(best wall, best CPU) time per call [s]."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(inner):
            fn()
        wall = min(wall, (time.perf_counter() - w0) / inner)
        cpu = min(cpu, (time.process_time() - c0) / inner)
    return wall, cpu


def main() -> None:
    scn = load_scenario(examples_dir() / "west_texas_2024.yaml")
    progs = Programs.model_validate({"coincident_peak": {}, "ecrs": {"offer_mw": 20}})
    cp = progs.coincident_peak
    hourly = read_series(cp.load_source, cp.load_column).resample("1h").mean().dropna()
    load = FourCpLoad(hourly)
    now = pd.Timestamp("2024-07-15T20:10:00Z").timestamp()
    wall, cpu = best_of(lambda: load.alert(now, cp, scn.site.timezone))
    emit("live_fourcp_alert_one_hour_wall", wall, "s")
    emit("live_fourcp_alert_one_hour_cpu", cpu, "s")
    live = LivePrograms(progs, ControllerConfig.from_scenario(scn), scn.site.timezone, load)
    t = [now]

    def tick() -> None:  # a tick every second, the hour's alert already evaluated
        t[0] += 1.0
        live.limits(t[0], (300.0, 150.0), 120.0, 0.0, 30.0, 50.0, False, False)

    tick()
    wall, cpu = best_of(tick, inner=1000)
    emit("live_programs_limits_per_tick_wall", wall, "s")
    emit("live_programs_limits_per_tick_cpu", cpu, "s")

    settlement = ProgramSettlement(progs)
    dep = (("d1", "ecrs", 150.0, 20.0),)

    def settle() -> None:  # a tick every second: ECRS sold, a deployment in force
        t[0] += 1.0
        settlement.settle(Commitments(t[0], {"ecrs": 20.0}, dep, fourcp=("a1",)), (290.0, 135.0), 3.0)

    settle()
    wall, cpu = best_of(settle, inner=1000)
    emit("live_programs_settle_per_tick_wall", wall, "s")
    emit("live_programs_settle_per_tick_cpu", cpu, "s")


if __name__ == "__main__":
    main()
