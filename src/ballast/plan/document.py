"""The plan document (version 1): a site over its life, the money, Bitcoin's future and the
strategies to compare. Validated with pydantic; a bad field gets a ``PlanError`` naming the
file and the field. ``docs/plan.md`` is generated from these models (``ballast.plan.docs``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ballast.documents import StrictModel, format_problems, format_validation_errors, read_yaml
from ballast.examples import examples_dir
from ballast.plan.environment import Environment
from ballast.plan.fleet import FleetModel, Repower, difficulty_growth_per_yr, fleet_problems, repower_problems
from ballast.plan.operations import Operations
from ballast.plan.optimize_document import Optimize, optimize_problems

PLAN_VERSION = 1
MAX_PATHS = 100_000


class PlanError(ValueError):
    """A plan document that cannot be run; the message names the file and the field."""


class Depreciation(StrictModel):
    """How capex is depreciated for tax."""

    method: Literal["macrs", "straight_line"] = Field(
        "macrs",
        description="macrs: IRS Pub 946 Table A-1 (GDS, half-year convention); straight_line: equal shares. Default macrs.",
    )
    recovery_years: int = Field(
        15,
        ge=1,
        le=50,
        description="Recovery period [years]; MACRS takes 3, 5, 7, 10, 15 or 20. Default 15 (docs/sources.md#macrs).",
    )

    @model_validator(mode="after")
    def _known_period(self) -> Depreciation:
        if self.method == "macrs" and self.recovery_years not in (3, 5, 7, 10, 15, 20):
            raise ValueError(
                f"recovery_years {self.recovery_years}: MACRS (Pub 946 Table A-1) has 3, 5, 7, 10, 15 or 20"
            )
        return self


class Site(StrictModel):
    """The site: its grid connection and the miners on it at the start."""

    mining_mw: float = Field(gt=0, description="Grid MW of miners running at the start of the plan [MW].")
    interconnect_mw: float = Field(
        gt=0,
        description="Import limit of the grid connection [MW]; the miners and the AI facility (IT MW x PUE) fit under it, and hybrid ballast miners up to its spare MW (above mining_mw) hash all year.",
    )


class Mining(StrictModel):
    """The mining fleet's economics: one average fleet J/TH, or a mix of miner models."""

    efficiency_j_per_th: float | None = Field(
        None,
        gt=0,
        description="Fleet efficiency [J/TH] (docs/sources.md#miner-catalog). Give this or models.",
    )
    models: list[FleetModel] | None = Field(
        None,
        description="A mixed fleet: miner models, each earning, paying and idling on its own; conversion takes the least efficient first (docs/plan.md#fleet). Give this or efficiency_j_per_th.",
    )
    pue: float = Field(
        1.05,
        ge=1,
        le=3,
        description="Mining site PUE [-]: grid power / miner power. Default 1.05 (docs/sources.md#facilities).",
    )
    uptime: float = Field(
        0.95,
        gt=0,
        le=1,
        description="Share of the year the fleet hashes [-] (curtailment, outages). Assumption; default 0.95.",
    )
    power_price_usd_per_mwh: float = Field(
        ge=0, description="All-in energy price the site pays [USD/MWh] in the first year."
    )
    power_escalator_per_yr: float = Field(
        0.0, ge=-0.5, le=1, description="Energy price change per year [-]. Default 0."
    )
    om_usd_per_mw_yr: float = Field(
        0.0,
        ge=0,
        description="Fixed O&M of the mining site [USD per grid MW per year] (staff, repairs, pool fee folded in). Default 0.",
    )
    sustaining_capex_usd_per_mw_yr: float = Field(
        0.0,
        ge=0,
        description="Fleet refresh capex [USD per grid MW per year], expensed each year it is spent. Default 0.",
    )
    repower: Repower | None = Field(
        None,
        description="Replace the fleet with a newer miner model once (docs/plan.md#fleet). Default: the fleet ages unrenewed.",
    )


