"""The Python API of a backtest: load a scenario, simulate it, get a ``Results``.

    import ballast
    scenario = ballast.load_scenario("west_texas_2024")   # a bundled name or a YAML path
    result = ballast.simulate(scenario, resolution="15min", end="2024-02-01T00:00:00Z")
    result.kpis; result.timeseries; result.events; result.write("out/"); result.report("r.html")

``ballast simulate`` on the command line calls these same two functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd

from ballast.examples import scenario_path
from ballast.scenario import Scenario, parse_scenario
from ballast.scenario import load_scenario as _load_file
from ballast.sim.engine import simulate as _simulate_engine
from ballast.sim.results import Results

TimeLike = datetime | pd.Timestamp | str


def load_scenario(name_or_path: str | os.PathLike[str]) -> Scenario:
    """A validated scenario from a bundled example name or a YAML file.

    Args:
        name_or_path: a bundled example's name (``"west_texas_2024"``; ``ballast scenarios``
            lists them) or the path of a scenario YAML file. Relative data paths in the file
            resolve against its folder.

    Returns:
        The scenario document (powers in MW, prices in USD/MWh, times UTC).

    Raises:
        ScenarioError: the file is missing or invalid (the message names the file and field),
            or a bare name matches no bundled example (the message lists them).
    """
    return _load_file(scenario_path(name_or_path))


def with_run(scenario: Scenario, *, resolution: str | None = None, start: TimeLike | None = None,
             end: TimeLike | None = None) -> Scenario:
    """``scenario`` with its run period or resolution replaced, validated again.

    ``start``/``end`` [UTC; a naive time is taken as UTC; ``end`` exclusive]; ``resolution``
    a pandas step such as ``"15min"``, ``"1min"``, ``"1s"``. None keeps the scenario's value.
    """
    updates: dict[str, str] = {}
    for key, value in (("start", start), ("end", end)):
        if value is not None:
            stamp = pd.Timestamp(value)
            updates[key] = (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp).isoformat()
    if resolution is not None:
        updates["resolution"] = resolution
    if not updates:
        return scenario
    data = scenario.model_dump(mode="json")
    data["run"].update(updates)
    source = f"{scenario.name} (with run overrides {', '.join(sorted(updates))})"
    changed = parse_scenario(data, source)
    changed._base_dir = scenario.base_dir
    return changed


def simulate(scenario: Scenario | str | os.PathLike[str], resolution: str | None = None,
             start: TimeLike | None = None, end: TimeLike | None = None, *,
             progress: Callable[[int, int], None] | None = None, baselines: bool = True,
             optimum: bool = True, policy: str = "rules", forecast: str = "perfect") -> Results:
    """Backtest a scenario: Ballast's controller against the business-as-usual (all-on)
    baseline, the strike-price baseline and the perfect-foresight optimum.

    Args:
        scenario: a ``Scenario`` (from ``load_scenario``), a bundled name or a YAML path.
        resolution: step of the run, e.g. ``"15min"``, ``"5min"``, ``"1min"``, ``"1s"``,
            ``"100ms"``; None keeps the scenario's ``run.resolution``. Steps of 1 s and finer
            run the fine engine (miner plant, smoothing).
        start: run start [UTC]; None keeps the scenario's. A naive time is taken as UTC.
        end: run end [UTC, exclusive]; None keeps the scenario's.
        progress: called as ``progress(steps_done, steps_total)`` during long runs.
        baselines: also run the strike-price baseline (the fleet managers' practice) and the
            perfect-foresight optimum (``optimize.against``): ``Results.baselines`` and the
            ``kpis`` columns ``strike_price`` and ``optimum``.
        optimum: with ``baselines``, solve the optimum (HiGHS). Where the optimiser does not
            model the scenario (programs, smoothing, steps under 1 min) there is no optimum and
            ``Results.baselines.optimum_note`` says why.
        policy: ``rules`` (the rule stack) or ``rolling``: the rule controller following a
            rolling day-ahead schedule from the optimiser (48-h windows re-solved every 24 h),
            a miner cap below safety and the grid programs (``optimize.schedule``). The
            baselines are the same for both, so gain and regret compare.
        forecast: the price each rolling window sees: ``perfect``, ``dam`` (ERCOT day-ahead,
            bundled 2021-2024) or ``persistence`` (the last settled day repeated); ``rolling`` only.

    Returns:
        ``Results``: ``kpis`` (ballast, baseline, delta, unit per KPI), ``timeseries`` [MW,
        USD/MWh per interval], ``events``, ``monthly``, and ``write(dir)``/``report(path)``.

    Raises:
        ScenarioError: invalid scenario or overrides. DataError: a data series that cannot be
            used (the message names the file, column and row). OptimizeError: an unknown
            policy or forecast, or a schedule the optimiser cannot solve (the message says why).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    scenario = with_run(scenario, resolution=resolution, start=start, end=end)
    schedule, label, note = None, "rules", None
    if policy != "rules" or forecast != "perfect":
        from ballast.optimize.schedule import policy_label, policy_note, policy_schedule

        schedule = policy_schedule(policy, forecast)
        label, note = policy_label(policy, forecast), policy_note(policy, forecast)
    sim = _simulate_engine(scenario, progress=progress, policy=label, schedule=schedule)
    results = Results.from_simulation(sim)
    if note is not None:
        results = replace(results, notes=(*results.notes, note))
    if not baselines:
        return results
    from ballast.optimize.against import against_baselines  # here: highspy loads only when used

    rules = results.kpis[["ballast", "unit"]].rename(columns={"ballast": "value"})
    return results.with_baselines(against_baselines(results.simulation, rules, optimum=optimum))

