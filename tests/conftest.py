"""Shared fixtures: small scenarios on the bundled data."""

from __future__ import annotations

import copy

import pytest

BASE_SCENARIO: dict = {
    "version": 1,
    "name": "test-campus",
    "site": {"name": "test", "import_limit_mw": 280, "export_limit_mw": 100},
    "ai": {"it_load_mw": 100, "pue": 1.3},
    "miners": [
        {"name": "s19jpro", "model": "Antminer S19j Pro", "count": 16000},
        {"name": "s19xp", "model": "Antminer S19 XP", "count": 16000},
        {"name": "s21", "model": "Antminer S21", "count": 15000},
    ],
    "renewables": [{"name": "wind", "kind": "wind", "capacity_mw": 150}],
    "markets": {
        "price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"},
        "carbon": {"source": "bundled:ercot_carbon_intensity_hourly_2021_2024"},
    },
    "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-08T00:00:00Z",
            "resolution": "15min"},
}


@pytest.fixture
def scenario_dict() -> dict:
    """A fresh copy of a one-week West-Texas-like scenario document."""
    return copy.deepcopy(BASE_SCENARIO)
