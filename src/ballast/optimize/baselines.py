"""The strike-price baseline: how commercial fleet managers run miners today.

Foreman, Braiins Manager and Foundry OptiFleet curtail each miner group while the real-time
price is above a strike, with no foresight, shedding the least efficient first (vendor
documentation; docs/sources.md#merit-order-practice). Here the strike is each group's breakeven
at the interval's hashprice (``control.controller.build_group_params``), and the run is Ballast's
own controller with the practice's settings: no hysteresis, no minimum on/off times, no
following of renewable surplus, and no restore ramp (like the all-on baseline, the practice
wakes its miners as fast as they go). The interconnect limit still holds (a fleet manager does not
overload the site either). A strike set per group in the scenario is not supported yet.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ballast.control import ControllerConfig
from ballast.sim.engine import RunSeries, Simulation, run_policy


def strike_price_config(config: ControllerConfig) -> ControllerConfig:
    """``config`` with the practice's settings: strike = breakeven, no deadband or minimum
    times, no renewable following, no restore ramp."""
    zeros = np.zeros(len(config.groups.names))
    groups = replace(config.groups, deadband_usd_per_mwh=zeros, min_on_s=zeros, min_off_s=zeros)
    return replace(config, groups=groups, economic_dispatch=True, absorb_renewables=False,
                   restore_ramp_mw_per_min=None)


def strike_price_run(sim: Simulation) -> RunSeries:
    """The strike-price baseline on the backtest's own inputs."""
    return run_policy(strike_price_config(sim.config), sim.inputs, "strike_price")
