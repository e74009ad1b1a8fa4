"""The scenario's ``programs:`` section: which grid programs the site offers, and how many MW.

Each program is a small pydantic model; every field states its unit and default. Times are
ISO-8601 with a UTC offset. Prices for ancillary services are scenario parameters: no ERCOT
ancillary-service price series is bundled (AS prices fell from 2023 to 2024, Potomac Economics'
2024 State of the Market, docs/sources.md#ercot-ancillary-prices: do not take 2023 levels as typical).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from ballast.documents import StrictModel
from ballast.programs.baselines import BaselineMethod
from ballast.programs.dr import DrRequest


def _aware(*stamps: datetime) -> None:
    for stamp in stamps:
        if stamp.tzinfo is None:
            raise ValueError("times need a UTC offset (e.g. 2021-02-15T07:25:00Z)")


class _Window(StrictModel):
    start: datetime = Field(description="Start (ISO-8601 with offset).")
    end: datetime = Field(description="End, exclusive (ISO-8601 with offset).")

    @model_validator(mode="after")
    def _ordered(self):
        _aware(self.start, self.end)
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class PriceResponse(StrictModel):
    """Real-time price response (the economic rule, always on) plus a fixed-price supply contract.

    The contract is the scenario's ``costs.supply_contract`` (or, the older way, these two
    fields); it is settled in ``net_margin_usd``. The program reports the power credits, the part
    of that settlement on contracted energy not taken:
    power credit = (real-time price - contract price) x curtailed contract MWh
    (docs/sources.md#power-credits)."""

    contract_price_usd_per_mwh: float | None = Field(
        None, description="Fixed contract price [USD/MWh]. Prefer costs.supply_contract (the "
        "contract is in net_margin_usd either way); give the contract in one place only.")
    contract_mw: float | None = Field(None, gt=0, description="Contracted flat block [MW], round "
                                      "the clock. Prefer costs.supply_contract.volume_mw.")


class CoincidentPeak(StrictModel):
    """ERCOT 4CP avoidance: curtail miners in likely system-peak intervals of June-September."""

    transmission_rate_usd_per_kw_year: float | None = Field(
        None, ge=0, description="Transmission charge [USD/kW-yr] on the site's average demand in "
        "the four peak intervals. Prefer costs.transmission_usd_per_kw_year (give it in one "
        "place only). Default: costs', else 60 (quoted 50-150, secondary, "
        "docs/sources.md#ercot-4cp; use your TDSP tariff).")
    load_source: str = Field("bundled:ercot_system_hourly_2023_2024",
                             description="ERCOT system load file (hourly or finer).")
    load_column: str = Field("ercot_load_mw", description="System load column [MW].")
    months: list[int] = Field([6, 7, 8, 9], description="4CP months (local). Default Jun-Sep.")
    window_start_hour_local: int = Field(14, ge=0, le=23,
                                         description="First local hour a peak is considered.")
    window_end_hour_local: int = Field(20, ge=1, le=24,
                                       description="Local hour the window ends (exclusive).")
    threshold_share: float = Field(0.95, gt=0, le=1.2, description="Curtail when the load "
                                   "forecast reaches this share of the month's highest load known "
                                   "so far [-]. Default 0.95.")
    prior_year_floor_share: float = Field(0.90, ge=0, le=1.2, description="The threshold never "
                                          "drops below this share of the same month's peak a year "
                                          "earlier (if the load file has it) [-]. Default 0.90.")
    curtail_to_mw: float = Field(0.0, ge=0, description="Miner cap during an alert [MW]. Default 0.")


class FrequencyEvent(StrictModel):
    """A frequency excursion starting at ``at``: a bundled synthetic shape (programs/frequency.py)
    or your own recording (CSV/Parquet with ``offset_s`` [s from ``at``] and ``frequency_hz``)."""

    at: datetime = Field(description="Event start (ISO-8601 with offset).")
    shape: Literal["step_loss_of_generation", "slow_decline", "shallow_dip"] | None = Field(
        None, description="Bundled synthetic shape (no measured "
        "frequency data: docs/sources.md#frequency-data).")
    source: str | None = Field(None, description="Recorded event file (relative to the scenario) "
                               "with columns offset_s and frequency_hz; instead of shape.")

    @model_validator(mode="after")
    def _tz(self):
        _aware(self.at)
        if (self.shape is None) == (self.source is None):
            raise ValueError("give exactly one of shape or source")
        return self

    @property
    def label(self) -> str:
        return self.shape or f"file:{self.source}"


class ResponsiveReserve(StrictModel):
    """Responsive Reserve as a Load Resource on an under-frequency relay."""

    offer_mw: float = Field(gt=0, description="Reserve offered [MW]; sold only where the miners "
                            "draw it (headroom).")
    price_usd_per_mw_h: float = Field(10.0, ge=0, description="Availability price [USD/MW-h]. "
                                      "Default 10 (assumption; no AS price data bundled).")
    trip_hz: float = Field(59.70, gt=55, lt=60, description="Relay pickup [Hz]. Default 59.70 "
                           "(ERCOT NPRR828, docs/sources.md#ercot-load-resources-ufr).")
    relay_delay_s: float = Field(0.333, ge=0, le=2, description="Relay time [s] below pickup "
                                 "before the trip. Default 20 cycles (assumption; your relay "
                                 "setting).")
    hold_minutes: float = Field(60.0, gt=0, description="Load stays off after a trip until "
                                "recalled [min]. Default 60 (assumption).")
    frequency_events: list[FrequencyEvent] = Field(default_factory=list,
                                                   description="Frequency excursions to replay.")


class Deployment(StrictModel):
    at: datetime = Field(description="Deploy instruction time (ISO-8601 with offset).")
    duration_minutes: float = Field(gt=0, description="How long the reduction is held [min].")

    @model_validator(mode="after")
    def _tz(self):
        _aware(self.at)
        return self


class Ecrs(StrictModel):
    """ERCOT Contingency Reserve Service (10-minute product, NPRR863; docs/sources.md#ercot-reserves)."""

    offer_mw: float = Field(gt=0, description="Reserve offered [MW].")
    price_usd_per_mw_h: float = Field(9.62, ge=0, description="Availability price [USD/MW-h]. "
                                      "Default 9.62 (2024 ECRS average, Potomac Economics via "
                                      "RTO Insider, docs/sources.md#ercot-ancillary-prices).")
    response_minutes: float = Field(10.0, gt=0, description="Time to reach the reduction [min].")
    shortfall_penalty_usd_per_mwh: float = Field(
        1000.0, ge=0, description="Penalty per MWh not delivered in a deployment [USD/MWh]. "
        "Default 1000 (assumption).")
    deployments: list[Deployment] = Field(default_factory=list, description="Deploy instructions.")


class Ers(StrictModel):
    """ERCOT Emergency Response Service, ERS-10 or ERS-30 (16 TAC 25.507; docs/sources.md#ercot-ers)."""

    kind: Literal["ERS-10", "ERS-30"] = Field("ERS-30", description="ERS-10 or ERS-30.")
    offer_mw: float = Field(ge=0.1, description="Committed reduction [MW]; minimum 100 kW.")
    price_usd_per_mw_h: float = Field(8.0, ge=0, description="Availability price [USD/MW-h]. "
                                      "Default 8 (assumption).")
    shortfall_penalty_usd_per_mwh: float = Field(1000.0, ge=0, description="Penalty per MWh not "
                                                 "delivered [USD/MWh]. Default 1000 (assumption).")
    deployments: list[Deployment] = Field(default_factory=list, description="Deploy instructions.")

    @property
    def response_minutes(self) -> float:
        return 10.0 if self.kind == "ERS-10" else 30.0


class NonSpin(StrictModel):
    """ERCOT Non-Spinning Reserve Service from curtailable load, a 30-minute product
    (docs/sources.md#ercot-reserves)."""

    offer_mw: float = Field(gt=0, description="Reserve offered [MW].")
    price_usd_per_mw_h: float = Field(ge=0, description="Availability price [USD/MW-h]. "
                                      "Required: Ballast bundles no Non-Spin price.")
    response_minutes: float = Field(30.0, gt=0, description="Time to reach the reduction [min]. "
                                    "Default 30 (ERCOT Non-Spin, docs/sources.md#ercot-reserves).")
    shortfall_penalty_usd_per_mwh: float = Field(
        1000.0, ge=0, description="Penalty per MWh not delivered in a deployment [USD/MWh]. "
        "Default 1000 (assumption).")
    deployments: list[Deployment] = Field(default_factory=list, description="Deploy instructions.")


class DrEvent(_Window):
    """A demand-response event: reduce campus import below a baseline (programs/dr.py)."""

    name: str = Field("dr", description="Label for the event log.")
    target_mw: float | None = Field(None, gt=0, description="Reduction [MW] of campus import "
                                    "below the baseline.")
    reduction_pct: float | None = Field(None, gt=0, le=100, description="Reduction [%] of the "
                                        "baseline campus import.")
    baseline_mw: float | None = Field(
        None, allow_inf_nan=False, description="Stated baseline campus import [MW]. Default: "
        "the import metered in the interval before the event starts.")
    notice_minutes: float = Field(0.0, ge=0, description="Notice before start [min].")

    @model_validator(mode="after")
    def _one_target(self):
        if (self.target_mw is None) == (self.reduction_pct is None):
            raise ValueError("give exactly one of target_mw or reduction_pct")
        return self

    def request(self) -> DrRequest:
        """The event as the one DR request every host uses."""
        return DrRequest(self.target_mw, None if self.reduction_pct is None
                         else self.reduction_pct / 100.0, self.baseline_mw)


class DemandResponse(StrictModel):
    """Demand response: each event asks a reduction of campus import below a baseline (stated,
    or by ``baseline_method``: by default the import metered in the interval before the event);
    settled on baseline minus metered import, per interval. The live runtime, the API and the
    OpenADR VEN use the same meaning."""

    payment_usd_per_mwh: float = Field(0.0, ge=0, description="Paid per MWh reduced [USD/MWh]. "
                                       "Default 0.")
    min_notice_minutes: float = Field(0.0, ge=0, description="Site policy: decline events with "
                                      "less notice [min]. Default 0 (accept all).")
    max_reduction_mw: float | None = Field(None, gt=0, description="Site policy: decline events "
                                           "asking more [MW]. Default none.")
    baseline_method: BaselineMethod = Field(
        "meter_before_event", description="Baseline of an event without a stated baseline_mw "
        "(programs/baselines.py): meter_before_event (the import metered in the interval "
        "before the event), middle_8_of_10 (ERCOT ERS like days: the 10 most recent like days "
        "before the event day, highest and lowest dropped, the middle 8 averaged per interval) "
        "or regression (per-interval least-squares trend over the same 10 like days). Like "
        "days are in site.timezone and need 10 of them inside the run before the event. "
        "Default meter_before_event.")
    events: list[DrEvent] = Field(default_factory=list, description="Events.")


class EeaWindow(_Window):
    level: int = Field(3, ge=1, le=3, description="EEA level 1-3.")


class Emergency(StrictModel):
    """Energy Emergency Alerts: all miners off from ``curtail_at_level`` up."""

    curtail_at_level: int = Field(1, ge=1, le=3, description="Lowest EEA level that takes all "
                                  "miners off. Default 1.")
    windows: list[EeaWindow] = Field(default_factory=list, description="EEA periods.")


# the availability-paid reserve programs, in the order the headroom is sold to them
RESERVE_PROGRAMS = ("responsive_reserve", "ecrs", "ers", "non_spin")


class Programs(StrictModel):
    """Grid programs the site takes part in. Omit a program to not offer it."""

    price_response: PriceResponse | None = Field(
        None, description="Fixed-price contract and power credits. Default none (real time only).")
    coincident_peak: CoincidentPeak | None = Field(None, description="ERCOT 4CP avoidance.")
    responsive_reserve: ResponsiveReserve | None = Field(
        None, description="RRS as a Load Resource on an under-frequency relay.")
    ecrs: Ecrs | None = Field(None, description="ECRS (10-minute).")
    ers: Ers | None = Field(None, description="ERS-10 / ERS-30.")
    non_spin: NonSpin | None = Field(None, description="Non-Spin (30-minute).")
    demand_response: DemandResponse | None = Field(None, description="Generic DR events.")
    emergency: Emergency | None = Field(None, description="EEA: all miners off.")
    reserve_only_when_economic: bool = Field(
        True, description="Sell reserve in an interval only if the last known price was below "
        "the best miner group's breakeven (else the floor would force miners to run at a loss). "
        "Default true.")

    def reserve_offers_mw(self) -> dict[str, float]:
        """MW offered per reserve program (the ones that need a floor)."""
        out = {}
        for name in RESERVE_PROGRAMS:
            prog = getattr(self, name)
            if prog is not None:
                out[name] = prog.offer_mw
        return out
