"""The strike-price baseline: each group runs exactly while the price is at or below its
breakeven, with no foresight, hysteresis or minimum times."""

from __future__ import annotations

import copy

import numpy as np

from ballast.models.bitcoin import breakeven_price_usd_per_mwh
from ballast.models.miners import get_model
from ballast.optimize import compare
from ballast.optimize.baselines import strike_price_run
from ballast.scenario import parse_scenario
from tests.conftest import BASE_SCENARIO


def test_groups_run_exactly_below_their_breakeven():
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["site"]["import_limit_mw"] = 1000  # the limit never binds: only the strike decides
    doc["renewables"] = []
    # the flat fee share: with May 2024's real fees the most efficient group's strike sits above
    # every price of the week, and the test needs each strike crossed both ways
    doc["markets"]["bitcoin"] = {"fees": "share"}
    scn = parse_scenario(doc)
    c = compare(scn)
    run = strike_price_run(c.simulation)
    frame = c.simulation.inputs.frame
    price = frame["decision_price_usd_per_mwh"].to_numpy()  # no foresight: the last settled
    for grp in scn.miners:
        # breakeven at the meter: the catalog's efficiency, hashprice net of pool fee, cooling
        eff = get_model(grp.model).efficiency_j_per_th
        strike = (
            breakeven_price_usd_per_mwh(frame["hashprice_usd_per_ph_day"].to_numpy(), eff)
            * (1 - grp.pool_fee_share)
            / grp.pue
        )
        running = run.group_running[grp.name].to_numpy()
        below, above = price < strike - 1e-6, price > strike + 1e-6
        assert below.any() and above.any()  # the week crosses each strike both ways
        np.testing.assert_array_equal(running[below], grp.count)
        np.testing.assert_array_equal(running[above], 0)
    # the practice never beats the optimum
    margin = c.table.loc["net_margin_usd"]
    assert margin.optimum >= margin.strike_price
    doc_json = c.to_json()
    assert doc_json["gain_over_practice_usd"] == margin.rules - margin.strike_price
    assert set(doc_json["kpis"]["net_margin_usd"]) == {"rules", "strike_price", "optimum", "delta", "unit"}
