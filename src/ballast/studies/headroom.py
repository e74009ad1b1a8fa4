"""Curtailment-enabled headroom of a balancing authority (Norris, Profeta, Patino-Echeverri &
Cowie-Haskell, "Rethinking Load Growth: Assessing the Potential for Integration of Large Flexible
Loads in US Power Systems", Duke Nicholas Institute, Feb 2025, hdl.handle.net/10161/32077).

Method: a constant new load L [MW] is added to every hour of the BA's cleaned hourly demand;
wherever demand + L passes the hour's seasonal peak threshold, the new load is curtailed by the
excess. The paper (section "Peak Thresholds and Seasonal Differentiation", footnote 20): "we
identified the maximum summer peak and the maximum winter peak observed from 2016 to 2024 ...
summer was defined as June-August, while winter encompassed December-February"; "the applicable
summer peak was applied to April-May and September-October and the winter peak to November and
March"; for CAISO (summer and winter) the peak fell "within one month of these periods", which was
used (``PEAK_MONTHS_WIDENED``). The curtailment rate is the curtailed energy over the new load's
potential energy (Appendix C: the mean over years of curtailed MWh / (L x 8,760); here pooled
over the studied hours, which differs only by the leap days, < 0.1 %); for each target rate the
largest L is found (the paper's goal-seek, scipy ``root_scalar``). Here the goal-seek is solved
exactly: the curtailed energy is piecewise linear in L, so the root is found in closed form on the
sorted hourly gaps. Against the paper's Figure 1 see ``tests/studies/test_headroom.py``.

Beyond the paper: a *hybrid* new load whose AI share is never curtailed and whose miner share
takes all the curtailment (see :func:`hybrid_headroom`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ballast.studies.errors import StudyError

DEFAULT_RATES_PCT = (0.25, 0.5, 1.0, 5.0)  # the paper's curtailment limits [% of energy]
# Norris et al. 2025, "Peak Thresholds and Seasonal Differentiation" and footnote 20:
SUMMER_MONTHS = (4, 5, 6, 7, 8, 9, 10)  # local months judged against the summer peak; others winter
SUMMER_PEAK_MONTHS = (6, 7, 8)  # where the summer peak is looked for
WINTER_PEAK_MONTHS = (12, 1, 2)  # where the winter peak is looked for
PEAK_MONTHS_WIDENED = {"CISO": ((5, 6, 7, 8, 9), (11, 12, 1, 2, 3))}  # peak within one month
RETAINED_LEVELS = (0.5, 0.75, 0.9)  # reported: share of curtailed hours keeping >= this share


def check_rates_pct(rates_pct: tuple[float, ...]) -> tuple[float, ...]:
    """Curtailment rates must lie strictly inside (0, 100) %."""
    if not rates_pct:
        raise StudyError("--rates: give at least one curtailment rate in %, e.g. 0.25,0.5,1,5")
    for r in rates_pct:
        if not (0.0 < r < 100.0) or not np.isfinite(r):
            raise StudyError(f"--rates: curtailment rate {r:g} % is outside (0, 100) %")
    return tuple(rates_pct)


def seasonal_threshold_mw(demand_mw: np.ndarray, summer: np.ndarray,
                          summer_peak_hours: np.ndarray | None = None,
                          winter_peak_hours: np.ndarray | None = None) -> np.ndarray:
    """Per-hour threshold [MW]: in ``summer`` hours the highest demand among
    ``summer_peak_hours``, in the others the highest among ``winter_peak_hours`` (each defaults
    to its whole season), over the whole series; NaN hours are ignored."""
    s_hours = summer if summer_peak_hours is None else summer_peak_hours
    w_hours = ~summer if winter_peak_hours is None else winter_peak_hours
    return np.where(summer, season_peak_mw(demand_mw, s_hours), season_peak_mw(demand_mw, w_hours))


def season_masks(months: np.ndarray, ba: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hour, from its local month: judged against the summer peak; in the months where the
    summer peak is looked for; in those for the winter peak (the paper's seasons)."""
    s_peak, w_peak = PEAK_MONTHS_WIDENED.get(ba, (SUMMER_PEAK_MONTHS, WINTER_PEAK_MONTHS))
    m = np.asarray(months)
    return np.isin(m, SUMMER_MONTHS), np.isin(m, s_peak), np.isin(m, w_peak)


def season_peak_mw(demand_mw: np.ndarray, in_season: np.ndarray) -> float:
    """Highest finite demand [MW] among the hours ``in_season``; NaN when there is none."""
    values = demand_mw[in_season & np.isfinite(demand_mw)]
    return float(values.max()) if len(values) else float("nan")


def curtailment_mw(gap_mw: np.ndarray, load_mw: float) -> np.ndarray:
    """Curtailment of a constant new load [MW] per hour, given the gap below threshold [MW]."""
    return np.clip(load_mw - gap_mw, 0.0, load_mw)


def curtailment_rate(gap_mw: np.ndarray, load_mw: float) -> float:
    """Curtailed energy / potential energy of the new load [-]."""
    if load_mw <= 0:
        return 0.0
    return float(curtailment_mw(gap_mw, load_mw).sum() / (load_mw * len(gap_mw)))


