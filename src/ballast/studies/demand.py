"""EIA-930 hourly balancing-authority demand, bundled as Parquet (2016-2024, five BAs).

Values are as reported to EIA (U.S. EIA Form EIA-930, "Hourly Electric Grid Monitor"; via
Ruggles, Farnham & Wongel, *EIA Cleaned Hourly Electricity Demand Data*, Zenodo,
doi:10.5281/zenodo.3517196, CC BY 4.0). Missing hours stay NaN; for ERCO the bundle also
carries the MICE imputation of Ruggles et al. (2020, Sci. Data 7:155) for its 240 missing hours.
Provenance: ``ballast/data/bundled/PROVENANCE.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ballast.studies.errors import StudyError

BUNDLE = "eia930_demand_hourly_2016_2024"
# Local time of each BA (EIA-930 "time zone" of the BA), used for seasons and years.
BA_TIMEZONES = {"ERCO": "America/Chicago", "PJM": "America/New_York", "MISO": "America/Chicago",
                "SWPP": "America/Chicago", "CISO": "America/Los_Angeles"}
DATA_YEARS = (2016, 2024)


def parse_years(text: str) -> tuple[int, int]:
    """``"2016-2024"`` or ``"2021"`` -> (first, last); both inside the bundled data."""
    parts = text.split("-")
    try:
        first, last = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, -1)
    except ValueError:
        raise StudyError(f"--years {text!r}: expected YEAR or FIRST-LAST, e.g. 2016-2024") from None
    lo, hi = DATA_YEARS
    if not (lo <= first <= last <= hi):
        raise StudyError(f"--years {text!r}: the bundled EIA-930 data cover {lo}-{hi} "
                         "(first year <= last year)")
    return first, last


def check_ba(ba: str) -> str:
    """The BA code in upper case, or a StudyError listing the known ones."""
    code = ba.upper()
    if code not in BA_TIMEZONES:
        raise StudyError(f"--ba {ba!r}: unknown balancing authority; the bundled EIA-930 data "
                         f"hold {', '.join(BA_TIMEZONES)}")
    return code


def load_demand(ba: str, years: tuple[int, int] = DATA_YEARS) -> tuple[pd.Series, pd.Series]:
    """Raw hourly demand [MW] of ``ba`` for local calendar years ``years`` (UTC index, NaN =
    missing) and the imputed values that may replace missing hours (NaN where none)."""
    from ballast.data.loaders import bundled_path

    code = check_ba(ba)
    first, last = years
    fill_col = f"{code}_mice_fill_mw"
    columns = ["interval_start_utc", f"{code}_demand_mw"] + ([fill_col] if code == "ERCO" else [])
    frame = pd.read_parquet(bundled_path(BUNDLE), columns=columns)
    idx = pd.DatetimeIndex(frame["interval_start_utc"])
    local_year = idx.tz_convert(BA_TIMEZONES[code]).year
    keep = np.asarray((local_year >= first) & (local_year <= last))
    raw = pd.Series(frame[f"{code}_demand_mw"].to_numpy()[keep], index=idx[keep],
                    name="demand_mw")
    fill = (frame[fill_col].to_numpy()[keep] if fill_col in frame
            else np.full(int(keep.sum()), np.nan))
    return raw, pd.Series(fill, index=raw.index, name="imputed_mw")
