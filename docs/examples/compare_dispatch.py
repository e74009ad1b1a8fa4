"""Economic dispatch on and off on the bundled West Texas 2024 campus.

Shown in docs/tutorials/compare-policies.md; run with `python docs/examples/compare_dispatch.py`.
"""

import ballast

scenario = ballast.load_scenario("west_texas_2024")
for on in (True, False):
    control = scenario.control.model_copy(update={"economic_dispatch": on})
    kpis = ballast.simulate(scenario.model_copy(update={"control": control})).kpis
    print(f"economic dispatch {'on ' if on else 'off'}:",
          f"net margin {kpis.loc['net_margin_usd', 'ballast'] / 1e6:.2f} M USD,",
          f"energy cost {kpis.loc['energy_cost_usd', 'ballast'] / 1e6:.2f} M USD,",
          f"BTC {kpis.loc['btc_mined', 'ballast']:.0f}")