class Hosting(StrictModel):
    """AI/HPC hosting built on converted mining MW (colocation lease of critical IT)."""

    capex_usd_per_mw: float = Field(
        ge=0,
        description="Conversion capex [USD per MW of critical IT], GPUs excluded (docs/sources.md#colocation-leases).",
    )
    lease_usd_per_kw_month: float = Field(
        gt=0,
        description="Lease rate [USD per kW of critical IT per month]; 1.45 M USD/MW-yr is 120.8 (docs/sources.md#colocation-leases).",
    )
    lease_escalator_per_yr: float = Field(
        0.0, ge=-0.5, le=1, description="Lease rate change per year of the term [-]. Default 0."
    )
    term_years: int = Field(
        ge=1, le=50, description="Lease term [years] from the start of service; no renewal is assumed."
    )
    build_years: int = Field(
        1,
        ge=0,
        le=10,
        description="Years from the start of conversion to the start of the lease [years]; capex is spent evenly over them (all in the first year when 0). Default 1.",
    )
    pue: float = Field(
        1.3,
        ge=1,
        le=3,
        description="AI facility PUE [-]: grid MW per MW of critical IT. Default 1.3 (docs/sources.md#facilities).",
    )
    om_usd_per_mw_yr: float = Field(
        0.0,
        ge=0,
        description="Landlord's fixed O&M [USD per MW of critical IT per year]. Energy is passed through to the tenant. Default 0.",
    )
    depreciation: Depreciation = Field(
        default_factory=Depreciation, description="Tax depreciation of the conversion capex."
    )
    salvage_fraction_of_book_value: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Value of the conversion at the end of the plan, as a share of its undepreciated tax basis [-], added to the last year's cash flow (sold at book value: no tax). Assumption; default 0 (no terminal value: lease years after the plan are not counted).",
    )


class PricePaths(StrictModel):
    """Seeded stochastic BTC price paths (GBM in log price, annual steps)."""

    n: int = Field(1000, ge=1, le=MAX_PATHS, description="Number of paths [-]. Default 1000.")
    seed: int = Field(0, ge=0, description="Seed of the paths. Default 0.")
    log_drift_per_yr: float | None = Field(
        None,
        ge=-2,
        le=2,
        description="Mean of the yearly log return [1/yr]. Default: calibrated on the bundled daily history.",
    )
    volatility_per_yr: float | None = Field(
        None,
        gt=0,
        le=3,
        description="Standard deviation of the yearly log return [-]. Default: calibrated on the bundled daily history.",
    )


class Bitcoin(StrictModel):
    """Bitcoin's future: price cases and paths, difficulty, fees, block interval."""

    start_price_usd: float = Field(gt=0, description="BTC price in the first year [USD].")
    cases: dict[str, float] = Field(
        default_factory=lambda: {"flat": 0.0},
        description="Named deterministic price cases: name -> growth per year [-]. Default {flat: 0}.",
    )
    base_case: str = Field("flat", description="The case the strategy table is ranked on. Default flat.")
    start_difficulty: float = Field(gt=0, description="Network difficulty in the first year [-].")
    difficulty_growth_per_yr: float | None = Field(
        None,
        ge=-0.9,
        le=5,
        description="Difficulty trend per year [-] (an assumption; the network's efficiency gains are inside it; docs/plan.md#bitcoin-futures). Give this or network_power_growth_per_yr.",
    )
    network_power_growth_per_yr: float | None = Field(
        None,
        ge=-0.9,
        le=5,
        description="The network's power growth per year [-]; difficulty then grows (1 + this) / (1 + network_efficiency_change_per_yr) - 1 a year (docs/plan.md#fleet). Give this or difficulty_growth_per_yr.",
    )
    network_efficiency_j_per_th: float | None = Field(
        None,
        gt=0,
        description="The network's average efficiency in the first year [J/TH], to report the fleet's gap per year. Default: not reported.",
    )
    network_efficiency_change_per_yr: float = Field(
        0.0,
        gt=-1,
        le=0,
        description="Change of the network's average J/TH per year [-] (negative: it improves). Default 0; docs/plan.md#fleet states an assumed rate.",
    )
    difficulty_price_elasticity: float = Field(
        0.0,
        ge=0,
        le=1,
        description="How far difficulty follows price [-]: 0 ignores it, 1 tracks it. Default 0.",
    )
    fee_share_of_revenue: float = Field(
        0.03,
        ge=0,
        lt=1,
        description="Fees as a share of miner revenue [-]. Default 0.03 (docs/sources.md#bitcoin-fees).",
    )
    fee_share_by_year: list[float] | None = Field(
        None,
        description="Fees as a share of miner revenue per plan year [-], first year first (a series, e.g. from a fee forecast); replaces fee_share_of_revenue. One value per year of horizon_years, each in [0, 1).",
    )
    block_interval_s: float = Field(
        600.0,
        ge=300,
        le=1200,
        description="Mean block interval for projecting halving dates [s]. Default 600 (the consensus target).",
    )
    paths: PricePaths = Field(
        default_factory=PricePaths, description="Stochastic price paths for the risk figures."
    )

    @model_validator(mode="after")
    def _base_case_known(self) -> Bitcoin:
        if not self.cases:
            raise ValueError("cases: give at least one price case")
        if self.base_case not in self.cases:
            raise ValueError(f"base_case {self.base_case!r} is not one of cases {sorted(self.cases)}")
        bad = [k for k, g in self.cases.items() if not -0.9 <= g <= 5]
        if bad:
            raise ValueError(f"cases: growth per year must be within [-0.9, 5]; check {bad}")
        bad_fee = [i for i, f in enumerate(self.fee_share_by_year or []) if not 0 <= f < 1]
        if bad_fee:
            raise ValueError(f"fee_share_by_year[{bad_fee[0]}]: {self.fee_share_by_year[bad_fee[0]]!r} "
                             "is not a share in [0, 1)")
        if (self.difficulty_growth_per_yr is None) == (self.network_power_growth_per_yr is None):
            raise ValueError(
                "difficulty_growth_per_yr, network_power_growth_per_yr: give exactly one "
                "(the first already holds the network's efficiency gains; docs/plan.md#fleet)"
            )
        return self

    @property
    def difficulty_trend_per_yr(self) -> float:
        """The difficulty's growth per year [-]: given, or from the network's power and J/TH."""
        if self.difficulty_growth_per_yr is not None:
            return self.difficulty_growth_per_yr
        return difficulty_growth_per_yr(
            self.network_power_growth_per_yr, self.network_efficiency_change_per_yr
        )


