"""The scenario document: one versioned YAML file describes a run (site, assets, markets, run).

Every field states its unit and default. ``load_scenario(path)`` validates with pydantic v2 and
raises ``ScenarioError`` whose message names the file, the field path and the reason.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from ballast.documents import StrictModel, TimeZoneName, format_validation_errors, read_yaml
from ballast.models.miners import CATALOG
from ballast.physics import miner_facility_mw
from ballast.programs.schema import Programs
from ballast.scenario_costs import Costs
from ballast.scenario_smoothing import (
    BatterySpec,
    DynamicsSpec,
    ReplaySpec,
    SmoothingSpec,
    TrainingSpec,
)

SCHEMA_VERSION = 1
# Sanity bounds that catch unit mistakes and overflow, far above any real campus: 100,000 MW
# refuses kW typed as MW for a 100 MW+ site; 10 million miners of the largest catalog model
# draw tens of GW; 40 million steps hold a year at 1 s.
MAX_MW = 100_000.0
MAX_MINERS_PER_GROUP = 10_000_000
MAX_RUN_STEPS = 40_000_000



class Site(StrictModel):
    """The grid connection."""

    name: str = Field("site", description="Site name, for reports.")
    import_limit_mw: float = Field(gt=0, le=MAX_MW, description="Interconnect import limit [MW]. Never exceeded. At most 100,000 (a bound that catches kW typed as MW).")
    export_limit_mw: float = Field(0.0, ge=0, le=MAX_MW, description="Interconnect export limit [MW]; 0 = no export. Default 0. At most 100,000 (as import_limit_mw).")
    timezone: TimeZoneName = Field("America/Chicago", description="Local time zone (IANA name, checked against the time zone database) for local-time rules and display.")


class MaintenanceWindow(StrictModel):
    """A period of reduced IT load (UTC offsets required)."""

    start: datetime = Field(description="Window start (ISO-8601 with offset).")
    end: datetime = Field(description="Window end (ISO-8601 with offset).")
    it_load_share: float = Field(0.0, ge=0, le=1, description="IT load during the window as a share of normal [-]. Default 0.")

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset (e.g. 2024-03-01T00:00:00Z)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class AiLoad(StrictModel):
    """The AI/HPC tenant: inflexible load, served first."""

    it_load_mw: float = Field(ge=0, le=MAX_MW, description="Critical IT load [MW]. At most 100,000 (as site.import_limit_mw).")
    pue: float = Field(1.3, ge=1.0, le=3.0, description="Power usage effectiveness [-]; facility = IT x PUE. Default 1.3 (new large builds; Uptime Institute, docs/sources.md#facilities).")
    profile: Literal["flat", "diurnal_inference", "training", "replay"] = Field("flat", description="Load shape. Default flat.")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="profile training: swings, checkpoints, crashes, start ramps.")
    replay: ReplaySpec | None = Field(None, description="profile replay: measured trace.")
    diurnal_amplitude_share: float = Field(0.2, ge=0, le=1, description="diurnal_inference: trough depth as a share of IT load [-]. Default 0.2.")
    noise_share: float = Field(0.0, ge=0, le=0.5, description="Gaussian noise as a share of IT load [-]. Default 0.")
    maintenance: list[MaintenanceWindow] = Field(default_factory=list, description="Maintenance windows.")
    lease_usd_per_mw_year: float = Field(1_450_000.0, ge=0, description="Colocation lease [USD per MW of critical IT per year]. Default 1.45 M (Core Scientific/CoreWeave, 2024; docs/sources.md#colocation-leases).")
    wue_l_per_kwh: float = Field(0.5, ge=0, le=10, description="Water use effectiveness [L per kWh of IT energy]. Default 0.5.")


class MinerGroup(StrictModel):
    """Identical miners controlled together."""

    name: str = Field(description="Group name (unique).")
    model: str = Field(description=f"Catalog model, one of: {', '.join(sorted(CATALOG))}.")
    count: int = Field(gt=0, le=MAX_MINERS_PER_GROUP, description="Number of miners [-]. At most 10 million per group (a bound against typos and overflow: 10 million of the largest catalog model draw tens of GW).")
    pue: float = Field(1.05, ge=1.0, le=2.0, description="Mining cooling overhead (PUE) [-]. Default 1.05 (air-cooled containers, docs/sources.md#facilities).")
    min_on_minutes: float = Field(30.0, ge=0, description="Minimum time running once started [min], unless safety overrides. Default 30.")
    min_off_minutes: float = Field(30.0, ge=0, description="Minimum time asleep once curtailed [min], unless safety overrides. Default 30.")
    deadband_usd_per_mwh: float = Field(5.0, ge=0, description="Hysteresis: start below breakeven - deadband, stop above breakeven + deadband [USD/MWh]. Default 5.")
    pool_fee_share: float = Field(0.02, ge=0, lt=1, description="Pool fee as a share of mining revenue [-]. Default 0.02.")
    dynamics: DynamicsSpec = Field(default_factory=DynamicsSpec, description="Response to commands (latency, sleep/wake, power-target ramps).")

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in CATALOG:
            raise ValueError(f"unknown miner model {value!r}; known: {sorted(CATALOG)}")
        return value


class Renewable(StrictModel):
    """A behind-the-meter wind or solar plant scaled from an ERCOT fleet profile."""

    name: str = Field(description="Plant name (unique).")
    kind: Literal["wind", "solar"] = Field(description="wind or solar.")
    capacity_mw: float = Field(gt=0, le=MAX_MW, description="Nameplate [MW]. At most 100,000 (as site.import_limit_mw).")
    source: str = Field("bundled:ercot_system_hourly_2023_2024", description="Fleet profile file (bundled:NAME or a path).")
    column: str | None = Field(None, description="Column with fleet MW. Default ercot_wind_mw / ercot_solar_mw.")
    capacity_factor_scale: float = Field(1.0, gt=0, le=2, description="Multiplier on the fleet capacity factor [-]. Default 1.")
    normalisation: Literal["installed_capacity", "year_max"] = Field("installed_capacity", description="Fleet MW to capacity factor. installed_capacity (default): divide by ERCOT's installed MW in force at each instant, linear between ERCOT's published figures (bundled 2023-01-01 to 2026-01-01); outside that range the nearest figure is held, so before 2023 (e.g. 2021) the factor is understated (fleet grew since; wind 2021 29.5 %), never flattered. year_max: divide by the year's highest hour (the old way; leans high, wind 2024 46 % against 32.5 %).")
    installed_capacity_source: str = Field("bundled:ercot_wind_solar_installed_capacity_2023_2025", description="Installed fleet MW as-of figures (column ercot_wind_installed_mw / ercot_solar_installed_mw), used by normalisation installed_capacity.")


class SeriesSource(StrictModel):
    """A time series file: bundled data set or a user CSV/Parquet (gridstatus frames accepted)."""

    source: str = Field(description="bundled:NAME or a CSV/CSV.gz/Parquet path (relative to the scenario file).")
    column: str | None = Field(None, description="Value column. Default: the file's only value column (gridstatus: SPP).")
    time_column: str | None = Field(None, description="Timestamp column. Default: interval_start_utc / 'Interval Start' / ...")
    location: str | None = Field(None, description="gridstatus frames: the settlement point (Location) to use.")


class PriceSource(SeriesSource):
    """The real-time energy price file, and when the controller may use each price."""

    decision_delay: Literal["interval", "none"] = Field("interval", description="When the controller may decide on a price (settlement always uses each interval's own price). interval (default, no look-ahead): a real-time price is known at the end of its interval (ERCOT's 15-min settlement point price averages the SCED prices inside it), so each decision uses the last price settled before it: delay = max(price file step, run step). none: the interval's own price, up to one interval of look-ahead (the old behaviour, an upper bound). On an hourly file interval waits a whole hour (a live site sees 5-min prices sooner): a floor, with none the ceiling. A run that starts at the file's first instant uses the first price until one is known. Table: ballast.inputs.availability.")


class Bitcoin(StrictModel):
    """Bitcoin revenue per TH/s: the real daily network series, or a flat fee share."""

    fees: Literal["series", "share"] = Field("series", description="How transaction fees enter the revenue per TH/s. series (default): the real daily fees and subsidy over the real network hash rate, with the day's BTC close, all from network_source (a fee spike such as the 2024-04-20 halving day shows). share: the block subsidy of each instant plus fees at fee_share_of_revenue, with price and difficulty from source.")
    network_source: str = Field("bundled:bitcoin_daily_network_coinmetrics_2020_2025", description="fees: series. Daily network file, one row per UTC day stamped at its 00:00 UTC (date_utc, with its offset: 2024-04-20T00:00:00Z): blocks, fees_btc and subsidy_btc (day totals, BTC), network_hashrate_th_s (day mean, TH/s), btc_price_usd (close at the day's end). The bundled file is Coin Metrics data under CC BY-NC 4.0 (attribution, non-commercial; see `ballast data`): for commercial use give your own file, or use fees: share.")
    source: str = Field("bundled:bitcoin_daily_2020_2025", description="fees: share. Daily BTC price and difficulty file.")
    price_column: str = Field("btc_price_usd", description="fees: share. BTC price column [USD].")
    difficulty_column: str = Field("difficulty", description="fees: share. Difficulty column [-].")
    price_delay_h: float = Field(24.0, ge=0, le=24 * 7, description="Hours after a daily row's timestamp that it is known; it is applied from then on (no look-ahead). Covers the price (both modes) and, with fees: series, the day's fees, subsidy, blocks and hash rate. Default 24: a row stamped at 00:00 UTC of its day is complete at the next day's 00:00 UTC, so each instant uses the previous day's row. 0 for a file stamped at publication.")
    fee_share_of_revenue: float = Field(0.03, ge=0, lt=0.9, description="fees: share. Transaction fees as a share of miner revenue [-]. Default 0.03 ('a few percent' in 2024, Coin Metrics; docs/sources.md#bitcoin-fees).")

    @model_validator(mode="after")
    def _fields_of_the_other_mode(self) -> Bitcoin:
        """A field the chosen mode does not read, set away from its default, is an error, not
        silently ignored (compared by value: a re-validated dump sets every field)."""
        names = {"series": ("source", "price_column", "difficulty_column",
                            "fee_share_of_revenue"), "share": ("network_source",)}[self.fees]
        unused = [n for n in names if getattr(self, n) != type(self).model_fields[n].default]
        if unused:
            raise ValueError(f"{', '.join(sorted(unused))} not used with fees: {self.fees}; "
                             "remove it, or set fees to the mode that uses it")
        return self


class Markets(StrictModel):
    """Energy price, Bitcoin and grid carbon intensity."""

    price: PriceSource = Field(description="Real-time energy price [USD/MWh]; negative prices are valid.")
    bitcoin: Bitcoin = Field(default_factory=Bitcoin, description="Bitcoin price, fees and network (revenue per TH/s).")
    carbon: SeriesSource | None = Field(None, description="Grid carbon intensity [gCO2/kWh]. Default none (no CO2 KPI).")
    export_price_share: float = Field(1.0, ge=0, le=1, description="Share of the real-time price paid for exported energy [-]. Default 1.")


class Control(StrictModel):
    """Controller settings shared by backtest and live."""

    economic_dispatch: bool = Field(True, description="Run each group only when it pays (merit order). Default true.")
    absorb_renewable_surplus: bool = Field(True, description="Run miners on renewable output that would otherwise be curtailed. Default true.")
    import_margin_mw: float = Field(0.0, ge=0, description="Safety margin kept below the import limit [MW]. Default 0.")
    # 10 MW/min is an assumption: fleet managers "ramp and hold" on restore (Foreman, Braiins
    # Manager, Foundry OptiFleet vendor docs) and ERCOT's Large Flexible Load task force
    # discussed restrictions on large loads' ramping (2024), but no published figure was found.
    restore_ramp_mw_per_min: float | None = Field(10.0, gt=0, description="Restore ramp: waking miners raise the campus import by at most this much per minute [MW/min]; shedding is never slowed, and miners filling in for an AI drop may bring the import back to where it was. null: wake at once. Default 10 (an assumption; docs/sources.md#restore-ramp).")


class Run(StrictModel):
    """The horizon: interval starts from start (inclusive) to end (exclusive), UTC; at most
    40 million steps (a year at 1 s), which bounds the memory of a run."""

    start: datetime = Field(description="Start (inclusive), ISO-8601 with offset; UTC inside.")
    end: datetime = Field(description="End (exclusive), ISO-8601 with offset.")
    resolution: str = Field("15min", description="Step: 15min, 5min, 1min (pandas offset). Default 15min.")
    seed: int = Field(0, description="Seed for every stochastic model. Default 0.")

    @field_validator("resolution")
    @classmethod
    def _valid_resolution(cls, value: str) -> str:
        try:
            step = pd.Timedelta(pd.tseries.frequencies.to_offset(value))
        except (ValueError, TypeError):
            raise ValueError(f"not a time step: {value!r} (use e.g. 15min, 5min, 1min)") from None
        if step < pd.Timedelta("100ms") or step > pd.Timedelta("1h"):
            raise ValueError(f"resolution {value!r} must be between 100 ms and 1 h")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Run:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset (e.g. 2024-01-01T00:00:00Z)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        steps = (self.end - self.start) / self.step.to_pytimedelta()
        if steps > MAX_RUN_STEPS:
            raise ValueError(f"{steps:,.0f} steps of {self.resolution} from start to end; at most "
                             f"{MAX_RUN_STEPS:,} (a year at 1 s): shorten the run or coarsen it")
        return self

    @property
    def step(self) -> pd.Timedelta:
        return pd.Timedelta(pd.tseries.frequencies.to_offset(self.resolution))

    def index(self) -> pd.DatetimeIndex:
        """Interval starts of the run, UTC."""
        return pd.date_range(pd.Timestamp(self.start).tz_convert("UTC"),
                             pd.Timestamp(self.end).tz_convert("UTC"), freq=self.step,
                             inclusive="left", name="interval_start_utc")


class Scenario(StrictModel):
    """A complete run description. ``version`` must be 1."""

    version: Annotated[int, Field(description="Schema version; must be 1.")]
    name: str = Field("scenario", description="Scenario name.")
    description: str = Field("", description="Free text.")
    notes: list[str] = Field(default_factory=list, description="What the scenario approximates or leaves out, e.g. a proxy settlement point or a series the bundled data do not hold for its period; each note is shown with the run's notes (CLI, JSON notes, report). Default none.")
    site: Site = Field(description="The grid connection.")
    ai: AiLoad | None = Field(None, description="AI/HPC tenant. Default none.")
    miners: list[MinerGroup] = Field(default_factory=list, description="Miner groups.")
    renewables: list[Renewable] = Field(default_factory=list, description="Behind-the-meter plants.")
    markets: Markets = Field(description="Price, Bitcoin and carbon series.")
    control: Control = Field(default_factory=Control, description="Controller settings.")
    battery: BatterySpec | None = Field(None, description="Optional battery behind the meter.")
    smoothing: SmoothingSpec | None = Field(None, description="Smoothing spec; runs at 1 s or finer.")
    run: Run = Field(description="Period, resolution and seed.")
    programs: Programs | None = Field(None, description="Grid programs offered (programs/schema.py). Default none.")
    costs: Costs = Field(default_factory=Costs, description="Transmission (4CP), a fixed-price supply contract and other fixed costs, all in net_margin_usd (scenario_costs.py).")
    _base_dir: Path | None = PrivateAttr(None)  # set by load_scenario: the file's folder

    @property
    def base_dir(self) -> Path | None:
        """Folder relative data paths resolve against: the YAML file's folder (None if parsed)."""
        return self._base_dir

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"unsupported scenario version {value}; this Ballast reads version {SCHEMA_VERSION}")
        return value

    @model_validator(mode="after")
    def _replay_needs_trace(self) -> Scenario:
        if self.ai is not None and self.ai.profile == "replay" and self.ai.replay is None:
            raise ValueError("ai.replay: profile 'replay' needs a replay section (source, columns)")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        for label, items in (("miners", self.miners), ("renewables", self.renewables)):
            names = [item.name for item in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{label}: duplicate names {dupes}")
        return self

    @model_validator(mode="after")
    def _reserve_fits_fleet(self) -> Scenario:
        offers = self.programs.reserve_offers_mw() if self.programs is not None else {}
        fleet_mw = sum(g.count * miner_facility_mw(CATALOG[g.model].power_w, g.pue)
                       for g in self.miners)
        if offers and sum(offers.values()) > fleet_mw:
            raise ValueError(f"programs: reserve offers {offers} total {sum(offers.values()):.1f} MW "
                             f"but the miners can only drop {fleet_mw:.1f} MW")
        return self


    @model_validator(mode="after")
    def _costs_given_once(self) -> Scenario:
        progs = self.programs
        cp = progs.coincident_peak if progs is not None else None
        rate = self.costs.transmission_usd_per_kw_year
        if cp is not None and cp.transmission_rate_usd_per_kw_year is not None and rate is not None:
            raise ValueError("programs.coincident_peak.transmission_rate_usd_per_kw_year and "
                             "costs.transmission_usd_per_kw_year both given: give the rate once, "
                             "in costs")
        pr = progs.price_response if progs is not None else None
        if pr is not None:
            own = (pr.contract_price_usd_per_mwh, pr.contract_mw)
            if self.costs.supply_contract is not None and own != (None, None):
                raise ValueError("programs.price_response has a contract and costs.supply_contract "
                                 "is given: give the contract once, in costs.supply_contract")
            if self.costs.supply_contract is None and None in own:
                raise ValueError("programs.price_response needs a contract: give "
                                 "costs.supply_contract (or both contract_price_usd_per_mwh and "
                                 "contract_mw)")
        return self


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


def parse_scenario(data: object, path: str = "<scenario>") -> Scenario:
    """Validate a parsed YAML/JSON document."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: the document must be a mapping of fields, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_errors(path, "scenario", exc)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    path = Path(path)
    scenario = parse_scenario(read_yaml(path, ScenarioError), str(path))
    scenario._base_dir = path.parent
    return scenario
