"""The worked example of docs/tutorials/own-site.md from Python (run from the repository root)."""

from pathlib import Path

import ballast

here = Path(__file__).parent
result = ballast.simulate(here / "my_site.yaml")  # a path or a bundled name; prices.csv is relative to it
print(result.kpis.loc[["net_margin_usd", "energy_cost_usd", "btc_mined"]])  # ballast, baseline, delta, unit
result.write("out/my_site")  # timeseries.parquet, kpis.json, kpis.csv, monthly.csv, events.csv
result.report("out/my_site/report.html")