class Phase(StrictModel):
    """One conversion phase: grid MW of mining converted to AI hosting from a year on."""

    year: int = Field(description="Calendar year the conversion starts (miners on these MW stop).")
    mw: float = Field(
        gt=0, description="Grid MW of mining converted [MW]; critical IT MW = mw / hosting.pue."
    )


class Strategy(StrictModel):
    """A strategy to compare."""

    name: str = Field(min_length=1, description="Strategy name (unique).")
    kind: Literal["keep_mining", "convert", "hybrid"] = Field(
        description="keep_mining: every MW mines; convert: phases become AI hosting, their miners retire; hybrid: as convert, keeping ballast_mw of miners beside the AI tenant."
    )
    phases: list[Phase] = Field(default_factory=list, description="Conversion phases (convert and hybrid).")
    ballast_mw: float = Field(
        0.0, ge=0, description="hybrid: grid MW of miners kept beside the AI load [MW]."
    )
    ballast_uptime: float = Field(
        0.5,
        ge=0,
        le=1,
        description="hybrid: share of the year the ballast miners beyond the spare interconnect MW run, in the AI load's headroom [-]. Assumption; default 0.5.",
    )
    ballast_value_usd_per_mw_yr: float = Field(
        0.0,
        ge=0,
        description="hybrid: grid-program and smoothing value of the ballast miners [USD per MW per year]. Default 0.",
    )
    repower: bool = Field(
        True,
        description="Apply mining.repower to this strategy's miners (docs/plan.md#fleet). Default true; false keeps the old fleet, to compare the same strategy without repowering.",
    )

    @model_validator(mode="after")
    def _shape(self) -> Strategy:
        if self.kind == "keep_mining" and self.phases:
            raise ValueError("phases: keep_mining converts nothing; use kind convert or hybrid")
        if self.kind != "keep_mining" and not self.phases:
            raise ValueError(f"phases: a {self.kind} strategy needs at least one conversion phase")
        if self.kind != "hybrid" and self.ballast_mw > 0:
            raise ValueError("ballast_mw: only a hybrid strategy keeps ballast miners")
        if self.kind == "hybrid" and self.ballast_mw <= 0:
            raise ValueError("ballast_mw: a hybrid strategy keeps some miners (> 0 MW)")
        return self


