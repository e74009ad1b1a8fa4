"""ERCOT 4CP tariff arithmetic: the monthly system peaks and the charge a site's import settles.

Transmission cost follows the site's demand in the four monthly 15-minute ERCOT system peaks of
June-September, billed over the next year (PUCT 16 TAC 25.192;
docs/sources.md#ercot-4cp). The bundled ERCOT load is
HOURLY (hour averages), so the 15-minute peak interval is not observable: we take the monthly
peak HOUR and treat its four 15-minute intervals as the candidate peak interval. APPROXIMATION:
the settled site demand is the site's highest 15-minute import among those four intervals
(conservative: whichever of them ERCOT's real peak interval was, the site paid at most that),
and a 'hit' needs the site curtailing in all four.

Below both users: ``costs`` (the charge in ``net_margin_usd``) and ``programs.fourcp`` (alerts
and the program's settlement) import it; it imports only site physics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.physics import imported_mw

INTERVALS_PER_HOUR = 4


def find_monthly_peaks(
    load_mw: pd.Series, months=(6, 7, 8, 9), timezone: str = "America/Chicago"
) -> pd.DataFrame:
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
        rows.append(
            {
                "year": int(year),
                "month": int(month),
                "peak_hour_start_utc": t,
                "peak_load_mw": float(grp.max()),
                "hours_in_month": len(grp),
            }
        )
    return pd.DataFrame(rows)


def peak_interval_starts(peak_hour_start_utc: pd.Timestamp) -> pd.DatetimeIndex:
    """The four 15-minute intervals of a peak hour (approximation of the 15-min peak)."""
    return pd.date_range(peak_hour_start_utc, periods=INTERVALS_PER_HOUR, freq="15min")


def peak_positions(index: pd.DatetimeIndex, peaks: pd.DataFrame) -> np.ndarray:
    """Positions in ``index`` of each peak's four intervals, shape (peaks, 4); -1 where the
    interval is not in ``index``."""
    starts = (
        pd.DatetimeIndex(peaks["peak_hour_start_utc"]) if len(peaks) else (pd.DatetimeIndex([], tz="UTC"))
    )
    quarter = pd.to_timedelta(np.tile(np.arange(INTERVALS_PER_HOUR) * 15, len(starts)), "min")
    ivs = starts.repeat(INTERVALS_PER_HOUR) + quarter
    if index.is_monotonic_increasing and (index.tz is None) == (ivs.tz is None):
        # a sorted run index: binary search on the UTC nanoseconds (get_indexer: 3 ms a call)
        have = index.as_unit("ns").asi8
        want = ivs.as_unit("ns").asi8
        pos = np.minimum(np.searchsorted(have, want), max(len(have) - 1, 0))
        found = (have[pos] == want) if len(have) else np.zeros(len(want), dtype=bool)
        return np.where(found, pos, -1).reshape(len(starts), INTERVALS_PER_HOUR)
    return index.get_indexer(ivs).reshape(len(starts), INTERVALS_PER_HOUR)


def settle_fourcp(
    import_mw: pd.Series, peaks: pd.DataFrame, curtailing: pd.Series, rate_usd_per_kw_year: float
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Site demand in each peak (max 15-min import over the peak hour [MW]), whether the rule was
    curtailing through the whole peak hour (hit), and the annual transmission charge [USD] =
    rate [USD/kW-yr] x mean demand over the peaks covered by the run [kW].

    Peaks outside the run are dropped (the summary says how many were covered)."""
    pos = peak_positions(import_mw.index, peaks)
    covered = (pos >= 0).all(axis=1)
    if not covered.any():
        return pd.DataFrame(), {
            "peaks_covered": 0.0,
            "hits": 0.0,
            "charge_usd": 0.0,
            "mean_demand_mw": float("nan"),
        }
    demand = imported_mw(import_mw.to_numpy(dtype="float64"))[pos[covered]]
    curt_pos = peak_positions(curtailing.index, peaks)[covered]
    curt = np.where(curt_pos >= 0, curtailing.to_numpy(dtype=bool)[curt_pos], False)
    table = (
        peaks[covered]
        .reset_index(drop=True)
        .assign(site_demand_mw=np.fmax.reduce(demand, axis=1), hit=curt.all(axis=1))
    )
    mean_mw = float(table["site_demand_mw"].mean())
    return table, {
        "peaks_covered": float(len(table)),
        "hits": float(table["hit"].sum()),
        "mean_demand_mw": mean_mw,
        "charge_usd": rate_usd_per_kw_year * mean_mw * 1000.0,
    }
