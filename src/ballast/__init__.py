"""Ballast: run hybrid AI + Bitcoin-mining campuses behind one grid connection.

    import ballast
    scenario = ballast.load_scenario("west_texas_2024")     # a bundled name or a YAML path
    result = ballast.simulate(scenario, resolution="15min")
    result.kpis; result.timeseries; result.events; result.write("out/"); result.report("r.html")

Sign convention (everywhere): power drawn by the site from the grid is positive (import),
export is negative. Loads are positive. Time is UTC inside. Units are in every name that holds a
quantity (``power_mw``, ``price_usd_per_mwh``).

The names below load on first use, so ``import ballast`` (and ``ballast --help``) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"  # the one place: pyproject.toml reads it (tool.setuptools.dynamic)

# public name -> module that defines it
_EXPORTS = {
    "load_scenario": "ballast.backtest",
    "simulate": "ballast.backtest",
    "with_run": "ballast.backtest",
    "Results": "ballast.sim.results",
    "Scenario": "ballast.scenario",
    "ScenarioError": "ballast.scenario",
    "DataError": "ballast.data.errors",
    "bundled_names": "ballast.examples",
}

__all__ = ["DataError", "Results", "Scenario", "ScenarioError", "bundled_names", "load_scenario",
           "simulate", "with_run"]  # the keys of _EXPORTS (a test checks)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads lazily
    from ballast.backtest import load_scenario, simulate, with_run
    from ballast.data.errors import DataError
    from ballast.examples import bundled_names
    from ballast.scenario import Scenario, ScenarioError
    from ballast.sim.results import Results


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ballast' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
