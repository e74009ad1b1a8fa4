"""The backtest engine: the controller over a horizon, for Ballast and a business-as-usual
baseline in the same call, then site physics (import, export, curtailment) per interval.

The engine orchestrates the grid programs: it asks ``programs/plan.py`` for caps and floors,
runs the controller with them (and without them), and hands the runs to the programs'
settlement as data (``sim/program_runs.py``). Programs never import the engine.

A policy other than the rule controller alone (``simulate(schedule=...)``: the rolling
day-ahead schedule of ``optimize.schedule``) is handed in as a function that returns a miner
cap per interval, or a ``Schedule`` with the battery's power too (played through its physics
by ``sim.battery``); the engine never imports the optimiser."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ballast.control import RULE_NAMES, ControllerConfig, ControllerState
from ballast.control.build import controller_config
from ballast.inputs import SiteInputs, build_inputs, step_hours
from ballast.physics import export_curtailed_mw, export_mw, import_mw
from ballast.programs.plan import ProgramPlan, build_plan
from ballast.scenario import Scenario, ScenarioError
from ballast.sim.battery import follow_battery
from ballast.sim.kernel import run_ticks

ProgressFn = Callable[[int, int], None]
SCHEDULE_RULE = "schedule"  # the binding rule where the schedule's cap set the miners


@dataclass(frozen=True)
class Schedule:
    """What a policy schedules per interval: the most miner power the controller may run
    [MW, facility], and the battery's terminal power [MW, discharge positive] or None (the
    battery idle)."""

    miner_mw: np.ndarray
    battery_mw: np.ndarray | None = None


# a schedule: the miner cap per interval (an array), or a ``Schedule`` with the battery too
ScheduleFn = Callable[[Scenario, SiteInputs, ControllerConfig], "np.ndarray | Schedule"]


@dataclass(frozen=True)
class RunSeries:
    """One policy's time series on the run index (interval averages, MW; import positive)."""

    name: str
    frame: pd.DataFrame  # site-level columns
    group_running: pd.DataFrame  # miners running per group (mean over the interval)
    group_power_mw: pd.DataFrame


def run_policy(config: ControllerConfig, inputs: SiteInputs, name: str,
               cap_mw: np.ndarray | None = None, floor_mw: np.ndarray | None = None,
               progress: ProgressFn | None = None, chunk: int = 200_000,
               breaks: list[int] | None = None,
               before_chunk: Callable[[int, np.ndarray], None] | None = None,
               battery: tuple[np.ndarray, np.ndarray] | None = None) -> RunSeries:
    """Run the controller over every interval of ``inputs`` and derive the site's flows.

    ``battery`` (power [MW, discharge positive], state of charge [MWh] per interval;
    ``sim.battery.follow_battery``): the controller sees it as part of the inflexible load,
    and the frame gains ``battery_mw`` and ``battery_soc_mwh``.

    ``breaks``/``before_chunk`` (grid programs): the loop also stops at each tick in ``breaks``
    and calls ``before_chunk(start, miner_mw)`` with the miner power of ticks < start known, so
    a program may set ``cap_mw``/``floor_mw`` (in place) from that tick on."""
    f = inputs.frame
    n = len(f)
    idx = f.index
    time_s = (idx.as_unit("ns").asi8 / 1e9).astype("float64")
    cap = np.full(n, np.inf) if cap_mw is None else np.asarray(cap_mw, dtype="float64")
    floor = np.zeros(n) if floor_mw is None else np.asarray(floor_mw, dtype="float64")
    g = config.groups
    ng = len(g.names)
    state = ControllerState.initial(config, time_s[0] if n else 0.0)
    miner_mw = np.empty(n)
    rule = np.empty(n, dtype=np.int8)
    running = np.zeros((n, ng))
    price = f["decision_price_usd_per_mwh"].to_numpy()  # known at decision (inputs/availability)
    hashprice = f["hashprice_usd_per_ph_day"].to_numpy()
    ai = f["ai_load_mw"].to_numpy()
    ren = f["renewable_mw"].to_numpy()
    bat = np.zeros(n) if battery is None else battery[0]
    load = ai - bat  # what the controller balances: the AI load plus the battery's charge
    bounds = sorted({*range(0, n, chunk), *(b for b in (breaks or ()) if 0 < b < n), n})
    for start, stop in itertools.pairwise(bounds):
        if before_chunk is not None:
            before_chunk(start, miner_mw)
        run_ticks(time_s[start:stop], price[start:stop], hashprice[start:stop], load[start:stop],
                  ren[start:stop], cap[start:stop], floor[start:stop], config.import_limit_mw,
                  config.export_limit_mw, config.import_margin_mw, config.economic_dispatch,
                  config.absorb_renewables, g.count, g.run_mw, g.sleep_mw,
                  g.breakeven_per_hashprice, g.deadband_usd_per_mwh, g.min_on_s, g.min_off_s,
                  g.merit, state.econ_on, state.last_change_s, state.running, 1,
                  miner_mw[start:stop], rule[start:stop], running[start:stop], state.restore)
        if progress is not None:
            progress(stop, n)
    group_power = g.power_mw(running)
    frame = site_flows(ai, ren, miner_mw, config.export_limit_mw, idx, battery_mw=bat)
    if battery is not None:
        frame["battery_mw"], frame["battery_soc_mwh"] = battery
    frame["binding_rule"] = pd.Categorical.from_codes(rule, categories=list(RULE_NAMES))
    return RunSeries(
        name=name,
        frame=frame,
        group_running=pd.DataFrame(running, index=idx, columns=list(g.names)),
        group_power_mw=pd.DataFrame(group_power, index=idx, columns=list(g.names)),
    )


