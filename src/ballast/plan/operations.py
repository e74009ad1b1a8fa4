"""Operations values from the backtest engine (docs/plan.md#operations): for each site
configuration a strategy meets (grid MW of miners, MW of critical IT leased, interconnect),
the bundled real year of a scenario is backtested with Ballast's rule controller, and the
miners' measured uptime, the price their hashing hours paid, their curtailment and the cash of
the scenario's grid programs replace the plan's assumptions in that year's cash flow; future
years scale mining revenue by their own hashprice (the model's hashprice x hash rate x uptime)
and keep the program cash as measured (nominal, the scenario's offers). Each configuration is
backtested once per process.

Method error, reported per configuration (``revenue_error_pct``): the plan's revenue formula at
the backtest year's mean hashprice and the measured uptime, against the backtest's own mining
revenue (the gap is the correlation, within the year, of curtailment and hashprice, the pool
fee and day count). What it leaves out: at a future year's hashprice the controller would
curtail in different hours (the uptime is that of the backtest year's hashprice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from ballast.documents import StrictModel
from ballast.programs.schema import RESERVE_PROGRAMS

if TYPE_CHECKING:  # the Plan imports this module
    from ballast.plan.document import Plan
    from ballast.plan.model import Schedule

HOURS_PER_DAY = 24.0


class Operations(StrictModel):
    """Measure the miners' operations with the backtest engine over a scenario's real year."""

    scenario: str = Field(
        description=(
            "Scenario whose site, market data and year are backtested (a bundled name such as "
            "west_texas_2024, or a YAML path); its miners are scaled to each configuration's MW, "
            "its AI load and import limit set to the configuration's."
        )
    )
    resolution: str = Field(
        "1h", description="Backtest step, 1min to 1h (a pandas step, e.g. 1h, 15min). Default 1h."
    )

    @field_validator("resolution")
    @classmethod
    def _step(cls, value: str) -> str:
        try:
            step = pd.Timedelta(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time step (use e.g. 1h or 15min)") from None
        if not pd.Timedelta("1min") <= step <= pd.Timedelta("1h"):
            raise ValueError(f"{value!r}: the year is backtested at 1min to 1h steps")
        return value


@dataclass(frozen=True)
class Measured:
    """One configuration's backtest: miners' uptime (energy over full power), the mean price
    their hashing paid over the year's mean price, curtailed energy, and the method's error."""

    mining_mw: float
    it_mw: float
    interconnect_mw: float
    uptime: float
    price_ratio: float
    curtailed_mwh: float
    hashprice_usd_per_ph_day: float
    revenue_error_pct: float
    program_revenue_usd: float  # cash from the scenario's grid programs over the year
    reserve_offer_mw: float  # the reserve offers (RRS, ECRS, ERS) as scaled to these miners
    # with a smoothing section: the engine's compliance over the scenario's own fine window
    # (Ballast's controller, then the all-on baseline); None without one
    smoothing_minutes_in_violation: float | None = None
    smoothing_minutes_in_violation_baseline: float | None = None
    smoothing_max_ramp_mw_per_s: float | None = None  # over the spec's window, up or down
    smoothing_band_energy_share: float | None = None
    smoothing_window: str | None = None


_CACHE: dict[tuple, Measured] = {}


def _scenario(plan: Plan):
    from ballast.examples import scenario_path
    from ballast.scenario import load_scenario

    return load_scenario(scenario_path(plan.operations.scenario))


def _key(plan: Plan, mining_mw: float, it_mw: float) -> tuple:
    o = plan.operations
    return (o.scenario, o.resolution, round(mining_mw, 6), round(it_mw, 6), plan.site.interconnect_mw)


def cache_entries(plan: Plan) -> dict[tuple, Measured]:
    """The configurations of ``plan``'s operations backtested in this process (to hand to
    another process with ``seed_cache``)."""
    o = plan.operations
    return {k: v for k, v in _CACHE.items() if k[:2] == (o.scenario, o.resolution)}


def seed_cache(entries: dict[tuple, Measured]) -> None:
    """Take configurations measured in another process (a worker valuing price paths)."""
    _CACHE.update(entries)


def is_cached(plan: Plan, mining_mw: float, it_mw: float) -> bool:
    """Whether this configuration was already backtested in this process."""
    return _key(plan, mining_mw, it_mw) in _CACHE


def measure(plan: Plan, mining_mw: float, it_mw: float) -> Measured:
    """Backtest one configuration (cached per scenario, step and configuration)."""
    o = plan.operations
    key = _key(plan, mining_mw, it_mw)
    if key in _CACHE:
        return _CACHE[key]
    from ballast.models.miners import get_model
    from ballast.physics import miner_facility_mw
    from ballast.scenario import parse_scenario
    from ballast.sim.engine import simulate
    from ballast.sim.kpis import compute_kpis

    base = _scenario(plan)
    data = base.model_dump(mode="json")

    def fleet(groups: list[dict], per: str) -> float:  # full facility MW or hash rate [TH/s]
        if per == "mw":
            return sum(
                g["count"] * miner_facility_mw(get_model(g["model"]).power_w, g["pue"]) for g in groups
            )
        return sum(g["count"] * get_model(g["model"]).hashrate_th_s for g in groups)

    fleet_mw = fleet(data["miners"], "mw")
    if not fleet_mw:
        raise ValueError(f"operations.scenario: {o.scenario} has no miners to scale")
    scaled = [{**g, "count": round(g["count"] * mining_mw / fleet_mw)} for g in data["miners"]]
    data["miners"] = [g for g in scaled if g["count"] > 0]
    data["site"]["import_limit_mw"] = plan.site.interconnect_mw
    if it_mw > 0:
        ai = data.get("ai") or {}
        data["ai"] = {**ai, "it_load_mw": it_mw, "pue": plan.hosting.pue}
    else:
        data["ai"] = None
    offer_mw = scale_offers(data.get("programs"), mining_mw / fleet_mw, mining_mw)
    where = f"operations.scenario {o.scenario} at {mining_mw:g} MW of miners, {it_mw:g} MW of IT"
    fine = None
    if data.get("smoothing") is not None and it_mw > 0:  # the fine window, at its own step
        fine = smoothing_compliance(parse_scenario({**data, "programs": None}, where), base.base_dir)
    # the year at the plan's step: the coarse engine (programs; smoothing needs 1 s or finer)
    data = {**data, "smoothing": None, "run": {**data["run"], "resolution": o.resolution}}
    scenario = parse_scenario(data, where)
    scenario._base_dir = base.base_dir
    sim = simulate(scenario)  # the rule controller and the all-on baseline, no optimum
    k = compute_kpis(sim.ballast, sim.inputs, sim.config, sim.scenario)["value"]
    inputs = sim.inputs.frame
    hours = float(k["hours"])
    full_mw = fleet(data["miners"], "mw")
    miner = sim.ballast.frame["miner_mw"].to_numpy()
    price = inputs["price_usd_per_mwh"].to_numpy()
    uptime = float(k["miner_energy_mwh"]) / (full_mw * hours) if full_mw else 0.0
    price_ratio = float((miner * price).sum() / miner.sum() / price.mean()) if miner.sum() > 0 else 1.0
    hashprice = float(inputs["hashprice_usd_per_ph_day"].mean())
    hashrate_ph_s = fleet(data["miners"], "th") / 1000.0
    modelled = hashprice * hashrate_ph_s * uptime * hours / HOURS_PER_DAY
    actual = float(k["mining_revenue_usd"])
    programs_usd = 0.0
    if sim.programs is not None:  # reserves, demand response: the settled cash
        from ballast.programs.settle import settle_programs

        settled = settle_programs(sim.scenario, sim.inputs, sim.programs, sim.ballast, sim.baseline)
        programs_usd = float(settled.kpis.loc["programs_cash_usd", "ballast"])
    measured = Measured(
        mining_mw=mining_mw,
        it_mw=it_mw,
        interconnect_mw=plan.site.interconnect_mw,
        uptime=uptime,
        price_ratio=price_ratio,
        curtailed_mwh=float(k["flexibility_curtailed_mwh"]),
        hashprice_usd_per_ph_day=hashprice,
        revenue_error_pct=100.0 * (modelled - actual) / actual if actual else 0.0,
        program_revenue_usd=programs_usd,
        reserve_offer_mw=offer_mw,
        **(fine or {}),
    )
    _CACHE[key] = measured
    return measured


def scale_offers(programs: dict | None, ratio: float, miners_mw: float) -> float:
    """Scale the reserve offers (RRS, ECRS, ERS, Non-Spin; in place) by ``ratio``, the configuration's
    miner MW over the scenario's, each capped at ``miners_mw`` (only miners can back them);
    the total offered [MW]. Demand-response events are the utility's requests, not offers:
    they stay as the scenario states them (settled on what the site delivers)."""
    total = 0.0
    for name in RESERVE_PROGRAMS:
        program = (programs or {}).get(name)
        if program is not None:
            program["offer_mw"] = min(program["offer_mw"] * ratio, miners_mw)
            if name == "ers" and program["offer_mw"] < 0.1:  # ERCOT's 100 kW minimum (schema)
                raise ValueError(
                    f"operations.scenario: programs.ers.offer_mw scaled to {miners_mw:g} MW of "
                    f"miners is {program['offer_mw']:.3f} MW, below ERS's 0.1 MW minimum"
                )
            total += program["offer_mw"]
    return total


def smoothing_compliance(scenario, base_dir) -> dict:
    """The engine's smoothing compliance (``sim.smoothing.smoothing_kpis``) of a scaled scenario
    with a smoothing section, over its own window and step (1 s or finer): minutes in
    violation (Ballast and the all-on baseline), the largest window ramp and the 0.1-20 Hz
    energy share of Ballast's import."""
    from ballast.sim.engine import simulate
    from ballast.sim.smoothing import smoothing_kpis

    sim = simulate(scenario, base_dir)
    k = smoothing_kpis(sim.fine)
    ours = k["ballast"]
    return {
        "smoothing_minutes_in_violation": float(ours["smoothing.minutes_in_violation"]),
        "smoothing_minutes_in_violation_baseline": float(k["baseline"]["smoothing.minutes_in_violation"]),
        "smoothing_max_ramp_mw_per_s": float(
            max(ours[f"smoothing.max_ramp_{way}_window_mw_per_s"] for way in ("up", "down"))
        ),
        "smoothing_band_energy_share": float(ours["smoothing.band_energy_share"]),
        "smoothing_window": f"{scenario.run.start.isoformat()} to {scenario.run.end.isoformat()} "
        f"at {scenario.run.resolution}",
    }


