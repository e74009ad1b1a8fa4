"""The grid programs settled live, per program, with the backtest's money arithmetic
(``programs/settle.py``: ``reserve_payment_usd``, ``energy_mwh``, ``energy_usd``;
``programs/dr.py``: ``dr_achieved_reduction_mw``, ``dr_shortfall_mw``).

Each tick records what the site was committed to (``Commitments``: the reserves sold, the
deployments and DR events in force with their reference and MW asked, an EEA or 4CP
curtailment); the next tick settles that interval on the meter it reads (the interval's
metered import and miner power):

- a reserve's availability is paid on the MW sold at the start of the interval, at its
  ``price_usd_per_mw_h`` (as the backtest: sold MW x price x hours);
- a deployment delivers its reference miner power minus the metered miner power; what falls
  short of the MW committed pays ``shortfall_penalty_usd_per_mwh``;
- a DR event is paid ``payment_usd_per_mwh`` on the import below its baseline (negative counts
  as none);
- EEA and 4CP curtailment count hours; EEA pays nothing (as in the backtest).

What is not settled live: the 4CP transmission savings (they need ERCOT's 4CP intervals, which
are published after the summer: the backtest settles them on the year's real peaks) and the
power credits of a fixed-price contract. An interval longer than ``max_step_s`` (a stall, a
restart) is settled only up to it (the tick hands in the longer of ``tick_s`` and
``watchdog.meter_stale_s``); a meter that is stale at the end of an interval counts the
interval's deployments and DR events as not delivered (nothing metered, nothing delivered).
The totals are part of the runtime state each tick writes, so they survive a restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ballast.live.obligations import utc_iso
from ballast.programs.dr import dr_achieved_reduction_mw, dr_cap, dr_shortfall_mw
from ballast.programs.schema import RESERVE_PROGRAMS, Programs
from ballast.programs.settle import energy_mwh, energy_usd, reserve_payment_usd

if TYPE_CHECKING:
    from ballast.live.runtime import Runtime

NOT_SETTLED_LIVE = (
    "coincident_peak transmission savings: settled on ERCOT's 4CP intervals, published after "
    "the summer (the backtest settles them on the year's real peaks); live counts the hours "
    "curtailing only",
    "price_response power credits (the fixed-price contract settles with the utility)",
)
_FIELDS = ("revenue_usd", "penalty_usd", "net_usd")


@dataclass(frozen=True)
class Commitments:
    """What the site was committed to at a tick (``time_s``, UNIX s): reserves sold [MW];
    deployments in force (id, reserve, reference miner power, MW committed); DR events in
    force (id, baseline import, reduction asked [MW]); an EEA or 4CP curtailment."""

    time_s: float
    sold_mw: dict[str, float] = field(default_factory=dict)
    deployments: tuple[tuple[str, str, float, float], ...] = ()
    dr: tuple[tuple[str, float, float], ...] = ()
    eea: bool = False
    fourcp: tuple[str, ...] = ()


def tick_commitments(
    rt: Runtime, now_s: float, sold_mw: dict[str, float], stale: bool, active: list[dict[str, Any]]
) -> Commitments:
    """The runtime's commitments at ``now_s`` after its programs' and DR's limits: nothing is
    sold while the meter is stale (the floor is not held then)."""
    progs = rt.programs
    deps = tuple(
        (w.id, w.program, float(w.reference_mw), float(w.commit_mw or 0.0))
        for w in progs.windows.values()
        if w.kind == "deployment" and w.active(now_s) and w.reference_mw is not None
    )
    dr = []
    for ev_id, base in rt.dr.baselines.items():
        ev = rt.dr.events.get(ev_id)
        if ev is not None and ev.active(now_s):
            c = dr_cap(ev.request, *base)
            dr.append((ev_id, c.baseline_import_mw, c.reduction_mw))
    em = progs.progs.emergency
    return Commitments(
        now_s,
        {} if stale else {k: v for k, v in sold_mw.items() if v > 0.0},
        deps,
        tuple(dr),
        em is not None and progs.eea_level >= em.curtail_at_level,
        tuple(a["id"] for a in active if a.get("kind") == "4cp_alert"),
    )


class ProgramSettlement:
    """Running totals per program of the scenario's ``programs:`` (``settle`` each tick)."""

    def __init__(self, programs: Programs) -> None:
        self.progs = programs
        names = [n for n in RESERVE_PROGRAMS if getattr(programs, n) is not None]
        names += [
            n for n in ("demand_response", "emergency", "coincident_peak") if getattr(programs, n) is not None
        ]
        self.totals: dict[str, dict[str, float]] = {n: self._zero(n) for n in names}
        self.since_s: float | None = None  # first interval settled
        self.until_s: float | None = None  # last interval settled
        self.last: Commitments | None = None  # not saved: a restart settles from its first tick
        self.counted: set[str] = set()

    @staticmethod
    def _zero(name: str) -> dict[str, float]:
        extra: tuple[str, ...] = ("hours",)
        if name in RESERVE_PROGRAMS:
            extra = ("sold_mw_h", "deployments", "delivered_mwh", "shortfall_mwh")
        elif name == "demand_response":
            extra = ("deployments", "reduced_mwh", "shortfall_mwh")
        return dict.fromkeys((*_FIELDS, *extra), 0.0)

    def settle(self, now: Commitments, metered: tuple[float, float] | None, max_step_s: float) -> None:
        """Settle the interval since the last tick on ``metered`` (campus import, miner power
        [MW]; None when stale), then keep ``now`` for the next one."""
        prev, self.last = self.last, now
        if prev is None:
            return
        dt_s = min(now.time_s - prev.time_s, max_step_s)
        if not dt_s > 0.0:
            return
        dt_h = dt_s / 3600.0
        imp, miners = metered if metered is not None else (math.nan, math.nan)
        for name, mw in prev.sold_mw.items():
            if name in self.totals:
                row, price = self.totals[name], getattr(self.progs, name).price_usd_per_mw_h
                row["revenue_usd"] += reserve_payment_usd(mw, price, dt_h)
                row["sold_mw_h"] += energy_mwh(mw, dt_h)
        for dep_id, name, reference_mw, commit_mw in prev.deployments:
            row = self.totals[name]
            achieved = float(dr_achieved_reduction_mw(reference_mw, miners)) if metered else 0.0
            short_mwh = energy_mwh(dr_shortfall_mw(commit_mw, achieved), dt_h)
            row["delivered_mwh"] += energy_mwh(achieved, dt_h)
            row["shortfall_mwh"] += short_mwh
            rate = getattr(getattr(self.progs, name), "shortfall_penalty_usd_per_mwh", 0.0)
            row["penalty_usd"] += energy_usd(short_mwh, rate)
            row["deployments"] += dep_id not in self.counted
        dr = self.progs.demand_response
        for ev_id, baseline_mw, reduction_mw in prev.dr if dr is not None else ():
            row = self.totals["demand_response"]
            achieved = float(dr_achieved_reduction_mw(baseline_mw, imp)) if metered else 0.0
            mwh = energy_mwh(achieved, dt_h)
            row["reduced_mwh"] += mwh
            row["revenue_usd"] += energy_usd(mwh, dr.payment_usd_per_mwh)
            row["shortfall_mwh"] += energy_mwh(dr_shortfall_mw(reduction_mw, achieved), dt_h)
            row["deployments"] += ev_id not in self.counted
        # the deployments and DR events counted, while they are in force (saved: a restart
        # does not count them again)
        self.counted = {d[0] for d in prev.deployments} | {d[0] for d in prev.dr}
        if prev.eea and "emergency" in self.totals:
            self.totals["emergency"]["hours"] += dt_h
        if prev.fourcp and "coincident_peak" in self.totals:
            self.totals["coincident_peak"]["hours"] += dt_h
        for row in self.totals.values():
            row["net_usd"] = row["revenue_usd"] - row["penalty_usd"]
        self.since_s = prev.time_s if self.since_s is None else self.since_s
        self.until_s = prev.time_s + dt_s

    def saved(self) -> dict[str, Any]:
        """The totals for the runtime state document (``resume.SavedSettlement``)."""
        return {
            "since_s": self.since_s,
            "until_s": self.until_s,
            "counted": sorted(self.counted),
            "totals": {k: dict(v) for k, v in self.totals.items()},
        }

    def restore(self, doc: dict[str, Any]) -> None:
        """Take back ``saved()``'s totals for the programs the scenario still has."""
        self.since_s, self.until_s = doc.get("since_s"), doc.get("until_s")
        self.counted = set(doc.get("counted", []))
        for name, row in doc.get("totals", {}).items():
            if name in self.totals:
                self.totals[name].update({k: v for k, v in row.items() if k in self.totals[name]})

    def document(self) -> dict[str, Any]:
        """The settlement for ``GET /api/v1/programs/settlement``."""
        cash = sum(r["net_usd"] for n, r in self.totals.items() if n != "coincident_peak")
        return {
            "since": utc_iso(self.since_s) if self.since_s is not None else None,
            "until": utc_iso(self.until_s) if self.until_s is not None else None,
            "programs": {k: dict(v) for k, v in self.totals.items()},
            "programs_cash_usd": cash,
            "not_settled_live": list(NOT_SETTLED_LIVE),
        }
