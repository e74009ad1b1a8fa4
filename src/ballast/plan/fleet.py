"""The mining fleet against the network over a site's life (docs/plan.md#fleet): hash rate and
gross revenue per grid MW, the network's average efficiency per year, the difficulty growth it
implies, and repowering (a new miner model from a given year, or from the first year the old
fleet's margin falls below a threshold), with its capex per TH/s.

How ageing enters, counted once: difficulty is proportional to the network's hash rate, which
is the network's power over its average J/TH. A plan gives either the difficulty's growth
(``bitcoin.difficulty_growth_per_yr``: the network's efficiency gains are already inside it) or
the network's power growth and efficiency change (``bitcoin.network_power_growth_per_yr`` and
``network_efficiency_change_per_yr``), from which difficulty grows (1 + power growth) / (1 +
efficiency change) - 1 a year. Either way hashprice per TH falls as the network hashes more
cheaply, while a fixed fleet keeps its own J/TH and so its energy per TH: its margin shrinks.
The fleet's revenue is never scaled a second time for its efficiency gap.

A mixed fleet (``mining.models``) is a stack of miner models, least efficient first: each model
earns and pays for its own MW and idles on its own in a year its hashprice does not cover its
energy (the least efficient idle first). A conversion takes MW from the bottom of the stack
(the least efficient models first: what an operator retires first); hybrid ballast miners are
the best of the converted MW's miners. A repowering replaces every model at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from ballast.documents import StrictModel
from ballast.plan import bitcoin_future as bf

if TYPE_CHECKING:  # the Plan imports this module
    from ballast.plan.document import Plan

HOURS_PER_YEAR = 8766.0  # 365.25 days: the same year length as the daily BTC economics
# IRS Publication 946, Appendix B, asset class 00.12 "Information Systems" (computers and
# peripheral equipment): 5-year GDS property; ASIC miners are depreciated as such.
MINER_RECOVERY_YEARS = 5


class Repower(StrictModel):
    """Replace the fleet's miners with a newer model: from ``year``, or from the first year
    the old fleet's margin in the base price case falls below ``margin_below``."""

    efficiency_j_per_th: float = Field(gt=0, description="The new model's efficiency [J/TH].")
    capex_usd_per_th_s: float = Field(
        ge=0,
        description="Price of the new miners, installed [USD per TH/s] (spent in the repower year on every miner then running, mining and ballast).",
    )
    year: int | None = Field(
        None, description="Calendar year the new miners hash from. Give this or margin_below."
    )
    margin_below: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Repower from the first year whose margin of the old fleet, 1 - energy cost / revenue in the base price case at the plan's power price, falls below this [-]. Give this or year.",
    )
    recovery_years: int = Field(
        MINER_RECOVERY_YEARS,
        description="MACRS recovery period of the new miners [years] (IRS Pub 946 Table A-1). Default 5 (computers and peripheral equipment, asset class 00.12).",
    )

    @model_validator(mode="after")
    def _one_trigger(self) -> Repower:
        if (self.year is None) == (self.margin_below is None):
            raise ValueError("give either year or margin_below (exactly one)")
        if self.recovery_years not in (3, 5, 7, 10, 15, 20):
            raise ValueError(
                f"recovery_years {self.recovery_years}: MACRS (Pub 946 Table A-1) has 3, 5, 7, 10, 15 or 20"
            )
        return self


class FleetModel(StrictModel):
    """One miner model of a mixed fleet: its share of the site's mining MW (or its MW) and J/TH."""

    name: str = Field(min_length=1, description="Model name (unique), e.g. S19 XP.")
    share: float | None = Field(
        None, gt=0, le=1, description="Share of site.mining_mw [-]; the shares sum to 1. Give this or mw."
    )
    mw: float | None = Field(
        None,
        gt=0,
        description="Grid MW of this model [MW]; the MW sum to site.mining_mw. Give this or share.",
    )
    efficiency_j_per_th: float = Field(gt=0, description="The model's efficiency [J/TH].")

    @model_validator(mode="after")
    def _share_or_mw(self) -> FleetModel:
        if (self.share is None) == (self.mw is None):
            raise ValueError("give either share or mw (exactly one)")
        return self


def fleet_problems(plan: Plan) -> list[str]:
    """The mixed fleet's cross-field problems (``mining.models``), one line each naming its field."""
    m = plan.mining
    if (m.efficiency_j_per_th is None) == (m.models is None):
        return [
            "mining.efficiency_j_per_th, mining.models: give exactly one (one fleet J/TH, or a list of models)"
        ]
    if m.models is None:
        return []
    problems = []
    if not m.models:
        problems.append("mining.models: give at least one model")
    names = [md.name for md in m.models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"mining.models: duplicate names {dupes}")
    shares = [md.share for md in m.models if md.share is not None]
    if shares and len(shares) != len(m.models):
        problems.append("mining.models: give every model a share or every model its mw, not a mix")
    elif shares and abs(sum(shares) - 1.0) > 1e-6:
        problems.append(f"mining.models: the shares sum to {sum(shares):g}, not 1")
    elif not shares and m.models and abs(sum(md.mw for md in m.models) - plan.site.mining_mw) > 1e-6:
        problems.append(
            f"mining.models: the models' mw sum to {sum(md.mw for md in m.models):g} MW, "
            f"not site.mining_mw ({plan.site.mining_mw:g} MW)"
        )
    if plan.optimize is not None and plan.optimize.allow_ballast:
        problems.append(
            "optimize.allow_ballast: with mining.models the optimiser values a converted block's "
            "models but not its ballast miners by model; set allow_ballast: false"
        )
    return problems


