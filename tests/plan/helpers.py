"""A small plan document for tests, as a dict to vary and write."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

BASE: dict = {
    "version": 1,
    "name": "test-plan",
    "start_year": 2025,
    "horizon_years": 6,
    "discount_rate": 0.10,
    "tax_rate": 0.0,
    "site": {"mining_mw": 100.0, "interconnect_mw": 100.0},
    "mining": {"efficiency_j_per_th": 20.0, "pue": 1.0, "uptime": 1.0, "power_price_usd_per_mwh": 40.0},
    "hosting": {
        "capex_usd_per_mw": 1_000_000.0,
        "lease_usd_per_kw_month": 100.0,
        "term_years": 4,
        "build_years": 1,
        "pue": 1.25,
    },
    "bitcoin": {
        "start_price_usd": 100_000.0,
        "start_difficulty": 1.0e14,
        "difficulty_growth_per_yr": 0.0,
        "cases": {"flat": 0.0, "bull": 0.5},
        "paths": {"n": 50, "seed": 1, "log_drift_per_yr": 0.0, "volatility_per_yr": 0.5},
    },
    "strategies": [
        {"name": "keep", "kind": "keep_mining"},
        {"name": "convert_half", "kind": "convert", "phases": [{"year": 2026, "mw": 50.0}]},
    ],
}


def plan_doc(**changes) -> dict:
    """BASE with top-level sections replaced or merged (a dict value merges one level)."""
    doc = copy.deepcopy(BASE)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return doc


def write_plan(folder: Path, doc: dict, name: str = "plan.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
