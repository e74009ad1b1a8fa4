"""Controller time of one live tick at 10,000 miners (issue 17: <= 5 ms): the part of
``live.tick.run_tick`` between the meter reading and the network I/O, on a runtime-like state
of 10,000 device records in 3 groups (a few non-compliant and unreachable, one group forced
asleep every tenth tick), grid programs on (ECRS floor, 4CP cap), smoothing and battery as the
training campus has them:

``split_fleet`` -> ``LivePrograms.limits`` -> the per-tick config -> ``control.step`` ->
``plan_commands``.

The runtime's ``live.fleet_table.FleetTable`` (built once with the fleet) is handed to both.
And the CPU time of one write to a device record's state with its share of the table update
that follows a batch of writes (``FleetTable.refresh``, as ``live.commands`` does after a
command's outcomes).

Between ticks (outside the timing) the devices take the commands as verified outcomes would
and the AI load swings, so the decision moves. Figures per tick: p50 and p99 of wall and CPU
time over 600 ticks, best of 3 runs (the machine is shared). One JSON line each.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from ballast.control import ControllerState, Snapshot, step
from ballast.control.build import controller_config
from ballast.examples import examples_dir
from ballast.live.devices import Device, plan_commands, split_fleet
from ballast.live.fleet_table import FleetTable
from ballast.live.grid_programs import LivePrograms
from ballast.programs.schema import Programs
from ballast.scenario import load_scenario, parse_scenario

MINERS = 10_000
TICKS = 600


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 7), "unit": unit}), flush=True)


def fleet(groups: int, seed: int = 1) -> dict[str, Device]:
    """10,000 devices on 10.0.x.y addresses in shuffled order (as a site config may list
    them), 1% non-compliant and 0.5% unreachable, half of each group asleep."""
    rng = np.random.default_rng(seed)
    devices = {}
    for i in rng.permutation(MINERS):
        ip = f"10.{i // 65_536}.{i // 256 % 256}.{i % 256}"
        u = rng.random()
        status = "ignored" if u < 0.01 else "timeout" if u < 0.015 else "ok"
        run = bool(i % 2)
        devices[ip] = Device(ip, int(i % groups), want_run=run, status=status, asleep=not run)
    return devices


def main() -> None:
    doc = load_scenario(examples_dir() / "training_campus.yaml").model_dump(mode="json")
    groups = len(doc["miners"])
    per = MINERS // groups
    for i, m in enumerate(doc["miners"]):
        m["count"] = per + (MINERS - per * groups if i == 0 else 0)
    scn = parse_scenario(doc)
    cfg0 = controller_config(scn, 1.0)
    progs = Programs.model_validate({"coincident_peak": {}, "ecrs": {"offer_mw": 20}})
    best: dict[str, list[float]] = {}
    for _ in range(3):  # best of three runs: the machine is shared
        devices = fleet(groups)
        table = FleetTable(devices.values())  # the runtime builds it once with its fleet
        programs = LivePrograms(progs, cfg0, scn.site.timezone, None)
        state = ControllerState.initial(cfg0, 0.0, running=True)
        g = cfg0.groups
        now = pd.Timestamp("2024-07-15T20:00:00Z").timestamp()
        wall, cpu = [], []
        for k in range(TICKS):
            now += 1.0
            ai_mw = 150.0 * (0.85 + 0.15 * np.sin(k / 7.0))  # a swinging AI load
            forced = {1} if k % 10 == 0 else set()
            w0, c0 = time.perf_counter(), time.process_time()
            # --- the controller part of run_tick
            controllable, fixed_mw, force_sleep = split_fleet(table, forced, g.run_mw, g.sleep_mw)
            pl = programs.limits(now, (200.0, 40.0), ai_mw, 0.0, 30.0, 50.0, False, False)
            snap = Snapshot(
                now,
                30.0,
                50.0,
                ai_mw + fixed_mw,
                0.0,
                max(0.0, pl.cap_mw - fixed_mw) if np.isfinite(pl.cap_mw) else pl.cap_mw,
                max(0.0, pl.floor_mw - fixed_mw),
                40.0,
                5.0,
            )
            cfg = replace(cfg0, groups=replace(cfg0.groups, count=controllable))
            state.running[:] = np.minimum(state.running, controllable)
            decision = step(cfg, state, snap)
            to_sleep, to_wake = plan_commands(table, decision.running, forced)
            # ---
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            for ip in force_sleep + to_sleep:  # verified outcomes (outside the timing)
                devices[ip].want_run, devices[ip].asleep = False, True
            for ip in to_wake:
                devices[ip].want_run, devices[ip].asleep = True, False
            table.refresh(force_sleep + to_sleep + to_wake)
        for name, xs in (("wall", wall), ("cpu", cpu)):
            q = statistics.quantiles(xs[10:], n=100)  # the first ticks warm the caches
            for p, v in (("p50", q[49]), ("p99", q[98])):
                key = f"live_controller_10k_{p}_{name}"
                best[key] = min(best.get(key, [np.inf]), [v])
    emit("live_controller_10k_miners", float(MINERS), "miners")
    for key, (v,) in best.items():
        emit(key, v, "s")
    emit("live_device_state_write_cpu", write_cost_s(groups), "s")


def write_cost_s(groups: int) -> float:
    """CPU time of one write to a device's state plus its share of the table update after a
    batch of writes to every device (``FleetTable.refresh``), best of 5 passes over the fleet."""
    devices = fleet(groups)
    table = FleetTable(devices.values())
    ips = list(devices)
    best_s = np.inf
    for _ in range(5):
        c0 = time.process_time()
        for d in devices.values():
            d.want_run = not d.want_run
        table.refresh(ips)
        best_s = min(best_s, time.process_time() - c0)
    return best_s / len(devices)


if __name__ == "__main__":
    main()