def fleet_models(plan: Plan) -> list[tuple[str, float, float]]:
    """(name, grid MW at the start, J/TH) per miner model, least efficient first (the order a
    conversion takes them in); one entry, ``fleet``, for a single fleet J/TH."""
    m, site_mw = plan.mining, plan.site.mining_mw
    if m.models is None:
        return [("fleet", site_mw, float(m.efficiency_j_per_th))]
    rows = [
        (md.name, site_mw * md.share if md.mw is None else md.mw, md.efficiency_j_per_th) for md in m.models
    ]
    return sorted(rows, key=lambda row: -row[2])  # stable: equal J/TH keep their order


def start_efficiency_j_per_th(plan: Plan) -> float:
    """The J/TH of the whole fleet at the start (``average_efficiency_j_per_th`` of its models)."""
    if plan.mining.models is None:
        return float(plan.mining.efficiency_j_per_th)
    models = fleet_models(plan)
    return float(average_efficiency_j_per_th([mw for _n, mw, _e in models], [e for *_x, e in models]))


def stack_mw(model_mw, taken_mw) -> np.ndarray:
    """MW taken from each model (models, years) when ``taken_mw`` (per year) is taken from the
    bottom of the stack ``model_mw`` (least efficient first)."""
    below = np.cumsum(model_mw) - np.asarray(model_mw)
    return np.clip(np.asarray(taken_mw)[None, :] - below[:, None], 0.0, np.asarray(model_mw)[:, None])


def average_efficiency_j_per_th(grid_mw, efficiency_j_per_th) -> np.ndarray:
    """The J/TH of miners together (models on the first axis): MW over the sum of MW / (J/TH),
    the efficiency with their total hash rate; the plain mean where there are no MW."""
    mw, eff = np.asarray(grid_mw, float), np.asarray(efficiency_j_per_th, float)
    total, th = mw.sum(axis=0), (mw / eff).sum(axis=0)
    return np.where(total > 0, total / np.where(th > 0, th, 1.0), eff.mean(axis=0))


class ByModel(NamedTuple):
    """A schedule's miners per model (models, years), least efficient first, and the J/TH of
    the miners held (mining and ballast) per year."""

    names: tuple[str, ...]
    mining_mw: np.ndarray
    ballast_mw: np.ndarray
    model_efficiency_j_per_th: np.ndarray
    efficiency_j_per_th: np.ndarray


def by_model(plan: Plan, converted_mw, ballast_mw, index: int | None) -> ByModel:
    """Per model: MW mining (conversion takes the least efficient first), MW of ballast (the
    best of the converted miners) and J/TH per year (every model repowered from ``index``).
    One model: the site's totals themselves."""
    m, years = plan.mining, len(converted_mw)
    models = fleet_models(plan)
    names = tuple(name for name, _mw, _eff in models)
    eff = np.array([fleet_efficiency_j_per_th(years, e, m.repower, index) for *_x, e in models])
    if len(models) == 1:
        mining = plan.site.mining_mw - converted_mw
        return ByModel(names, mining[None, :], np.asarray(ballast_mw)[None, :], eff, eff[0])
    model_mw = np.array([mw for _n, mw, _eff in models])
    taken = stack_mw(model_mw, converted_mw)
    kept = taken - stack_mw(model_mw, converted_mw - ballast_mw)
    mining = model_mw[:, None] - taken
    return ByModel(names, mining, kept, eff, average_efficiency_j_per_th(mining + kept, eff))


def firm_by_model(model_ballast_mw, ballast_mw, firm_mw) -> np.ndarray:
    """The ballast hashing firm per model: a like share of each model's ballast (one model:
    ``firm_mw`` itself)."""
    if len(model_ballast_mw) == 1:
        return np.asarray(firm_mw, float)[None, :]
    ballast = np.asarray(ballast_mw, float)
    share = np.divide(firm_mw, ballast, out=np.zeros(ballast.shape), where=ballast > 0)
    return model_ballast_mw * share