def site_flows(ai_load_mw, renewable_mw, miner_mw, export_limit_mw: float,
               index: pd.DatetimeIndex, battery_mw=0.0) -> pd.DataFrame:
    """Net import [MW] (positive = import), export, and renewable output that had to be
    curtailed because it could neither be used on site nor exported. ``battery_mw``
    (discharge positive) may export too; ``renewable_used_mw`` counts only renewable power kept
    on site."""
    net = import_mw(np.asarray(ai_load_mw) + np.asarray(miner_mw) - battery_mw, np.asarray(renewable_mw))
    curtailed = export_curtailed_mw(net, export_limit_mw)
    net = net + curtailed
    kept = np.asarray(renewable_mw) - curtailed
    return pd.DataFrame({
        "ai_load_mw": ai_load_mw,
        "miner_mw": miner_mw,
        "renewable_mw": renewable_mw,
        "renewable_used_mw": kept - np.minimum(export_mw(net), kept),
        "renewable_curtailed_mw": curtailed,
        "import_mw": net,
        "export_mw": export_mw(net),
    }, index=index)


@dataclass(frozen=True)
class Simulation:
    """Both runs of one scenario plus their inputs."""

    scenario: Scenario
    inputs: SiteInputs
    ballast: RunSeries
    baseline: RunSeries
    config: ControllerConfig
    fine: object | None = None  # fine-resolution runs (``ballast.sim.smoothing.FineResults``)
    programs: ProgramPlan | None = None  # the programs' caps, floors and events (programs:)
    no_programs: RunSeries | None = None  # the same controller answering no program (programs:)
    policy: str = "rules"  # what ran as "ballast": the rule stack, or it following a schedule
    schedule_mw: np.ndarray | None = None  # the schedule's miner cap per interval [MW]
    schedule_battery_mw: np.ndarray | None = None  # the battery power it scheduled [MW]


