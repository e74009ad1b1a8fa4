"""ERCOT 4CP: find the monthly system peaks, alert on likely peaks without peeking, settle.

Transmission cost follows the site's demand in the four monthly 15-minute ERCOT system peaks of
June-September, billed over the next year (PUCT 16 TAC 25.192;
docs/sources.md#ercot-4cp). The bundled ERCOT load is
HOURLY (hour averages), so the 15-minute peak interval is not observable: we take the monthly
peak HOUR and treat its four 15-minute intervals as the candidate peak interval. APPROXIMATION:
the settled site demand is the site's highest 15-minute import among those four intervals
(conservative: whichever of them ERCOT's real peak interval was, the site paid at most that),
and a 'hit' needs the site curtailing in all four.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.physics import imported_mw

INTERVALS_PER_HOUR = 4


def find_monthly_peaks(load_mw: pd.Series, months=(6, 7, 8, 9),
                       timezone: str = "America/Chicago") -> pd.DataFrame:
    """One row per (local year, month) in ``months``: the peak hour's start (UTC) and load [MW].

    ``load_mw``: system load [MW] on a tz-aware UTC index (hourly, or finer: then resampled to
    hour averages first)."""
    hourly = load_mw.resample("1h").mean().dropna()
    local = hourly.index.tz_convert(timezone)
    keep = np.isin(local.month, list(months))
    sub = hourly[keep]
    loc = local[keep]
    rows = []
    for (year, month), grp in sub.groupby([loc.year, loc.month]):
        t = grp.idxmax()
        rows.append({"year": int(year), "month": int(month), "peak_hour_start_utc": t,
                     "peak_load_mw": float(grp.max()), "hours_in_month": len(grp)})
    return pd.DataFrame(rows)


def peak_interval_starts(peak_hour_start_utc: pd.Timestamp) -> pd.DatetimeIndex:
    """The four 15-minute intervals of a peak hour (approximation of the 15-min peak)."""
    return pd.date_range(peak_hour_start_utc, periods=INTERVALS_PER_HOUR, freq="15min")


def fourcp_alert_hourly(load_mw: pd.Series, months=(6, 7, 8, 9), timezone: str = "America/Chicago",
                        window_start_hour_local: int = 14, window_end_hour_local: int = 20,
                        threshold_share: float = 0.95,
                        prior_year_floor_share: float = 0.90) -> pd.DataFrame:
    """Per hour: the forecast [MW], the threshold [MW] and whether to curtail, using only data
    published before the hour starts.

    Forecast proxy: linear extrapolation of the last two published hourly loads,
    2 L[h-1] - L[h-2] (ERCOT publishes system load in near real time). Threshold: the larger of
    ``threshold_share`` x the month's highest load among hours already completed and
    ``prior_year_floor_share`` x the same month's peak one year earlier (when the file has it),
    so the first days of a month do not alert on every warm afternoon."""
    hourly = load_mw.resample("1h").mean()
    local = hourly.index.tz_convert(timezone)
    prev1 = hourly.shift(1)
    prev2 = hourly.shift(2)
    month_key = local.year * 100 + local.month
    # month-to-date max over completed hours (shift(1): hour h sees hours < h)
    mtd = prev1.groupby(month_key).cummax()
    monthly_peak = hourly.groupby(month_key).max()
    prior_key = (local.year - 1) * 100 + local.month
    prior = pd.Series(prior_key, index=hourly.index).map(monthly_peak)
    in_window = (np.isin(local.month, list(months)) & (local.hour >= window_start_hour_local)
                 & (local.hour < window_end_hour_local))
    forecast, threshold, alert = alert_rule(
        prev1.to_numpy(), prev2.to_numpy(), mtd.to_numpy(), prior.to_numpy(), in_window,
        threshold_share, prior_year_floor_share)
    return pd.DataFrame({"load_mw": hourly.to_numpy(), "forecast_mw": forecast,
                         "threshold_mw": threshold, "alert": alert}, index=hourly.index)


def alert_rule(prev1_mw, prev2_mw, mtd_max_mw, prior_peak_mw, in_window,
               threshold_share: float, prior_year_floor_share: float):
    """The 4CP alert of an hour (scalars or arrays): forecast 2 L[h-1] - L[h-2] [MW], threshold
    max(``threshold_share`` x month-to-date max, ``prior_year_floor_share`` x the month's
    peak a year earlier) [MW], and whether to curtail (in the window and forecast >=
    threshold; a missing load never alerts)."""
    forecast = 2 * np.asarray(prev1_mw, dtype=float) - np.asarray(prev2_mw, dtype=float)
    threshold = np.fmax(threshold_share * np.asarray(mtd_max_mw, dtype=float),
                        prior_year_floor_share * np.asarray(prior_peak_mw, dtype=float))
    with np.errstate(invalid="ignore"):
        alert = np.asarray(in_window, dtype=bool) & (forecast >= threshold)
    return forecast, threshold, np.nan_to_num(alert, nan=0).astype(bool)


def fourcp_alert_at(hourly_mw: pd.Series, hour: pd.Timestamp, months=(6, 7, 8, 9),
                    timezone: str = "America/Chicago", window_start_hour_local: int = 14,
                    window_end_hour_local: int = 20, threshold_share: float = 0.95,
                    prior_year_floor_share: float = 0.90) -> tuple[bool, float, float]:
    """``fourcp_alert_hourly``'s row for one ``hour`` (UTC hour start), reading only the hours
    it needs from ``hourly_mw`` (hour means [MW] on a sorted UTC index, gaps allowed): cheap
    enough to run in a live tick. Returns (alert, forecast [MW], threshold [MW])."""
    one_h = pd.Timedelta("1h")

    def at(t: pd.Timestamp) -> float:
        v = hourly_mw.get(t)
        return float("nan") if v is None else float(v)

    local = hour.tz_convert(timezone)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_start = month_start.tz_convert("UTC")
    prev1 = at(hour - one_h)
    # as the hourly table: the cumulative max of L[h'-1] over the month's hours h' <= h
    mtd = hourly_mw.loc[month_start - one_h:hour - one_h].max() if np.isfinite(prev1) \
        else float("nan")
    year_ago = (month_start.tz_convert(timezone) - pd.DateOffset(years=1))
    prior_end = (year_ago + pd.DateOffset(months=1)).tz_convert("UTC")
    prior = hourly_mw.loc[year_ago.tz_convert("UTC"):prior_end - one_h].max()
    in_window = (local.month in list(months) and window_start_hour_local <= local.hour
                 < window_end_hour_local)
    forecast, threshold, alert = alert_rule(prev1, at(hour - 2 * one_h), mtd, prior, in_window,
                                            threshold_share, prior_year_floor_share)
    return bool(alert), float(forecast), float(threshold)


def alert_on_index(alert_hourly: pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    """Map an hourly alert onto the run's intervals (each interval takes its hour's value)."""
    hours = index.floor("1h")
    return alert_hourly.reindex(hours).fillna(False).to_numpy(dtype=bool)


def settle_fourcp(import_mw: pd.Series, peaks: pd.DataFrame, curtailing: pd.Series,
                  rate_usd_per_kw_year: float) -> tuple[pd.DataFrame, dict[str, float]]:
    """Site demand in each peak (max 15-min import over the peak hour [MW]), whether the rule was
    curtailing through the whole peak hour (hit), and the annual transmission charge [USD] =
    rate [USD/kW-yr] x mean demand over the peaks covered by the run [kW].

    Peaks outside the run are dropped (the summary says how many were covered)."""
    rows = []
    for _, p in peaks.iterrows():
        ivs = peak_interval_starts(p["peak_hour_start_utc"])
        if not ivs.isin(import_mw.index).all():
            continue
        demand = float(imported_mw(import_mw.reindex(ivs)).max())
        hit = bool(curtailing.reindex(ivs).fillna(False).all())
        rows.append({**p.to_dict(), "site_demand_mw": demand, "hit": hit})
    table = pd.DataFrame(rows)
    if table.empty:
        return table, {"peaks_covered": 0.0, "hits": 0.0, "charge_usd": 0.0,
                       "mean_demand_mw": float("nan")}
    mean_mw = float(table["site_demand_mw"].mean())
    return table, {"peaks_covered": float(len(table)), "hits": float(table["hit"].sum()),
                   "mean_demand_mw": mean_mw,
                   "charge_usd": rate_usd_per_kw_year * mean_mw * 1000.0}
