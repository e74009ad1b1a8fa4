"""Small sweeps on a three-day, 15-minute West-Texas-like campus (bundled data)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from tests.conftest import BASE_SCENARIO

SHORT_RUN = {"start": "2024-05-01T00:00:00Z", "end": "2024-05-04T00:00:00Z", "resolution": "15min"}


def write_base(folder: Path) -> Path:
    doc = copy.deepcopy(BASE_SCENARIO)
    doc["run"] = dict(SHORT_RUN)
    doc["ai"]["noise_share"] = 0.05  # stochastic: run seeds change the table
    path = folder / "base.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def write_sweep(folder: Path, **fields) -> Path:
    write_base(folder)
    doc = {"version": 1, "name": "test-sweep", "base": "base.yaml", "seed": 11, **fields}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


GRID = {"miners[s21].count": [5000, 15000], "site.import_limit_mw": [240.0, 280.0, 320.0]}
