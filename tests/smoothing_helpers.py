"""Small training-campus scenarios for the smoothing tests (bundled ERCOT/Bitcoin data)."""

from __future__ import annotations

import copy

from ballast.scenario import parse_scenario

CAMPUS: dict = {
    "version": 1,
    "name": "test-training",
    "site": {"import_limit_mw": 215, "export_limit_mw": 0},
    "ai": {"it_load_mw": 125, "pue": 1.2, "profile": "training",
           "training": {"crashes_per_day": 0, "checkpoint_every_s": 0, "checkpoint_s": 0}},
    "miners": [
        {"name": "s19xp", "model": "Antminer S19 XP", "count": 5000},
        {"name": "s21", "model": "Antminer S21", "count": 6000},
        {"name": "s21xp", "model": "Antminer S21 XP", "count": 5800},
    ],
    "smoothing": {"ramp_up_mw_per_s": 1.0, "ramp_down_mw_per_s": 1.0, "ramp_window_s": 60},
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "run": {"start": "2024-07-01T00:00:00Z", "end": "2024-07-01T01:00:00Z", "resolution": "1s",
            "seed": 1},
}


def campus(**changes) -> dict:
    """A copy of CAMPUS; keyword ``a__b`` sets doc['a']['b']."""
    doc = copy.deepcopy(CAMPUS)
    for key, value in changes.items():
        parts = key.split("__")
        node = doc
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return doc


def scenario(**changes):
    return parse_scenario(campus(**changes))
