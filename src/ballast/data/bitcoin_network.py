"""Daily Bitcoin network rows (blocks, fees, subsidy, hash rate, BTC close), validated and
stamped at the instant each row is published.

One row per UTC day, stamped at the day's 00:00 UTC (column ``date_utc``): the day's totals of
``blocks``, ``fees_btc`` and ``subsidy_btc`` [BTC], its mean ``network_hashrate_th_s`` [TH/s]
and ``btc_price_usd``, the close at the day's end. All of them are known only once the day is
over, so a row is applied from its stamp plus a delay (24 h for a daily close: the row of
2024-04-20 is in force from 2024-04-21 00:00 UTC through the next day).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ballast.data.errors import DataError
from ballast.data.loaders import as_published, read_series

TIME_COLUMN = "date_utc"
ROW_STEP = pd.Timedelta("1D")
# column -> (minimum, maximum) that catch unit mistakes, not market extremes: a day has about
# 144 blocks (58 to 197 in 2020-2025, Coin Metrics BlkCnt); 1e8 USD per BTC is far above any
# close, 0.01 USD below any.
NETWORK_COLUMNS: dict[str, tuple[float, float | None]] = {
    "blocks": (1.0, 2016.0),
    "fees_btc": (0.0, None),
    "subsidy_btc": (0.0, None),
    "network_hashrate_th_s": (1.0, None),
    "btc_price_usd": (0.01, 1e8),
}


def read_network(
    source: str | Path,
    *,
    delay: pd.Timedelta,
    base_dir: Path | None = None,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    label: str | None = None,
) -> dict[str, pd.Series]:
    """Every column of ``NETWORK_COLUMNS`` as a float Series re-stamped at publication (stamp
    plus ``delay``; ``loaders.as_published``), ready for ``loaders.align``.

    ``window`` (start, end) is the run's span in publication time: the rows in force over it
    must exist and hold valid values. Errors name the file, column and row (``read_series``);
    a step other than one day is refused, since the values are per-day totals.
    """
    label = label or str(source)
    shifted = None if window is None else (window[0] - delay, window[1] - delay)
    out = {}
    for column, (low, high) in NETWORK_COLUMNS.items():
        series = read_series(
            source,
            column,
            time_column=TIME_COLUMN,
            minimum=low,
            maximum=high,
            base_dir=base_dir,
            window=shifted,
            label=label,
        )
        if series.attrs["step"] != ROW_STEP:
            raise DataError(
                label,
                f"rows are {series.attrs['step']} apart; the Bitcoin network "
                "file needs one row per UTC day (daily totals)",
                column=TIME_COLUMN,
            )
        out[column] = as_published(series, delay)
    return out
