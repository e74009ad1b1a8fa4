"""One-at-a-time sensitivities of a strategy's NPV over the baseline's (the report's tornado):
each input moved down and up by a share of its value, everything else held, in the base price
case. Each point is one deterministic valuation (milliseconds), an independent task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ballast.plan import bitcoin_future as bf
from ballast.plan import finance, operations
from ballast.plan.document import Plan
from ballast.plan.model import PlanResult, bitcoin_years, cash_flows, schedule

# (section or None for the plan itself, field, label)
INPUTS: tuple[tuple[str | None, str, str], ...] = (
    ("bitcoin", "start_price_usd", "BTC price"),
    ("bitcoin", "difficulty_growth_per_yr", "Difficulty growth"),
    ("bitcoin", "network_power_growth_per_yr", "Network power growth"),  # when given instead
    ("mining", "power_price_usd_per_mwh", "Power price"),
    ("mining", "efficiency_j_per_th", "Fleet J/TH"),
    ("hosting", "lease_usd_per_kw_month", "Lease rate"),
    ("hosting", "capex_usd_per_mw", "Conversion capex"),
    (None, "discount_rate", "Discount rate"),
)


@dataclass(frozen=True)
class Bar:
    """One tornado bar: the input's low and high values and the ΔNPV at each [USD]."""

    label: str
    field: str
    low_value: float
    high_value: float
    low_usd: float
    high_usd: float


def _with(plan: Plan, section: str | None, field: str, value: float) -> Plan:
    if section is None:
        return plan.model_copy(update={field: value})
    part = getattr(plan, section).model_copy(update={field: value})
    return plan.model_copy(update={section: part})


def delta_npv_usd(plan: Plan, result: PlanResult, name: str) -> float:
    """NPV of strategy ``name`` less the baseline's in the base price case, for ``plan`` (the
    result's plan with inputs changed); the strategies keep their schedules' MW."""
    b = plan.bitcoin
    btc = bitcoin_years(plan, bf.price_case_usd(b.start_price_usd, b.cases[b.base_case], plan.horizon_years))
    ballast = result.optimum.ballast_mw if result.optimum and result.optimum.strategy.name == name else None
    npv = {}
    for r in result.strategies:
        if r.strategy.name in (name, result.baseline):
            extra = ballast if r.strategy.name == name else None
            flows = cash_flows(plan, r.strategy, schedule(plan, r.strategy, extra), btc)
            npv[r.strategy.name] = float(finance.npv(plan.discount_rate, flows["cash_flow_usd"][0]))
    return npv[name] - npv[result.baseline]


def subject(result: PlanResult) -> str:
    """The strategy the tornado is about: the best if it converts, else the best of those that
    do (a strategy converting nothing has a ΔNPV of zero whatever the inputs); the baseline
    when none converts (its ΔNPV is then zero too)."""
    case = result.plan.bitcoin.base_case
    converting = [r for r in result.strategies if r.schedule.converted_mw.any()]
    if not converting:
        return result.baseline
    return max(converting, key=lambda r: r.metrics[case]["npv_usd"]).strategy.name


def delta_npv_points(
    points: list[tuple[str | None, str, float]], result: PlanResult, name: str, measured: dict
) -> list[float]:
    """``delta_npv_usd`` with each (section, field, value) set in turn (a task; ``measured``:
    the backtested configurations, ``operations.cache_entries``)."""
    operations.seed_cache(measured)
    return [delta_npv_usd(_with(result.plan, sec, fld, value), result, name) for sec, fld, value in points]


def tornado(
    result: PlanResult, name: str, swing: float = 0.2, map_fn: Callable[..., list] | None = None
) -> tuple[float, list[Bar]]:
    """ΔNPV of ``name`` in the base case, and a bar per input moved by -/+ ``swing`` of its
    value (inputs at zero or not given have no bar), largest spread first. Each input is one
    task for ``map_fn`` (``plan.parallel``; in-process by default)."""
    from ballast.plan.parallel import in_process

    plan = result.plan
    base = delta_npv_usd(plan, result, name)
    moved = []
    for section, field, label in INPUTS:
        value = getattr(plan if section is None else getattr(plan, section), field)
        if value:  # zero or not given (difficulty growth from the network's power): no bar
            moved.append((section, field, label, value * (1 - swing), value * (1 + swing)))
    groups = [[(sec, fld, lo), (sec, fld, hi)] for sec, fld, _label, lo, hi in moved]
    measured = operations.cache_entries(plan) if plan.operations is not None else {}
    deltas = (map_fn or in_process)(delta_npv_points, groups, result, name, measured)
    bars = [
        Bar(label, f"{sec}.{fld}" if sec else fld, lo, hi, lo_usd, hi_usd)
        for (sec, fld, label, lo, hi), (lo_usd, hi_usd) in zip(moved, deltas, strict=True)
    ]
    bars.sort(key=lambda bar: -abs(bar.high_usd - bar.low_usd))
    return base, bars
