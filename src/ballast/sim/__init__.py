"""Backtest engine: controller over a horizon, baseline in the same call, results document."""

from ballast.sim.engine import RunSeries, Simulation, run_policy, simulate
from ballast.sim.results import Results

__all__ = ["Results", "RunSeries", "Simulation", "run_policy", "simulate"]
