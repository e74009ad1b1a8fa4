"""``ballast data``: one table of bundled series, checked against the files, NOTICE and
PROVENANCE.md (issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from ballast.cli import app
from ballast.data.catalog import CATALOG
from ballast.data.loaders import bundled_folder, read_table

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _rows() -> list[dict]:
    result = runner.invoke(app, ["data", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "ballast.data/1"
    return doc["series"]


def test_catalog_names_every_bundled_file_and_column_and_they_exist():
    files = {p.name for p in bundled_folder().iterdir() if p.suffix in (".parquet", ".csv")}
    assert {ds.file for ds in CATALOG} == files
    notice = (ROOT / "NOTICE").read_text()
    provenance = (ROOT / "src/ballast/data/bundled/PROVENANCE.md").read_text()
    for ds in CATALOG:
        columns = set(read_table(bundled_folder() / ds.file).columns)
        assert {s.column for s in ds.series} <= columns, ds.file
        assert ds.time_column is None or ds.time_column in columns, ds.file
        assert ds.file in notice and ds.file in provenance, ds.file
        assert ds.source and ds.licence


def test_json_spans_and_gaps_match_the_files():
    rows = {(r["file"], r["column"]): r for r in _rows()}
    assert len(rows) == sum(len(ds.series) for ds in CATALOG)
    # 15-minute HB_HUBAVG prices, no gaps: first and last stamp read straight from the file
    prices = pd.read_parquet(bundled_folder() / "ercot_rtm_hb_hubavg_15min_2024_2025.parquet")
    r = rows[("ercot_rtm_hb_hubavg_15min_2024_2025.parquet", "price_usd_per_mwh")]
    assert r["resolution"] == "15 min" and r["gaps"] == 0 and r["unit"] == "USD/MWh"
    assert pd.Timestamp(r["first_utc"]) == prices["interval_start_utc"].iloc[0]
    assert pd.Timestamp(r["last_utc"]) == prices["interval_start_utc"].iloc[-1]
    assert pd.Timestamp(r["end_utc"]) == pd.Timestamp("2025-12-01T00:00Z")
    # EIA-930 PJM holds NaN hours: each is a gap inside the span that has values
    eia = pd.read_parquet(bundled_folder() / "eia930_demand_hourly_2016_2024.parquet")
    pjm = eia["PJM_demand_mw"]
    inside = pjm.loc[pjm.first_valid_index():pjm.last_valid_index()]
    r = rows[("eia930_demand_hourly_2016_2024.parquet", "PJM_demand_mw")]
    assert r["resolution"] == "1 h" and r["gaps"] == int(inside.isna().sum()) > 0
    assert "CC BY 4.0" in r["licence"]
    # the carbon intensity carries its ODbL attribution
    r = rows[("ercot_carbon_intensity_hourly_2021_2024.parquet", "carbon_intensity_g_per_kwh")]
    assert "ODbL" in r["licence"] and "Electricity Maps" in r["licence"]
    # as-of figures have no resolution and no gaps, but a first and last instant
    r = rows[("ercot_wind_solar_installed_capacity_2023_2025.parquet", "ercot_wind_installed_mw")]
    assert r["gaps"] is None and r["resolution"].startswith("irregular")
    assert r["first_utc"].startswith("2023-01-01") and r["last_utc"].startswith("2026-01-01")
    btc = rows[("bitcoin_daily_2020_2025.parquet", "btc_price_usd")]
    assert btc["resolution"] == "1 day" and np.isfinite(btc["gaps"])


def test_table_lists_every_series():
    result = runner.invoke(app, ["data"])
    assert result.exit_code == 0, result.output
    flat = "".join(result.output.split())  # the table folds long names over lines
    for ds in CATALOG:
        assert ds.file in flat, ds.file


def test_data_command_loads_lazily():
    """The command module imports only typer at load time (cli/_common.py)."""
    code = ("import sys; import ballast.cli.data; "
            "print(sorted(m for m in ('pandas', 'numpy', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
