"""Price forecasts for the rolling horizon: what each window's LP believes the energy price is.

- ``perfect``: the realised real-time price (each window sees the future);
- ``dam``: ERCOT's day-ahead (DAM) price of the interval's hour, HB_HUBAVG (bundled
  ``ercot_dam_hb_hubavg_hourly_2021_2024``): the market's own forecast of real time, cleared the
  day before. APPROXIMATION: a 48-h window uses the DAM price for both days, though only the
  first has cleared when the window is solved;
- ``persistence``: the realised price 24 h earlier; the run's first 24 h, which have no
  previous day in the run, repeat the first interval's price.

Only the energy price is forecast; loads, renewables and hashprice stay as realised. The kept
dispatch is then priced on the realised price (``rolling.solve_rolling``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ballast.data.errors import DataError
from ballast.data.loaders import read_series
from ballast.optimize.model import DispatchProblem, OptimizeError
from ballast.sim.kpis import energy_cost_usd

FORECASTS = ("perfect", "dam", "persistence")
DAM_SOURCE = "bundled:ercot_dam_hb_hubavg_hourly_2021_2024"


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


def persistence_price_usd_per_mwh(price_usd_per_mwh: np.ndarray, step_h: float) -> np.ndarray:
    """The price 24 h earlier; the first 24 h repeat the first interval's price."""
    lag = round(24.0 / step_h)
    out = np.full_like(price_usd_per_mwh, price_usd_per_mwh[0])
    if lag < len(out):
        out[lag:] = price_usd_per_mwh[:-lag]
    return out


def forecast_problem(
    p: DispatchProblem, forecast: str, price_usd_per_mwh: np.ndarray, export_price_share: float
) -> DispatchProblem:
    """``p`` with its energy costs at the ``forecast`` price (``sim.kpis.energy_cost_usd``, as
    the realised ones)."""
    if forecast not in FORECASTS:
        raise OptimizeError(f"forecast {forecast!r}: expected one of {', '.join(FORECASTS)}")
    if forecast == "perfect":
        return p
    if forecast == "dam":
        price = dam_price_usd_per_mwh(p.index)
    else:
        price = persistence_price_usd_per_mwh(np.asarray(price_usd_per_mwh, dtype="float64"), p.step_h)
    n = len(price)
    return replace(
        p,
        import_cost_usd_per_mw=energy_cost_usd(np.ones(n), price, p.step_h, export_price_share),
        export_cost_usd_per_mw=energy_cost_usd(-np.ones(n), price, p.step_h, export_price_share),
    )