def solve_headroom_mw(gap_mw: np.ndarray, rate: float) -> float:
    """Largest constant load [MW] whose curtailment rate equals ``rate`` [-] (0 < rate < 1).

    With the gaps sorted g(1) <= ... <= g(N), the curtailed energy for g(k) <= L <= g(k+1) is
    k L - G(k) (G = prefix sum), so rate x N x L = k L - G(k) gives L = G(k) / (k - rate N);
    the root is the one candidate that falls inside its own interval. Sorted input is not
    sorted again (the study sorts once for all rates).
    """
    g = np.asarray(gap_mw, dtype="float64")
    if len(g) > 1 and not (g[1:] >= g[:-1]).all():
        g = np.sort(g)
    if len(g) == 0:
        raise StudyError("no hours left to study after cleaning")
    g = np.maximum(g, 0.0)  # an hour above its threshold (only with user thresholds) curtails all
    n = len(g)
    k = np.arange(1, n + 1, dtype="float64")
    prefix = np.cumsum(g)
    denom = k - rate * n
    with np.errstate(divide="ignore", invalid="ignore"):
        cand = np.where(denom > 0, prefix / denom, np.inf)
    upper = np.r_[g[1:], np.inf]
    ok = (cand >= g - 1e-9 * np.maximum(1.0, g)) & (cand <= upper * (1 + 1e-12) + 1e-9)
    hits = np.flatnonzero(ok & np.isfinite(cand))
    if len(hits) == 0:  # pragma: no cover - a convex piecewise-linear root always exists
        raise StudyError(f"no headroom found for rate {rate:g}")
    return float(cand[hits[0]])


def event_lengths_h(curtailed: np.ndarray) -> np.ndarray:
    """Lengths [h] of runs of consecutive curtailed hours."""
    edges = np.flatnonzero(np.diff(np.r_[0, curtailed.astype(np.int8), 0]))
    return edges[1::2] - edges[::2]


@dataclass
class RateResult:
    """Headroom at one curtailment rate and how its curtailment looks."""

    rate_pct: float
    headroom_mw: float
    load_factor_pct: float  # headroom as a share of the BA's peak [%]
    curtailed_hours_per_year: float
    mean_event_h: float
    max_event_h: int
    retained_share_pct: dict[str, float] = field(default_factory=dict)  # ">=50%" -> % of hours
    curtailed_mwh_per_year: float = 0.0

    def row(self) -> dict[str, float]:
        return {"rate_pct": self.rate_pct, "headroom_mw": self.headroom_mw,
                "headroom_share_of_peak_pct": self.load_factor_pct,
                "curtailed_hours_per_year": self.curtailed_hours_per_year,
                "mean_event_h": self.mean_event_h, "max_event_h": self.max_event_h,
                "curtailed_mwh_per_year": self.curtailed_mwh_per_year,
                **{f"hours_retaining_{k}_pct": v for k, v in self.retained_share_pct.items()}}


def rate_result(gap_mw: np.ndarray, rate_pct: float, peak_mw: float, years: float,
                sorted_gap_mw: np.ndarray | None = None) -> RateResult:
    """Solve one rate and describe the curtailment it implies. ``gap_mw`` is in time order (NaN =
    hour left out, which also ends an event); ``sorted_gap_mw`` its finite values sorted."""
    finite = gap_mw[np.isfinite(gap_mw)]
    load = solve_headroom_mw(np.sort(finite) if sorted_gap_mw is None else sorted_gap_mw,
                             rate_pct / 100.0)
    with np.errstate(invalid="ignore"):
        curt = curtailment_mw(gap_mw, load)
        hit = curt > 0
    lengths = event_lengths_h(hit)
    kept = (load - curt[hit]) / load if load > 0 else np.zeros(0)
    shares = {f"{int(lvl * 100)}": (float((kept >= lvl - 1e-12).mean() * 100) if hit.any()
                                    else 100.0) for lvl in RETAINED_LEVELS}
    return RateResult(rate_pct, load, 100.0 * load / peak_mw, float(hit.sum() / years),
                      float(lengths.mean()) if len(lengths) else 0.0,
                      int(lengths.max()) if len(lengths) else 0, shares,
                      float(np.nansum(curt) / years))


@dataclass
class HybridResult:
    """A campus of AI (never curtailed) + miners (take all curtailment) at one rate."""

    rate_pct: float
    ai_share_pct: float
    total_mw: float
    ai_mw: float
    miner_mw: float
    miner_mw_per_ai_mw: float
    miner_curtailed_hours_per_year: float
    miner_lost_full_load_hours_per_year: float  # curtailed MWh / miner MW
    limited_by: str  # "curtailment rate" or "firm headroom"

    def row(self) -> dict[str, float | str]:
        return dict(self.__dict__)


def hybrid_headroom(gap_mw: np.ndarray, rate_pct: float, ai_share: float,
                    years: float) -> HybridResult:
    """Largest hybrid new load with AI share ``ai_share`` [-] never curtailed and miners taking
    every curtailment, at curtailment rate ``rate_pct`` of the whole new load's energy.

    The miners can absorb a curtailment c(t) only up to their own MW, so the AI must fit below
    the threshold in every hour: ai_share x L <= min gap (the *firm* headroom). The answer is the
    smaller of the paper's headroom and firm headroom / ai_share.
    """
    if not (0.0 <= ai_share < 1.0):
        raise StudyError(f"--ai-share {ai_share * 100:g} %: must lie in [0, 100) %")
    gap_mw = gap_mw[np.isfinite(gap_mw)]
    duke = solve_headroom_mw(gap_mw, rate_pct / 100.0)
    firm = float(max(np.min(gap_mw), 0.0))
    total = duke if ai_share == 0 else min(duke, firm / ai_share)
    limited = "curtailment rate" if total >= duke else "firm headroom"
    ai = ai_share * total
    miners = total - ai
    curt = curtailment_mw(gap_mw, total)
    ratio = miners / ai if ai > 0 else float("inf")
    return HybridResult(rate_pct, ai_share * 100, total, ai, miners, ratio,
                        float((curt > 0).sum() / years),
                        float(curt.sum() / miners / years) if miners > 0 else 0.0, limited)
