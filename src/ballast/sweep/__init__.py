"""Sweeps: many scenario runs on Dask (LocalCluster by default, any scheduler at scale).

Dask is imported only when a sweep runs (``ballast.sweep.engine``)."""

from ballast.sweep.document import RunSpec, Sweep, SweepError, SweepPlan, load_sweep

__all__ = ["RunSpec", "Sweep", "SweepError", "SweepPlan", "load_sweep"]
