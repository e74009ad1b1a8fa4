"""Attributions that bundled data sets require wherever their numbers are shown (NOTICE)."""

from __future__ import annotations

from ballast.data.loaders import BUNDLED_PREFIX

# bundled data set (file stem) -> the attribution its licence requires
BUNDLED_ATTRIBUTIONS: dict[str, str] = {
    "ercot_carbon_intensity_hourly_2021_2024": (
        "Carbon intensity: Electricity Maps (electricitymaps.com), zone US-TEX-ERCO, built "
        "from EIA-930; licensed under the Open Database License (ODbL)."),
}


def carbon_attribution(source: str | None) -> str | None:
    """The line to show next to CO2 figures computed from ``source`` (a scenario's
    ``markets.carbon.source``); None when no carbon series is used."""
    if source is None:
        return None
    if source.startswith(BUNDLED_PREFIX):
        name = source[len(BUNDLED_PREFIX):].rsplit(".", 1)[0]
        if name in BUNDLED_ATTRIBUTIONS:
            return BUNDLED_ATTRIBUTIONS[name]
    return f"Carbon intensity: {source} (supplied with the scenario)."
