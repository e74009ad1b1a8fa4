"""Dispatch optimisation on HiGHS: the perfect-foresight optimum of a scenario and the rule
controller's regret against it (``compare``)."""

from ballast.optimize.dispatch import OPTIMIZE_SCHEMA, Comparison, Optimum, compare, optimize_simulation
from ballast.optimize.model import InfeasibleError, OptimizeError, SolverError

__all__ = [
    "OPTIMIZE_SCHEMA",
    "Comparison",
    "InfeasibleError",
    "OptimizeError",
    "Optimum",
    "SolverError",
    "compare",
    "optimize_simulation",
]
