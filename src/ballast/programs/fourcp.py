"""ERCOT 4CP alerts: curtail in likely peak hours without peeking at the future.

The monthly peaks, their 15-minute intervals and the settled charge (with the hourly-load
approximation) are ``ballast.coincident_peak``'s, below this layer and shared with ``costs``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