def repower_problems(plan: Plan) -> list[str]:
    """The repowering's cross-field problems, one line each naming its field."""
    rp, end = plan.mining.repower, plan.start_year + plan.horizon_years - 1
    problems = []
    if rp is not None and rp.year is not None and not plan.start_year <= rp.year <= end:
        problems.append(f"mining.repower.year: {rp.year} is outside the plan's years {plan.start_year}-{end}")
    m = plan.mining
    if (
        rp is not None
        and m.efficiency_j_per_th is not None
        and rp.efficiency_j_per_th >= m.efficiency_j_per_th
    ):
        problems.append(
            f"mining.repower.efficiency_j_per_th: {rp.efficiency_j_per_th:g} J/TH is no better than "
            f"the fleet's mining.efficiency_j_per_th ({m.efficiency_j_per_th:g})"
        )
    best = min((md.efficiency_j_per_th for md in m.models or []), default=None)
    if rp is not None and best is not None and rp.efficiency_j_per_th >= best:
        problems.append(
            f"mining.repower.efficiency_j_per_th: {rp.efficiency_j_per_th:g} J/TH is no better than "
            f"the best of mining.models ({best:g})"
        )
    return problems


def hashrate_ph_s(grid_mw, efficiency_j_per_th, pue: float) -> np.ndarray:
    """Hash rate [PH/s] of ``grid_mw`` of miners: grid MW / PUE x 1e6 W / (J/TH) / 1000."""
    return np.asarray(grid_mw) / pue * 1e6 / np.asarray(efficiency_j_per_th) / 1000.0


def gross_mining_usd(
    grid_mw, uptime, hashprice_usd_per_ph_day, power_price_usd_per_mwh, efficiency_j_per_th, pue
):
    """(revenue [USD/yr], energy cost [USD/yr], energy [MWh/yr]) of ``grid_mw`` of miners
    hashing ``uptime`` of the year, before the option to idle."""
    revenue = (
        hashprice_usd_per_ph_day
        * hashrate_ph_s(grid_mw, efficiency_j_per_th, pue)
        * uptime
        * bf.DAYS_PER_YEAR
    )
    energy_mwh = np.asarray(grid_mw) * uptime * HOURS_PER_YEAR
    return revenue, energy_mwh * power_price_usd_per_mwh, energy_mwh


def margin(hashprice_usd_per_ph_day, power_price_usd_per_mwh, efficiency_j_per_th, pue: float) -> np.ndarray:
    """The fleet's margin per year [-]: 1 - energy cost / revenue (negative below breakeven)."""
    revenue, energy, _ = gross_mining_usd(
        1.0, 1.0, hashprice_usd_per_ph_day, power_price_usd_per_mwh, efficiency_j_per_th, pue
    )
    return 1.0 - energy / revenue


def hashes(hashprice_usd_per_ph_day, power_price_usd_per_mwh, efficiency_j_per_th, pue: float) -> np.ndarray:
    """Whether miners of this J/TH hash (True) or are idled in each year: the hashprice covers
    their energy (``model.mining_usd``'s option to switch off, per MW)."""
    revenue, energy, _ = gross_mining_usd(
        1.0, 1.0, hashprice_usd_per_ph_day, power_price_usd_per_mwh, efficiency_j_per_th, pue
    )
    return revenue > energy


def network_efficiency_j_per_th(start_j_per_th: float, change_per_yr: float, n_years: int) -> np.ndarray:
    """The network's average efficiency per year [J/TH]: start x (1 + change)^t."""
    return start_j_per_th * (1.0 + change_per_yr) ** np.arange(n_years)


def difficulty_growth_per_yr(power_growth_per_yr: float, efficiency_change_per_yr: float) -> float:
    """Difficulty (hash rate) growth from the network's power growth and J/TH change:
    hash rate = power / (J/TH), so (1 + power growth) / (1 + J/TH change) - 1."""
    return (1.0 + power_growth_per_yr) / (1.0 + efficiency_change_per_yr) - 1.0


def repower_index(margin_per_yr: np.ndarray, margin_below: float) -> int | None:
    """Index of the first year whose margin is below the threshold, None if none is."""
    below = np.flatnonzero(np.asarray(margin_per_yr) < margin_below)
    return int(below[0]) if len(below) else None


def fleet_efficiency_j_per_th(n_years: int, old_j_per_th: float, repower: Repower | None, index: int | None):
    """The fleet's J/TH per year: the old model's, the new one's from the repower year on."""
    out = np.full(n_years, float(old_j_per_th))
    if repower is not None and index is not None:
        out[index:] = repower.efficiency_j_per_th
    return out


def repower_capex_usd(miner_mw, repower: Repower | None, index: int | None, pue: float) -> np.ndarray:
    """Repowering capex per year [USD]: the new hash rate of the miners running in the repower
    year (grid MW, mining and ballast) x the price per TH/s; zero in other years."""
    out = np.zeros(len(miner_mw))
    if repower is not None and index is not None:
        th_s = hashrate_ph_s(miner_mw[index], repower.efficiency_j_per_th, pue) * 1000.0
        out[index] = th_s * repower.capex_usd_per_th_s
    return out
