"""The runs that value the grid programs, and their settlement.

The engine owns every run of the controller. For a scenario with ``programs:`` it has already
run Ballast under the programs' caps and floors and the same controller answering none
(``sim/engine.py: simulate``); here it also runs the controller without each program in turn,
prices every run (``sim/kpis.py: interval_money``) and hands the margins to the programs'
settlement (``programs/settle.py``) as data. Programs never call the engine.
"""

from __future__ import annotations

from ballast.programs.plan import build_plan
from ballast.programs.settle import (
    RULE_PROGRAMS,
    Counterfactuals,
    ProgramOutcome,
    settle_programs,
)
from ballast.sim.engine import RunSeries, Simulation, run_policy
from ballast.sim.kpis import interval_money


def net_margin_usd(sim: Simulation, run: RunSeries) -> float:
    """A run's net margin over the horizon [USD] (NaN when a charge cannot be settled)."""
    money = interval_money(run, sim.inputs, sim.config, sim.scenario)
    return float(money["net_margin_usd"].sum(skipna=False))


def without_each_program(sim: Simulation) -> dict[str, tuple[float, float]]:
    """Per rule program offered: (net margin [USD], programs' cash [USD]) of the controller run
    with that one program left out (one more run each). Empty with fewer than two: then
    ``programs_value_usd`` already is the one program's value."""
    progs = sim.scenario.programs
    offered = [p for p in RULE_PROGRAMS if getattr(progs, p) is not None]
    if len(offered) < 2:
        return {}
    out = {}
    for name in offered:
        variant = sim.scenario.model_copy(update={"programs": progs.model_copy(
            update={name: None})})
        plan_v = build_plan(variant, sim.inputs, sim.config, sim.programs.base_dir)
        run_v = run_policy(sim.config, sim.inputs, f"ballast_without_{name}", cap_mw=plan_v.cap_mw,
                           floor_mw=plan_v.floor_mw, breaks=plan_v.breaks,
                           before_chunk=plan_v.on_chunk)
        settled = settle_programs(variant, sim.inputs, plan_v, run_v, sim.baseline)
        cash_v = float(settled.kpis.loc["programs_cash_usd", "ballast"])
        out[name] = (net_margin_usd(sim, run_v), cash_v)
    return out


def settle_program_runs(sim: Simulation) -> ProgramOutcome:
    """Settle the programs of a simulation with ``programs:``, valued against the engine's
    runs without them (``programs.settle.Counterfactuals``)."""
    if sim.programs is None or sim.no_programs is None:
        raise ValueError("settle_program_runs needs a simulation with programs: and the "
                         "engine's run without them (Simulation.no_programs, made by "
                         "ballast.sim.simulate)")
    counterfactuals = Counterfactuals(
        margin_usd=net_margin_usd(sim, sim.ballast),
        no_programs_margin_usd=net_margin_usd(sim, sim.no_programs),
        without_usd=without_each_program(sim))
    return settle_programs(sim.scenario, sim.inputs, sim.programs, sim.ballast, sim.baseline,
                           counterfactuals)
