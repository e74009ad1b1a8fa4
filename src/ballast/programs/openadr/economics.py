"""An OpenADR price event judged by the controller's economics, group by group.

Each miner group has its own breakeven power price (``control.build_group_params``: hashprice x
``breakeven_per_hashprice``, pool fee and cooling included, ``models.bitcoin
.breakeven_price_usd_per_mwh``). At an event price a group whose breakeven (plus its deadband)
is below the price stops, as the controller's hysteresis stops a running group
(``control.rules.update_economic_state_hp``); the others keep running. The miner cap is the
power of that fleet state (``physics.group_power_mw``: the kept groups hashing, the stopped
ones asleep at their sleep power).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ballast.control import ControllerConfig
from ballast.control.controller import GroupParams
from ballast.scenario import Scenario


@dataclass(frozen=True)
class SiteEconomics:
    """What a price event is judged with: the site's miner groups (from its scenario) and the
    hashprice [USD/PH/day] now."""

    groups: GroupParams
    hashprice_usd_per_ph_day: float

    @classmethod
    def from_scenario(cls, scenario: Scenario, hashprice_usd_per_ph_day: float) -> SiteEconomics:
        return cls(ControllerConfig.from_scenario(scenario).groups, hashprice_usd_per_ph_day)


@dataclass(frozen=True)
class GroupVerdict:
    """One group's answer to a price: curtail or keep running, and why."""

    name: str
    breakeven_usd_per_mwh: float
    deadband_usd_per_mwh: float
    curtail: bool
    reason: str

    def to_json(self) -> dict:
        return {
            "group": self.name,
            "curtail": self.curtail,
            "breakeven_usd_per_mwh": round(self.breakeven_usd_per_mwh, 3),
            "deadband_usd_per_mwh": self.deadband_usd_per_mwh,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PriceDecision:
    """The fleet's answer to one price: miner cap [MW] (inf: every group keeps running) and the
    verdict per group."""

    price_usd_per_mwh: float
    cap_mw: float
    groups: tuple[GroupVerdict, ...]


def price_decision(price_usd_per_mwh: float, economics: SiteEconomics) -> PriceDecision:
    """Curtail exactly the groups whose breakeven + deadband is below ``price_usd_per_mwh``;
    the cap is the miner power with those asleep and the rest hashing [MW]."""
    g = economics.groups
    hp = economics.hashprice_usd_per_ph_day
    breakeven = hp * g.breakeven_per_hashprice  # as the rule stack computes it per group
    curtail = price_usd_per_mwh > breakeven + g.deadband_usd_per_mwh
    verdicts = tuple(
        GroupVerdict(
            name,
            float(be),
            float(db),
            bool(c),
            f"price {price_usd_per_mwh:.2f} > breakeven {be:.2f} + deadband {db:g} "
            f"USD/MWh at hashprice {hp:g} USD/PH/day: asleep"
            if c
            else f"price {price_usd_per_mwh:.2f} <= breakeven {be:.2f} + deadband {db:g} "
            f"USD/MWh at hashprice {hp:g} USD/PH/day: keeps running",
        )
        for name, be, db, c in zip(g.names, breakeven, g.deadband_usd_per_mwh, curtail, strict=True)
    )
    if not curtail.any():
        return PriceDecision(price_usd_per_mwh, float("inf"), verdicts)
    running = np.where(curtail, 0, g.count)
    return PriceDecision(price_usd_per_mwh, float(g.power_mw(running).sum()), verdicts)