class Plan(StrictModel):
    """A plan: the site, the money and the strategies. ``version`` must be 1."""

    version: int = Field(description="Plan schema version; must be 1.")
    name: str = Field("plan", description="Plan name, for reports.")
    description: str = Field("", description="Free text.")
    start_year: int = Field(ge=2009, le=2100, description="First calendar year of the plan.")
    horizon_years: int = Field(ge=1, le=50, description="Years the plan covers [years].")
    discount_rate: float = Field(
        gt=0, lt=1, description="Discount rate (WACC) [1/yr], nominal; strictly between 0 and 1."
    )
    tax_rate: float = Field(
        0.21,
        ge=0,
        lt=1,
        description="Income tax rate [-]. Default 0.21 (US federal corporate rate, 26 USC 11(b); state tax excluded).",
    )
    site: Site = Field(description="The site.")
    mining: Mining = Field(description="Mining economics.")
    hosting: Hosting = Field(description="AI hosting economics.")
    bitcoin: Bitcoin = Field(description="Bitcoin's future.")
    strategies: list[Strategy] = Field(
        min_length=1,
        description="Strategies to compare; the first keep_mining one is the business-as-usual baseline (one is added when none is given).",
    )
    environment: Environment = Field(
        default_factory=Environment, description="CO2 and water per year (docs/plan.md#environment)."
    )
    operations: Operations | None = Field(
        None,
        description="Measure the miners' uptime and price paid with the backtest engine per site configuration (docs/plan.md#operations). Default: off (mining.uptime and the power price as given).",
    )
    optimize: Optimize | None = Field(
        None,
        description="The conversion optimiser (docs/plan.md#optimizer): when given, the optimal schedule joins the strategies. Default: off.",
    )

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != PLAN_VERSION:
            raise ValueError(f"unsupported plan version {value}; this Ballast reads version {PLAN_VERSION}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        end = self.start_year + self.horizon_years - 1
        problems = []
        if self.site.mining_mw > self.site.interconnect_mw:
            problems.append(
                f"site.mining_mw: {self.site.mining_mw:g} MW of miners exceed site.interconnect_mw ({self.site.interconnect_mw:g} MW)"
            )
        if self.hosting.term_years > self.horizon_years:
            problems.append(
                f"hosting.term_years: a {self.hosting.term_years}-year lease is longer than the {self.horizon_years}-year horizon"
            )
        fees = self.bitcoin.fee_share_by_year
        if fees is not None and len(fees) != self.horizon_years:
            problems.append(
                f"bitcoin.fee_share_by_year: {len(fees)} values for a {self.horizon_years}-year horizon (horizon_years); give one per year"
            )
        names = [s.name for s in self.strategies]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"strategies: duplicate names {dupes}")
        for i, s in enumerate(self.strategies):
            where = f"strategies[{i}] ({s.name})"
            for j, ph in enumerate(s.phases):
                if not self.start_year <= ph.year <= end:
                    problems.append(
                        f"{where}.phases[{j}].year: {ph.year} is outside the plan's years {self.start_year}-{end}"
                    )
                elif ph.year + self.hosting.build_years > end:
                    problems.append(
                        f"{where}.phases[{j}].year: built {ph.year}+{self.hosting.build_years} (hosting.build_years), the lease would start after the plan's last year {end}"
                    )
            total = sum(ph.mw for ph in s.phases)
            if total > self.site.mining_mw:
                problems.append(
                    f"{where}.phases: converts {total:g} MW in total, more than site.mining_mw ({self.site.mining_mw:g} MW)"
                )
            if s.ballast_mw > total:
                problems.append(
                    f"{where}.ballast_mw: {s.ballast_mw:g} MW of ballast miners, more than the {total:g} MW converted beside which they run"
                )
        problems += fleet_problems(self)
        problems += repower_problems(self)
        problems += optimize_problems(self)
        if problems:  # one line each, every one naming its field (parse_plan lists them)
            raise ValueError("\n".join(problems))
        return self


def parse_plan(data: object, path: str = "<plan>") -> Plan:
    """Validate a plan document (a mapping) into a ``Plan``; ``PlanError`` names the field."""
    if not isinstance(data, dict):
        raise PlanError(f"{path}: the document must be a mapping of fields, got {type(data).__name__}")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        if any(err["loc"] for err in errors):
            raise PlanError(format_validation_errors(path, "plan", exc)) from None
        # the cross-field checks of Plan._consistent: each line names its own field
        items = [line for err in errors for line in err["msg"].removeprefix("Value error, ").split("\n")]
        raise PlanError(format_problems(path, "plan", items)) from None


def find_plan(name: str) -> Path | None:
    """A bundled example plan by stem (examples/plan/NAME.yaml), or None for a path."""
    if name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name:
        return None
    candidate = examples_dir() / "plan" / f"{name}.yaml"
    return candidate if candidate.exists() else None


def bundled_plans() -> list[str]:
    """Names of the bundled example plans."""
    return sorted(p.stem for p in (examples_dir() / "plan").glob("*.yaml"))


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan YAML file (or a bundled plan by name)."""
    found = find_plan(str(path)) if not isinstance(path, Path) else None
    path = found or Path(path)
    if found is None and not str(path).endswith((".yaml", ".yml")) and not path.exists():
        raise PlanError(
            f"{path}: no such plan file and no bundled plan of that name; "
            f"bundled: {', '.join(bundled_plans())}"
        )
    return parse_plan(read_yaml(path, PlanError), str(path))
