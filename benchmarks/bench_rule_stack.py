"""Rule stack speed on its own: ``control_tick_full`` over a 1-s month of the training campus
(20 miner groups, smoothing and battery as the scenario says; no miner plant), and one live
``step`` (the Python face: records built, compiled stack called, decision returned).

Figures: nanoseconds per tick of the compiled stack (wall and CPU, best of 3 after warm-up; the
machine is shared, so CPU is the steadier figure) and microseconds per ``step`` (best of 3
batches of 2,000).
"""

from __future__ import annotations

import json
import time

import numpy as np
from bench_smoothing import scenario
from numba import njit

from ballast.control import ControllerState, Snapshot, step
from ballast.control.build import controller_config
from ballast.control.records import INFO_DTYPE, Snap
from ballast.control.stack import control_tick_full
from ballast.sim.fine import fine_setup


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 4), "unit": unit}), flush=True)


@njit(cache=True)
def stack_loop(p, grp, st, t0_s, ai_mw, price, hashprice, renewable_mw, coarse_every, info_rec):
    """The stack alone, tick by tick, miners assumed at their commands. ``info_rec``: a
    1-element ``INFO_DTYPE`` array the caller keeps (a record of an array made here would
    outlive the array: see ``sim.kernel.run_plant_ticks``)."""
    info = info_rec[0]
    total_mw = 0.0
    for t in range(ai_mw.shape[0]):
        c = t // coarse_every
        mw, _rule = control_tick_full(
            p,
            grp,
            st,
            Snap(t0_s + t, price[c], hashprice[c], ai_mw[t], renewable_mw[c], np.inf, 0.0, np.nan, 0.0),
            info,
        )
        total_mw += mw
    return total_mw


def main() -> None:
    scn = scenario("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "1s")
    setup = fine_setup(scn)
    ai = setup.ai()
    cfg = controller_config(scn, setup.dt_s, ai=ai)
    f = setup.coarse.frame
    price = f["decision_price_usd_per_mwh"].to_numpy()
    hashprice = f["hashprice_usd_per_ph_day"].to_numpy()
    ren = f["renewable_mw"].to_numpy()
    ai_mw = ai.chunk(0, setup.n_ticks)[0].astype("float64")
    walls, cpus = [], []
    for _ in range(4):  # the first compiles (or loads the cache)
        st = ControllerState.initial(cfg, setup.t0_s)
        t0, c0 = time.perf_counter(), time.process_time()
        stack_loop(
            cfg.params[0],
            cfg.group_arrays,
            st.records(),
            setup.t0_s,
            ai_mw,
            price,
            hashprice,
            ren,
            setup.coarse_every,
            np.zeros(1, INFO_DTYPE),
        )
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    n = setup.n_ticks
    emit("rule_stack_1s_month_ticks", float(n), "ticks")
    emit("rule_stack_tick_wall", min(walls[1:]) / n * 1e9, "ns")
    emit("rule_stack_tick_cpu", min(cpus[1:]) / n * 1e9, "ns")
    state = ControllerState.initial(cfg, setup.t0_s)
    best = np.inf
    for rep in range(4):
        t0 = time.perf_counter()
        for i in range(2000):
            step(
                cfg,
                state,
                Snapshot(
                    setup.t0_s + rep * 2000 + i,
                    float(price[0]),
                    float(hashprice[0]),
                    float(ai_mw[i]),
                    float(ren[0]),
                ),
            )
        if rep:
            best = min(best, (time.perf_counter() - t0) / 2000)
    emit("rule_stack_live_step_wall", best * 1e6, "us")


if __name__ == "__main__":
    main()
