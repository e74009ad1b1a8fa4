"""Price forecasts for the rolling horizon: what each window's LP believes the energy price is.

- ``perfect``: the realised real-time price (each window sees the future);
- ``dam``: ERCOT's day-ahead (DAM) price of the interval's hour, HB_HUBAVG (bundled
  ``ercot_dam_hb_hubavg_hourly_2021_2024``): the market's own forecast of real time, cleared the
  day before. A window solved at ``s`` sees only the DAM prices published by ``s`` (each
  operating day's at 13:30 Central the day before, ``dam_published_utc``); its later hours
  repeat the latest published day (the same hour 24 h earlier, as often as needed);
- ``persistence``: the real-time prices settled before the window starts, the last 24 h
  repeated over the window; the run's first window, which has no previous day in the run,
  repeats the run's first price (a modelling choice).

Only the energy price and the 4CP peaks are forecast; loads, renewables and hashprice stay as
realised. The 4CP peaks: ``perfect`` knows the year's real peak intervals; ``dam`` and
``persistence`` see the intervals the coincident-peak program's alert flags
(``programs.fourcp.fourcp_alert_hourly``, published data only), each flagged 15-minute
bucket a candidate for its month's peak at that peak's real charge per MW
(``flagged_peak_charge``); without a coincident-peak program they see no peak. The kept
dispatch is then priced on the realised price and peaks (``rolling.solve_rolling``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from ballast.costs import FourCpLinear
from ballast.data.errors import DataError
from ballast.data.loaders import read_series
from ballast.optimize.model import DispatchProblem, OptimizeError
from ballast.programs import fourcp
from ballast.scenario import Scenario
from ballast.sim.kpis import energy_cost_usd

FORECASTS = ("perfect", "dam", "persistence")
DAM_SOURCE = "bundled:ercot_dam_hb_hubavg_hourly_2021_2024"
ERCOT_TZ = "America/Chicago"
# ERCOT posts the DAM's results at 13:30 Central Prevailing Time the day before the operating
# day (ERCOT Nodal Protocols Section 4.1.1, Day-Ahead Timeline Summary: 1000 DAM closes, 1330
# DAM results)
DAM_PUBLISHED_LOCAL = pd.Timedelta(hours=13, minutes=30)


def dam_price_usd_per_mwh(index: pd.DatetimeIndex) -> np.ndarray:
    """The DAM price in force at each interval start (its hour's price). ``OptimizeError``
    naming the file and the first interval it does not cover."""
    first, last = index[0].floor("1h"), index[-1]
    try:
        dam = read_series(DAM_SOURCE, "price_usd_per_mwh", window=(first, last + pd.Timedelta("1h")))
    except DataError as exc:
        raise OptimizeError(f"forecast dam: {exc}") from None
    price = dam.reindex(index.floor("1h"))
    missing = np.flatnonzero(price.isna().to_numpy())
    if missing.size:
        t = index[missing[0]]
        raise OptimizeError(
            f"forecast dam: {DAM_SOURCE} covers {dam.index[0].isoformat()} to "
            f"{dam.index[-1].isoformat()} (hour starts); interval {missing[0]} ({t.isoformat()}) "
            "has no day-ahead price"
        )
    return price.to_numpy(dtype="float64")


def dam_published_utc(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """When the DAM price of each interval's hour is published [UTC]: 13:30 Central on the
    day before its operating day (the Central calendar day of the hour's start)."""
    day = index.floor("1h").tz_convert(ERCOT_TZ).tz_localize(None).normalize()
    return (day - pd.Timedelta(days=1) + DAM_PUBLISHED_LOCAL).tz_localize(ERCOT_TZ).tz_convert("UTC")


def known_price(ahead_usd_per_mwh: np.ndarray, known_n: int, lag: int, start: int, stop: int) -> np.ndarray:
    """Intervals [start, stop) of a price series as known when only its intervals before
    ``known_n`` are: each later one repeats the latest known day (the price ``k * lag``
    intervals earlier, ``k`` the fewest that reaches a known one). ``ahead_usd_per_mwh`` holds
    ``lag`` intervals before the run first (index 0 is ``-lag``); ``known_n >= start``."""
    j = np.arange(start, stop)
    src = np.where(j < known_n, j, j - ((j - known_n) // lag + 1) * lag)
    return ahead_usd_per_mwh[src + lag]


SeenFn = Callable[[int, int], DispatchProblem]  # (window start, stop) -> what it sees


def forecast_problem(
    p: DispatchProblem,
    forecast: str,
    price_usd_per_mwh: np.ndarray,
    export_price_share: float,
    fourcp_alert: np.ndarray | None = None,
    timezone: str = ERCOT_TZ,
) -> DispatchProblem | SeenFn:
    """What the rolling windows see: ``p`` itself (``perfect``), or a function of the
    window's intervals [start, stop) giving ``p`` with their energy costs at the price known
    when that window is solved, at its first interval (``sim.kpis.energy_cost_usd``, as the
    realised ones), and the 4CP charge on the intervals ``fourcp_alert`` flags
    (``flagged_peak_charge``; none without it). Only the window's own intervals are replaced
    (``rolling.window`` slices them)."""
    if forecast not in FORECASTS:
        raise OptimizeError(f"forecast {forecast!r}: expected one of {', '.join(FORECASTS)}")
    if forecast == "perfect":
        return p
    flagged = None
    if p.peak_charge is not None and fourcp_alert is not None:
        flagged = flagged_peak_charge(p.peak_charge, fourcp_alert, p.index, timezone)
    n = len(p.index)
    lag = max(1, round(24.0 / p.step_h))
    step = p.index[1] - p.index[0] if n > 1 else pd.Timedelta(hours=p.step_h)
    if forecast == "dam":
        ahead = pd.date_range(p.index[0] - lag * step, periods=lag, freq=step)
        head = dam_price_or_nan(ahead)
        series = np.concatenate([head, dam_price_usd_per_mwh(p.index)])
        published = dam_published_utc(p.index).as_unit("ns").asi8
        starts = p.index.as_unit("ns").asi8

        def known_n(start: int) -> int:  # the first interval whose DAM is not out yet
            return int(np.searchsorted(published, starts[start], side="right"))
    else:
        price = np.asarray(price_usd_per_mwh, dtype="float64")
        series = np.concatenate([np.full(lag, price[0]), price])

        def known_n(start: int) -> int:  # settled: every interval before the window
            return start

    def seen_at(start: int, stop: int) -> DispatchProblem:
        price = known_price(series, known_n(start), lag, start, stop)
        missing = np.flatnonzero(np.isnan(price))
        if missing.size:
            raise OptimizeError(
                f"forecast {forecast}: the window from {p.index[start].isoformat()} needs the "
                f"day-ahead price of the day before the run, which {DAM_SOURCE} does not hold; "
                "start the run later"
            )
        m = len(price)
        imp, exp = p.import_cost_usd_per_mw.copy(), p.export_cost_usd_per_mw.copy()
        imp[start:stop] = energy_cost_usd(np.ones(m), price, p.step_h, export_price_share)
        exp[start:stop] = energy_cost_usd(-np.ones(m), price, p.step_h, export_price_share)
        return replace(p, import_cost_usd_per_mw=imp, export_cost_usd_per_mw=exp, peak_charge=flagged)

    return seen_at


def dam_price_or_nan(index: pd.DatetimeIndex) -> np.ndarray:
    """The DAM price at each interval, NaN where the bundled file has none."""
    try:
        window = (index[0].floor("1h"), index[-1] + pd.Timedelta("1h"))
        dam = read_series(DAM_SOURCE, "price_usd_per_mwh", window=window)
    except DataError:
        return np.full(len(index), np.nan)
    return dam.reindex(index.floor("1h")).to_numpy(dtype="float64")


def flagged_peak_charge(
    real: FourCpLinear, alert: np.ndarray, index: pd.DatetimeIndex, timezone: str
) -> FourCpLinear | None:
    """The 4CP charge as a forecast sees it: each 15-minute bucket of flagged intervals
    (``alert``, per interval) a candidate for the peak of its local month, charged that
    month's real peak's USD per MW; months without a real peak in ``real`` (not settled by the
    run) charge nothing. None when nothing flagged falls in such a month."""
    alert = np.asarray(alert, dtype=bool)
    if len(alert) != len(index):
        raise OptimizeError(f"4CP alert: {len(alert)} flags for {len(index)} intervals")
    local = index.tz_convert(timezone)
    month_key = local.year * 100 + local.month
    month_usd = {
        int(month_key[m[0]]): float(real.usd_per_mw[k])
        for m, k in zip(real.members, real.bucket_peak, strict=True)
        if len(m)
    }
    flagged = np.flatnonzero(alert)
    flagged = flagged[np.isin(month_key[flagged], list(month_usd))]
    if not flagged.size:
        return None
    buckets = pd.Series(flagged).groupby(index[flagged].floor("15min").asi8)
    members = [g.to_numpy() for _, g in buckets]
    months = [int(month_key[m[0]]) for m in members]
    peak_months = sorted(set(months))
    return FourCpLinear(
        np.array([month_usd[k] for k in peak_months]),
        np.searchsorted(peak_months, months).astype(np.int64),
        members,
        real.notes,
    )


def coincident_peak_alert(scenario: Scenario, index: pd.DatetimeIndex) -> np.ndarray | None:
    """The coincident-peak program's alert per interval, as the backtest's program plan
    computes it (``programs.fourcp``: published system load only); None without the program."""
    progs = scenario.programs
    if progs is None or progs.coincident_peak is None:
        return None
    cp = progs.coincident_peak
    load = read_series(cp.load_source, cp.load_column, base_dir=scenario.base_dir, minimum=0.0)
    hourly = fourcp.fourcp_alert_hourly(
        load, cp.months, scenario.site.timezone, cp.window_start_hour_local, cp.window_end_hour_local,
        cp.threshold_share, cp.prior_year_floor_share,
    )  # fmt: skip
    return fourcp.alert_on_index(hourly["alert"], index)
