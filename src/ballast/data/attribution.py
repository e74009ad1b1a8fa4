"""Attributions that bundled data sets require wherever their numbers are shown (NOTICE)."""

from __future__ import annotations

from ballast.data.loaders import BUNDLED_PREFIX

# bundled data set (file stem) -> the attribution its licence requires
BUNDLED_ATTRIBUTIONS: dict[str, str] = {
    "ercot_carbon_intensity_hourly_2021_2024": (
        "Carbon intensity: Electricity Maps (electricitymaps.com), zone US-TEX-ERCO, built "
        "from EIA-930; licensed under the Open Database License (ODbL)."),
    "bitcoin_daily_network_coinmetrics_2020_2025": (
        "Bitcoin fees, subsidy, hash rate and price: Coin Metrics Community Network Data "
        "(coinmetrics.io), licensed under CC BY-NC 4.0 (non-commercial use only)."),
}


def _bundled_line(source: str) -> str | None:
    if source.startswith(BUNDLED_PREFIX):
        return BUNDLED_ATTRIBUTIONS.get(source[len(BUNDLED_PREFIX):].rsplit(".", 1)[0])
    return None


def carbon_attribution(source: str | None) -> str | None:
    """The line to show next to CO2 figures computed from ``source`` (a scenario's
    ``markets.carbon.source``); None when no carbon series is used."""
    if source is None:
        return None
    return _bundled_line(source) or f"Carbon intensity: {source} (supplied with the scenario)."


def bitcoin_attribution(source: str) -> str | None:
    """The line to show next to figures computed from a Bitcoin data ``source`` whose licence
    asks for one (the bundled Coin Metrics series); None otherwise."""
    return _bundled_line(source)
