"""Every per-interval input of a run, built from the scenario (``build_inputs``), and when
each value is known (``availability``).

A layer of its own, below the hosts: the backtest (``sim/``), the programs' plan
(``programs/``) and the live market replay (``live/``) all read it, and none of them imports
another to get it.
"""

from ballast.inputs.site import SiteInputs, build_inputs, step_hours

__all__ = ["SiteInputs", "build_inputs", "step_hours"]
