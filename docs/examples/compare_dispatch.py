"""Economic dispatch on and off on the bundled West Texas 2024 campus.

Shown in docs/tutorials/compare-policies.md; run with `python docs/examples/compare_dispatch.py`.
"""

from ballast.examples import find_example
from ballast.scenario import load_scenario, parse_scenario
from ballast.sim import Results, simulate

path = find_example("west_texas_2024")
base = load_scenario(path).model_dump(mode="json")
for on in (True, False):
    data = {**base, "control": {**base["control"], "economic_dispatch": on}}
    scenario = parse_scenario(data, f"{path} (economic_dispatch={on})")
    kpis = Results.from_simulation(simulate(scenario, base_dir=path.parent)).kpis
    print(f"economic dispatch {'on ' if on else 'off'}:",
          f"net margin {kpis.loc['net_margin_usd', 'ballast'] / 1e6:.2f} M USD,",
          f"energy cost {kpis.loc['energy_cost_usd', 'ballast'] / 1e6:.2f} M USD,",
          f"BTC {kpis.loc['btc_mined', 'ballast']:.0f}")
