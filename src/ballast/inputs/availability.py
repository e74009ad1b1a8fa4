"""When each input of a backtest becomes known: its source series and publication delay.

One table, ``AVAILABILITY``: for each column ``build_inputs`` makes (and the 4CP alert's load),
the scenario field it comes from, the instant a value stamped ``s`` may first be used, and why.
A value is used at ``t`` only if ``t >= s + delay``; ``tests/test_no_lookahead_property.py``
perturbs each source series at a random row and checks that nothing the controller reads or
decides before that instant changes.

Rules that are modelling choices, not publication facts, say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

DecisionDelay = Literal["interval", "none"]


@dataclass(frozen=True)
class Availability:
    """Where one input column comes from and when a value of it is known."""

    column: str
    source_field: str  # scenario field naming the series ("" for a synthetic profile)
    controller_input: bool  # read by the controller's decision (else settlement / KPIs only)
    delay: str  # the rule, in words: value stamped s is usable from s + delay
    basis: str  # documented source, or "modelling choice: ..."


AVAILABILITY: tuple[Availability, ...] = (
    Availability(
        "decision_price_usd_per_mwh",
        "markets.price",
        True,
        "decision_delay: interval (default) = max(price file step, run step); none = 0",
        "ERCOT's real-time settlement point price of a 15-min interval averages the SCED LMPs "
        "inside it, so it exists only once the interval ends; SCED posts each 5-min LMP "
        "'normally within the last five minutes' (docs/sources.md#ercot-price-publication). With "
        "'interval' the controller decides on the last price settled before the decision "
        "(on a run coarser than the file: the mean of the last run interval). 'none' decides on "
        "the interval's own price: look-ahead of up to one interval, kept as an upper bound. "
        "On an hourly file (hour means of the 15-min prices) 'interval' waits a whole hour, "
        "later than a live site that sees each 5-min price: the two bracket the truth.",
    ),
    Availability(
        "price_usd_per_mwh",
        "markets.price",
        False,
        "0 (settlement of its own interval)",
        "Settlement: each interval's energy is paid at that interval's price after the fact. "
        "Never read by the controller.",
    ),
    Availability(
        "btc_price_usd",
        "markets.bitcoin.network_source (fees: series) / .source (share)",
        True,
        "markets.bitcoin.price_delay_h (default 24 h)",
        "A daily close stamped at 00:00 UTC of its day is known at the day's end (data/bitcoin_network.py).",
    ),
    Availability(
        "difficulty",
        "markets.bitcoin.network_source (implied from hash rate and blocks) / .source (share)",
        True,
        "series: price_delay_h; share: 0",
        "series: implied from the day's mean hash rate and block count, known at the day's "
        "end. share: modelling choice: difficulty is a consensus value fixed for 2,016 blocks "
        "at each retarget, so it is known when it takes effect (the bundled daily file "
        "forward-fills samples, epoch dates uncertain by up to 2 days: see its PROVENANCE).",
    ),
    Availability(
        "block_subsidy_btc",
        "markets.bitcoin.network_source / halving schedule",
        True,
        "series: price_delay_h; share: 0 (consensus schedule)",
        "series: the day's total over its blocks, known at its end. share: the halving "
        "schedule is fixed by the protocol.",
    ),
    Availability(
        "fees_btc_per_block",
        "markets.bitcoin.network_source / fee_share_of_revenue",
        True,
        "series: price_delay_h; share: 0 (a constant)",
        "series: the day's total fees, known at its end.",
    ),
    Availability(
        "btc_per_th_day",
        "derived from the Bitcoin columns",
        True,
        "the latest of its inputs",
        "Computed per instant from values already known.",
    ),
    Availability(
        "hashprice_usd_per_ph_day",
        "derived from the Bitcoin columns",
        True,
        "the latest of its inputs",
        "Computed per instant from values already known.",
    ),
    Availability(
        "renewable_mw (and renewable_<name>_mw)",
        "renewables[].source, .installed_capacity_source",
        True,
        "0 (a measurement)",
        "Modelling choice: the site meters its own plant; the interval mean of the ERCOT fleet "
        "(scaled) stands in for that meter, so on a run coarser than the meter's cadence the "
        "controller knows the interval's mean output at its start. Installed capacity is the "
        "plant's nameplate. normalisation: year_max divides by the year's highest hour, a "
        "whole-year statistic (look-ahead in the scale only), kept as a named option.",
    ),
    Availability(
        "ai_it_load_mw, ai_load_mw",
        "",
        True,
        "0 (a measurement)",
        "Synthetic profile from the scenario (no data file); the live controller meters it.",
    ),
    Availability(
        "carbon_intensity_g_per_kwh",
        "markets.carbon",
        False,
        "0 (accounting of its interval)",
        "KPI only (CO2 of the energy imported in the interval). Never read by the controller.",
    ),
    Availability(
        "4CP alert (programs)",
        "programs.fourcp load source",
        True,
        "1 h (an hourly load is used from the end of its hour)",
        "programs/fourcp.py: the alert for hour h extrapolates the loads of h-1 and h-2 and "
        "compares with the month's peak over completed hours; ERCOT publishes system load in "
        "near real time.",
    ),
)


def decision_delay(mode: DecisionDelay, price_step: pd.Timedelta, run_step: pd.Timedelta) -> pd.Timedelta:
    """Delay from a price's stamp to its use in a decision. ``interval``: the price of an
    interval is known at its end, and on a run coarser than the file the controller decides
    once per run interval, so it sees the last whole run interval: max(price step, run step).
    ``none``: 0 (the interval's own price; look-ahead)."""
    if mode == "none":
        return pd.Timedelta(0)
    return max(price_step, run_step)