def simulate(scenario: Scenario, base_dir: Path | None = None,
             progress: ProgressFn | None = None, *, policy: str = "rules",
             schedule: ScheduleFn | None = None) -> Simulation:
    """Backtest Ballast and the baseline (all miners on wherever the interconnect allows).

    Relative data paths resolve against ``base_dir``, by default the folder of the scenario's
    YAML file (``scenario.base_dir``). ``schedule`` (with ``policy`` its name): a miner cap
    per interval [MW] that the controller follows, one more rule below safety and the grid
    programs' obligations: the import limit and restore ramp still bind above it, a program
    cap and the schedule combine as their minimum, and the schedule never cuts below a
    program's floor (a floor is an obligation; the schedule is no floor, so it never overrides
    the restore ramp, and economics may still curtail below it on a real-time price above
    breakeven). A ``Schedule`` with ``battery_mw`` runs the scenario battery on it
    (``scheduled_battery``), for Ballast and its no-programs run.
    The baseline never follows it, and runs no battery.
    """
    base_dir = base_dir if base_dir is not None else scenario.base_dir
    if scenario.smoothing is not None or scenario.run.step < pd.Timedelta("1min"):
        if scenario.programs is not None:  # not silently dropped: the fine engine has no hook yet
            raise ScenarioError("programs: grid programs are simulated at 1 min or coarser "
                                "without smoothing; drop programs or smoothing, or use a coarser "
                                "run.resolution")
        if schedule is not None:
            raise ScenarioError(f"policy {policy}: a schedule is followed at 1 min or coarser "
                                "without smoothing; use --policy rules or a coarser "
                                "run.resolution")
        from ballast.sim.smoothing import simulate_fine  # 1 s and finer: miner plant + battery

        return simulate_fine(scenario, base_dir, progress)
    inputs = build_inputs(scenario, base_dir)
    step_s = scenario.run.step.total_seconds()
    config = controller_config(scenario, step_s)
    base_cfg = controller_config(scenario, step_s, baseline=True)
    n = len(inputs.frame)

    def half(offset: int) -> ProgressFn | None:
        if progress is None:
            return None
        return lambda done, _total: progress(offset + done, 2 * n)

    got = None if schedule is None else schedule(scenario, inputs, config)
    got = got if got is None or isinstance(got, Schedule) else Schedule(got)
    sched = None if got is None else np.asarray(got.miner_mw, "float64")
    if sched is not None and (sched.shape != (n,) or not np.isfinite(sched).all()):
        raise ValueError(f"policy {policy}: the schedule must be {n} finite miner powers [MW], "
                         f"got shape {sched.shape}")  # a NaN cap would put every miner to sleep
    battery = None if got is None or got.battery_mw is None else scheduled_battery(
        scenario, inputs, config, np.asarray(got.battery_mw, "float64"), policy)
    plan = no_programs = None
    if scenario.programs is not None:  # the baseline answers no programs (it still settles them)
        plan = build_plan(scenario, inputs, config, base_dir)
        if battery is not None and plan.other_import_mw is not None:  # a DR event's import
            plan.other_import_mw = plan.other_import_mw - battery[0]  # meters the battery too
        cap, on_chunk = plan.cap_mw, plan.on_chunk
        if sched is not None:  # obligations first: the schedule never cuts below a program
            # floor (a cap would win over it), and a program cap below the schedule holds
            followed = np.maximum(sched, plan.floor_mw)
            cap = np.minimum(plan.cap_mw, followed)

            def on_chunk(start: int, miner_mw: np.ndarray) -> None:
                plan.on_chunk(start, miner_mw)  # may lower plan.cap_mw from ``start`` on
                np.minimum(plan.cap_mw[start:], followed[start:], out=cap[start:])

        ballast = run_policy(config, inputs, "ballast", cap_mw=cap, floor_mw=plan.floor_mw,
                             progress=half(0), breaks=plan.breaks, before_chunk=on_chunk,
                             battery=battery)
        # the same controller answering no programs: what the programs are worth, net
        no_programs = run_policy(config, inputs, "ballast_no_programs", cap_mw=sched,
                                 battery=battery)
    else:
        ballast = run_policy(config, inputs, "ballast", cap_mw=sched, progress=half(0),
                             battery=battery)
    if sched is not None:
        ballast = label_schedule(ballast, sched, plan)
        if no_programs is not None:
            no_programs = label_schedule(no_programs, sched, None)
    baseline = run_policy(base_cfg, inputs, "baseline", progress=half(n))
    return Simulation(scenario=scenario, inputs=inputs, ballast=ballast, baseline=baseline,
                      config=config, programs=plan, no_programs=no_programs, policy=policy,
                      schedule_mw=sched,
                      schedule_battery_mw=None if battery is None else got.battery_mw)


def scheduled_battery(scenario: Scenario, inputs: SiteInputs, config: ControllerConfig,
                      schedule_mw: np.ndarray, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """The scenario battery following ``schedule_mw`` [MW, discharge positive] through its
    physics (``sim.battery.follow_battery``): its power and state of charge per interval. A
    charge never takes the import over the limit with every miner asleep; a discharge never
    exports more than the export limit plus the renewables."""
    b, n = scenario.battery, len(inputs.index)
    if b is None:
        raise ScenarioError(f"policy {policy}: the schedule dispatches a battery; the scenario "
                            "has none (battery:)")
    if schedule_mw.shape != (n,) or not np.isfinite(schedule_mw).all():
        raise ValueError(f"policy {policy}: the schedule's battery must be {n} finite powers [MW], "
                         f"got shape {schedule_mw.shape}")
    f, g = inputs.frame, config.groups
    floor_mw = f["ai_load_mw"].to_numpy() + float((g.count * g.sleep_mw).sum())
    ren = f["renewable_mw"].to_numpy()
    return follow_battery(
        schedule_mw, b.power_mw, b.energy_mwh, b.one_way_efficiency,
        b.initial_soc_share * b.energy_mwh, step_hours(inputs.index),
        max_charge_mw=config.import_limit_mw - import_mw(floor_mw, ren),
        max_discharge_mw=floor_mw + config.export_limit_mw)


def label_schedule(run: RunSeries, schedule_mw: np.ndarray, plan: ProgramPlan | None) -> RunSeries:
    """``run`` with ``binding_rule`` ``schedule`` where a cap bound and it was the schedule's
    (below the programs' cap and not raised to their floor; at a tie the obligation is
    named)."""
    rule = run.frame["binding_rule"]
    ours = (rule == "obligation_cap").to_numpy()
    if plan is not None:
        ours = ours & (schedule_mw < plan.cap_mw) & (schedule_mw >= plan.floor_mw)
    names = [*RULE_NAMES, SCHEDULE_RULE]
    codes = np.where(ours, len(RULE_NAMES), rule.cat.codes.to_numpy())
    frame = run.frame.copy()
    frame["binding_rule"] = pd.Categorical.from_codes(codes, categories=names)
    return RunSeries(name=run.name, frame=frame, group_running=run.group_running,
                     group_power_mw=run.group_power_mw)
