"""The same dispatch problem built in PyPSA, the reference the tests and benchmark check
against (``pypsa`` is a development dependency, imported when called).

One bus: the AI load plus the sleeping miners as a fixed load; each miner group's flexible
power as a demand bid (a generator that can only consume, marginal cost minus its value per
MWh); grid import and export as generators priced at the real-time price; renewables as a
free, curtailable generator; the battery as a storage unit ending at least at its initial state
of charge (an extra linopy constraint). ``solve_pypsa_rolling``: PyPSA's own rolling horizon
(``optimize_with_rolling_horizon``, which carries the state of charge from window to window),
each window's battery ending at least at the run's initial state of charge, as in
``rolling.window``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.optimize.model import DispatchProblem


def pypsa_network(p: DispatchProblem):  # -> pypsa.Network
    """A PyPSA network of ``p`` (snapshots weighted by the interval length in hours)."""
    if p.peak_charge is not None or p.reserves is not None:
        raise ValueError("the PyPSA reference has no 4CP charge or reserves: drop them from the problem")
    import pypsa

    pypsa.options.api.legacy_string_dtype = False  # pandas 3 string dtype, PyPSA 2.0's default
    n = pypsa.Network()
    snapshots = p.index.tz_convert("UTC").tz_localize(None)
    n.set_snapshots(snapshots)
    n.snapshot_weightings.loc[:, :] = p.step_h
    n.add("Carrier", "electricity")
    n.add("Bus", "site", carrier="electricity")
    n.add("Load", "fixed", bus="site", p_set=pd.Series(p.ai_load_mw + p.sleep_total_mw, index=snapshots))
    per_mwh = 1.0 / p.step_h
    n.add(
        "Generator",
        "import",
        bus="site",
        p_nom=p.import_limit_mw,
        marginal_cost=pd.Series(p.import_cost_usd_per_mw * per_mwh, index=snapshots),
    )
    if p.export_limit_mw > 0:
        # closed at negative prices, as in the LP (curtailing is free there)
        closed = p.import_cost_usd_per_mw + p.export_cost_usd_per_mw < 0
        n.add(
            "Generator",
            "export",
            bus="site",
            p_nom=p.export_limit_mw,
            p_max_pu=0.0,
            p_min_pu=pd.Series(np.where(closed, 0.0, -1.0), index=snapshots),
            marginal_cost=pd.Series(-p.export_cost_usd_per_mw * per_mwh, index=snapshots),
        )
    flex_mw = p.run_mw - p.sleep_mw
    for g in range(len(p.count)):
        p_nom = float(p.count[g] * flex_mw[g])
        if p_nom <= 0:
            continue
        value = p.value_usd_per_miner[:, g] / flex_mw[g] * per_mwh  # USD per MWh consumed
        n.add(
            "Generator",
            f"miners_{g}",
            bus="site",
            p_nom=p_nom,
            p_max_pu=0.0,
            p_min_pu=-1.0,
            marginal_cost=pd.Series(value, index=snapshots),
        )
    ren_max = float(p.renewable_mw.max())
    if ren_max > 0:
        n.add(
            "Generator",
            "renewables",
            bus="site",
            p_nom=ren_max,
            marginal_cost=0.0,
            p_max_pu=pd.Series(p.renewable_mw / ren_max, index=snapshots),
        )
    if p.battery is not None:
        b = p.battery
        n.add(
            "StorageUnit",
            "battery",
            bus="site",
            p_nom=b.power_mw,
            max_hours=b.energy_mwh / b.power_mw,
            efficiency_store=b.efficiency,
            efficiency_dispatch=b.efficiency,
            state_of_charge_initial=b.initial_soc_mwh,
            cyclic_state_of_charge=False,
        )
    return n


def final_soc_floor(p: DispatchProblem):
    """PyPSA ``extra_functionality``: the battery's state of charge at the last snapshot
    optimised at least ``p``'s final floor (its initial state of charge unless set)."""
    b = p.battery
    floor_mwh = (
        None if b is None else b.initial_soc_mwh if b.final_soc_min_mwh is None else b.final_soc_min_mwh
    )

    def add(net, snapshots) -> None:
        if floor_mwh is not None:
            soc = net.model["StorageUnit-state_of_charge"]
            net.model.add_constraints(
                soc.loc[snapshots[-1], "battery"] >= floor_mwh, name="battery_final_soc"
            )

    return add


OPTIONS = {
    "solver_name": "highs",
    "solver_options": {"output_flag": False},
    "include_objective_constant": False,
}


def solve_pypsa(p: DispatchProblem) -> float:
    """Build, solve (HiGHS) and assign the PyPSA case; its optimum in the LP's sense [USD]:
    mining revenue minus energy cost (PyPSA minimises the negative)."""
    n = pypsa_network(p)
    status, condition = n.optimize(extra_functionality=final_soc_floor(p), **OPTIONS)
    if status != "ok":
        raise RuntimeError(f"PyPSA/HiGHS: {status} {condition}")
    return -float(n.objective)


def solve_pypsa_rolling(p: DispatchProblem, window_h: float, commit_h: float):  # -> pypsa.Network
    """PyPSA's rolling horizon on ``p``: windows of ``window_h`` re-solved every ``commit_h``
    hours, each keeping the dispatch of the ``commit_h`` before the next one starts. The
    network holds the kept dispatch (``realised_value_usd`` prices it)."""
    n = pypsa_network(p)
    w, c = round(window_h / p.step_h), round(commit_h / p.step_h)
    n.optimize.optimize_with_rolling_horizon(
        horizon=w, overlap=w - c, extra_functionality=final_soc_floor(p), **OPTIONS
    )
    return n


def realised_value_usd(n) -> float:
    """Mining revenue minus energy cost [USD] of the dispatch ``n`` holds: minus the
    generators' marginal cost times their output, weighted by the snapshot hours."""
    p = n.generators_t.p
    cost = pd.DataFrame({g: n.generators.marginal_cost[g] for g in p.columns}, index=p.index)
    varying = n.generators_t.marginal_cost
    cost[varying.columns] = varying
    hours = n.snapshot_weightings.generators
    return -float((p * cost).sum(axis=1) @ hours)
