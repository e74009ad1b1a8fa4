"""The rolling policy: the rule controller following a rolling day-ahead schedule.

The optimiser's rolling horizon (``rolling.solve_rolling``: 48-h windows re-solved every 24 h)
is solved on the backtest's own inputs and controller config, each window on the chosen price
forecast (``forecast``: perfect, the ERCOT day-ahead price, or persistence). The kept miner
power of each window becomes a cap per interval that the rule controller follows
(``sim.engine.simulate(schedule=...)``): one more rule below safety and the grid programs'
obligations. The cap is the schedule's miner power, sleeping miners included, so the
controller runs no more miners than the schedule (whole miners, the merit order's choice of
which); the economic rule may still curtail below it when the real-time price it decides on
is above breakeven.

The windows' objective has the 4CP charge where the scenario sets one (``rolling``): on the
real peak intervals with the perfect forecast, on the coincident-peak program's alert with the
others (``forecast.flagged_peak_charge``); a coincident-peak program still caps the miners
above the schedule.

Battery: the windows optimise the scenario battery with the miners (the perfect-foresight LP's
formulation, ``lp.build_lp``), each window starting at the state of charge the kept day before
it left and ending at least at the run's initial one. The schedule's battery power is played
through the battery's physics by the engine (``sim.battery``); the rule controller sees it as
part of the inflexible load, so a charge the schedule placed under the import limit still
sheds miners when the controller's own margin asks.

Reserve deployments (ECRS, ERS, Non-Spin ``deployments:``) are not known a day ahead: the
schedule leaves them out, and the engine's program plan caps the miners when one is
instructed (an obligation, above the schedule).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from ballast.control import ControllerConfig
from ballast.inputs import SiteInputs
from ballast.optimize.forecast import FORECASTS, coincident_peak_alert, forecast_problem
from ballast.optimize.model import OptimizeError, problem_from_inputs
from ballast.optimize.rolling import solve_rolling
from ballast.scenario import Scenario
from ballast.sim.engine import Schedule

POLICIES = ("rules", "rolling")
WINDOW_H = 48.0  # the day-ahead schedule's look-ahead [h]
COMMIT_H = 24.0  # re-solved once a day, each solve's first day kept


def rolling_schedule(
    scenario: Scenario, inputs: SiteInputs, config: ControllerConfig, forecast: str = "perfect"
) -> Schedule:
    """The rolling schedule: miner power per interval [MW, facility, sleeping miners
    included] and, with a scenario battery, its power [MW, discharge positive], each 24 h kept
    from a 48-h window solved on ``forecast``'s price. The decision of an interval uses only
    that forecast (with ``dam`` and ``persistence``, never the realised real-time price)."""
    p = problem_from_inputs(inputs, config, scenario)
    if p.reserves is not None:  # no foresight of deployments: the engine's plan caps the miners
        p = replace(p, reserves=replace(p.reserves, deployments=()))  # when one is instructed
    price = inputs.frame["price_usd_per_mwh"].to_numpy()
    alert = coincident_peak_alert(scenario, inputs.index) if p.peak_charge is not None else None
    seen = forecast_problem(
        p, forecast, price, scenario.markets.export_price_share, alert, scenario.site.timezone
    )
    s = solve_rolling(p, window_h=WINDOW_H, commit_h=COMMIT_H, forecast=seen)
    miner_mw = config.groups.power_mw(s.running).sum(axis=1)
    return Schedule(miner_mw, None if p.battery is None else s.battery_mw)


def rolling_schedule_mw(
    scenario: Scenario, inputs: SiteInputs, config: ControllerConfig, forecast: str = "perfect"
) -> np.ndarray:
    """The rolling schedule's miner power per interval [MW] (``rolling_schedule``)."""
    return rolling_schedule(scenario, inputs, config, forecast).miner_mw


def policy_label(policy: str, forecast: str) -> str:
    """The policy's name in results: ``rules`` or ``rolling (<forecast> forecast)``."""
    return policy if policy == "rules" else f"{policy} ({forecast} forecast)"


def policy_schedule(policy: str, forecast: str = "perfect"):
    """The engine's ``schedule`` argument for ``policy`` (None for the rules alone).
    ``OptimizeError`` naming the value and the choices for an unknown policy or forecast."""
    if policy not in POLICIES:
        raise OptimizeError(f"policy {policy!r}: expected one of {', '.join(POLICIES)}")
    if forecast not in FORECASTS:
        raise OptimizeError(f"forecast {forecast!r}: expected one of {', '.join(FORECASTS)}")
    if policy == "rules":
        if forecast != "perfect":
            raise OptimizeError(f"forecast {forecast!r}: a price forecast needs --policy rolling")
        return None
    return partial(rolling_schedule, forecast=forecast)


def policy_note(policy: str, forecast: str) -> str | None:
    """What the rolling policy is, for the results' notes (None for the rules)."""
    if policy == "rules":
        return None
    return (
        f"policy rolling: the rule controller follows a day-ahead schedule (48-h windows "
        f"solved every 24 h on the {forecast} price forecast, with the 4CP charge where the "
        "scenario sets one) as a miner cap below the import limit, the restore ramp and the grid "
        "programs; a scenario battery runs on the schedule's power (state of charge carried "
        "from day to day)"
    )
