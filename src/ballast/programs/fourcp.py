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
    forecast = 2 * prev1 - prev2
    month_key = local.year * 100 + local.month
    # month-to-date max over completed hours (shift(1): hour h sees hours < h)
    mtd = prev1.groupby(month_key).cummax()
    monthly_peak = hourly.groupby(month_key).max()
    prior_key = (local.year - 1) * 100 + local.month
    prior = pd.Series(prior_key, index=hourly.index).map(monthly_peak)
    threshold = np.fmax(threshold_share * mtd.to_numpy(),
                        prior_year_floor_share * prior.to_numpy())
    in_window = (np.isin(local.month, list(months)) & (local.hour >= window_start_hour_local)
                 & (local.hour < window_end_hour_local))
    alert = in_window & (forecast.to_numpy() >= threshold)
    return pd.DataFrame({"load_mw": hourly.to_numpy(), "forecast_mw": forecast.to_numpy(),
                         "threshold_mw": threshold,
                         "alert": np.nan_to_num(alert, nan=0).astype(bool)}, index=hourly.index)


def alert_on_index(alert_hourly: pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    """Map an hourly alert onto the run's intervals (each interval takes its hour's value)."""
    hours = index.floor("1h")
    return alert_hourly.reindex(hours).fillna(False).to_numpy(dtype=bool)