def to_measure(plan: Plan, schedules) -> list[tuple[float, float]]:
    """The configurations (miner MW, IT MW) the schedules meet that this process has not yet
    backtested, each once, in order."""
    todo: list[tuple[float, float]] = []
    for sched in schedules:
        for miners, it_mw in zip(sched.mining_mw + sched.ballast_mw, sched.it_mw, strict=True):
            config = (float(miners), float(it_mw))
            if miners > 0 and config not in todo and not is_cached(plan, *config):
                todo.append(config)
    return todo


def measure_group(configs: list[tuple[float, float]], plan: Plan) -> dict[tuple, Measured]:
    """Backtest configurations (a task): their cache entries, for ``seed_cache``."""
    return {_key(plan, *config): measure(plan, *config) for config in configs}


@dataclass(frozen=True)
class Years:
    """Measured values per year of a schedule, and the configurations met."""

    uptime: np.ndarray
    price_ratio: np.ndarray
    program_revenue_usd: np.ndarray
    met: list[Measured]


def per_year(plan: Plan, sched: Schedule, progress: Callable[[str], None] | None = None) -> Years:
    """Measured miner uptime, price ratio and program cash per year of a schedule (miners:
    mining and ballast; IT: leased that year); years without miners keep 1, 1 and 0.
    ``progress`` is told each configuration about to be backtested."""
    uptime = np.ones(len(sched.years))
    ratio = np.ones(len(sched.years))
    programs = np.zeros(len(sched.years))
    met: list[Measured] = []
    for i in range(len(sched.years)):
        miners = float(sched.mining_mw[i] + sched.ballast_mw[i])
        if miners <= 0:
            continue
        if progress is not None and not is_cached(plan, miners, float(sched.it_mw[i])):
            progress(
                f"backtesting {plan.operations.scenario}: {miners:g} MW of miners beside "
                f"{float(sched.it_mw[i]):g} MW of IT"
            )
        m = measure(plan, miners, float(sched.it_mw[i]))
        uptime[i], ratio[i], programs[i] = m.uptime, m.price_ratio, m.program_revenue_usd
        if m not in met:
            met.append(m)
    return Years(uptime, ratio, programs, met)
