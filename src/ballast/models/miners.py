"""Miner catalog and group arithmetic.

Nameplate figures (docs/sources.md#miner-catalog; each entry names its source); firmware tuning and
temperature move them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MinerModel:
    """One ASIC model at nameplate: hashrate [TH/s], wall power [W], sleep power [W]."""

    name: str
    hashrate_th_s: float
    power_w: float
    source: str
    sleep_power_w: float = 25.0  # LuxOS curtail sleep ~25 W (Luxor, "How LuxOS Powers Down Fast")

    @property
    def efficiency_j_per_th(self) -> float:
        """Energy per terahash [J/TH] = W / (TH/s)."""
        return self.power_w / self.hashrate_th_s


CATALOG: dict[str, MinerModel] = {
    m.name: m
    for m in (
        MinerModel("Antminer S19", 95, 3250, "vendor spec via miningstore.com"),
        MinerModel("Antminer S19 Pro", 110, 3250, "vendor spec via miningstore.com"),
        MinerModel("Antminer S19j Pro", 100, 3050, "vendor spec via miningstore.com"),
        MinerModel("Antminer S19 XP", 140, 3010, "vendor spec via miningstore.com"),
        MinerModel("Antminer S21", 200, 3500, "Bitmain launch, 2023-10 (secondary)"),
        MinerModel("Antminer S21 XP", 270, 3645, "public spec tables (secondary)"),
        MinerModel("Whatsminer M30S", 88, 3344, "(secondary, check MicroBT spec card)"),
        MinerModel("Whatsminer M60", 172, 3422, "(secondary, check MicroBT spec card)"),
    )
}


def get_model(name: str) -> MinerModel:
    """Catalog lookup with a helpful error."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown miner model {name!r}; known: {sorted(CATALOG)}") from None
