"""The headroom study of one BA: load, clean, threshold, solve every rate, hybrid, serialise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ballast.studies.cleaning import CleanDemand, Screening, clean_demand
from ballast.studies.demand import BA_TIMEZONES, DATA_YEARS, check_ba, load_demand
from ballast.studies.headroom import (
    DEFAULT_RATES_PCT,
    PEAK_MONTHS_WIDENED,
    SUMMER_MONTHS,
    SUMMER_PEAK_MONTHS,
    WINTER_PEAK_MONTHS,
    HybridResult,
    RateResult,
    check_rates_pct,
    hybrid_headroom,
    rate_result,
    season_masks,
    season_peak_mw,
    seasonal_threshold_mw,
)

SCHEMA = "ballast.study.headroom/1"
DEFAULT_SCREENING = Screening()


@dataclass
class HeadroomStudy:
    """Everything one ``ballast study headroom`` run produces."""

    ba: str
    years: tuple[int, int]
    clean: CleanDemand
    threshold_mw: pd.Series
    summer_peak_mw: float
    winter_peak_mw: float
    rates: list[RateResult]
    hybrid: list[HybridResult]
    ai_share_pct: float

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([r.row() for r in self.rates])

    def hybrid_table(self) -> pd.DataFrame:
        return pd.DataFrame([h.row() for h in self.hybrid])

    def to_json(self) -> dict:
        def clean(v):
            return None if isinstance(v, float) and not np.isfinite(v) else v

        return {
            "schema": SCHEMA, "ba": self.ba, "years": list(self.years),
            "method": "Norris et al. 2025 (Duke Nicholas Institute), hdl.handle.net/10161/32077",
            "summer_months_local": list(SUMMER_MONTHS),
            "peak_months_local": dict(zip(("summer", "winter"), map(list, PEAK_MONTHS_WIDENED.get(
                self.ba, (SUMMER_PEAK_MONTHS, WINTER_PEAK_MONTHS))), strict=True)),
            "summer_peak_mw": self.summer_peak_mw, "winter_peak_mw": self.winter_peak_mw,
            "hours_studied": int(self.clean.demand_mw.notna().sum()),
            "cleaning": {**self.clean.counts(), "imputed_hours": self.clean.imputed_hours,
                         "interpolated_hours": self.clean.interpolated_hours,
                         "excluded_hours": self.clean.excluded_hours},
            "rates": [{k: clean(v) for k, v in r.row().items()} for r in self.rates],
            "hybrid": {"ai_share_pct": self.ai_share_pct,
                       "firm_headroom_mw": float(np.nanmin(
                           self.threshold_mw - self.clean.demand_mw)),
                       "rates": [{k: clean(v) for k, v in h.row().items()}
                                 for h in self.hybrid]},
        }


def headroom_study(ba: str, rates_pct: tuple[float, ...] = DEFAULT_RATES_PCT,
                   years: tuple[int, int] = DATA_YEARS, ai_share_pct: float = 50.0,
                   screening: Screening = DEFAULT_SCREENING) -> HeadroomStudy:
    """Curtailment-enabled headroom of ``ba`` [MW] at each rate [%], with the hybrid campus."""
    code = check_ba(ba)
    rates = check_rates_pct(tuple(rates_pct))
    raw, imputed = load_demand(code, years)
    return analyse_demand(code, raw, imputed, rates, years, ai_share_pct, screening)


def analyse_demand(code: str, raw_mw: pd.Series, imputed_mw: pd.Series | None,
                   rates_pct: tuple[float, ...], years: tuple[int, int], ai_share_pct: float = 50.0,
                   screening: Screening = DEFAULT_SCREENING, timezone: str | None = None) -> HeadroomStudy:
    """The study on a given hourly demand series [MW, UTC index] (bundled or the caller's)."""
    rates = check_rates_pct(tuple(rates_pct))
    cleaned = clean_demand(raw_mw, imputed_mw, screening)
    demand = cleaned.demand_mw
    months = demand.index.tz_convert(timezone or BA_TIMEZONES[code]).month
    summer, summer_peak_hours, winter_peak_hours = season_masks(months, code)
    threshold = seasonal_threshold_mw(demand.to_numpy(), summer, summer_peak_hours,
                                      winter_peak_hours)
    gap = threshold - demand.to_numpy()  # time order, NaN = hour left out
    ordered = np.sort(gap[np.isfinite(gap)])
    n_years = years[1] - years[0] + 1
    peak = float(np.nanmax(demand.to_numpy()))
    results = [rate_result(gap, r, peak, n_years, ordered) for r in rates]
    hybrid = [hybrid_headroom(ordered, r, ai_share_pct / 100.0, n_years) for r in rates]
    summer_peak = season_peak_mw(demand.to_numpy(), summer_peak_hours)
    winter_peak = season_peak_mw(demand.to_numpy(), winter_peak_hours)
    return HeadroomStudy(code, years, cleaned, pd.Series(threshold, index=demand.index),
                         summer_peak, winter_peak, results, hybrid, ai_share_pct)
