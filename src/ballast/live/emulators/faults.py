"""The fault campaign of issue 9 as a seeded generator: one generator, two drivers.

``draw_episodes(seed, n)`` yields :class:`Episode` s. Each episode draws a fault kind, a true
load change (the AI load steps or rises, the renewables may fall: both raise the net import),
its timing and the fault's parameters. The same episodes drive

- ``tests/runtime/test_live_chaos.py``: the real emulated site on loopback (LuxOS miners,
  Modbus meter, DCGM exporter), a few episodes in wall time;
- ``benchmarks/bench_chaos.py``: in-process device doubles on the same site physics
  (``EmulatedSite.step_physics``), thousands of episodes in simulated time.

Both check the same invariants with :mod:`ballast.live.emulators.chaos_check`.

Fault kinds (``FAULT_KINDS``):

- ``meter_nan`` / ``meter_inf`` / ``meter_out_of_range``: one power register of the meter
  serves NaN, +-inf or an implausible value (:func:`faulted_meter_values`);
- ``meter_frozen``: every register keeps the values of the fault's onset while the true load
  changes;
- ``meter_drop``: the meter refuses connections; ``meter_stall``: it accepts and never answers;
- ``dcgm_down``: the AI telemetry endpoint is gone;
- ``miners_<mode>``: 10 % of each group's miners misbehave in one of the LuxOS emulator's
  fault modes (``MINER_FAULT_MODES``: the :class:`~ballast.live.emulators.luxos_miner.
  MinerFaults` fields, a reboot, an expired session);
- ``store_stall``: another connection holds the store's write lock for ``stall_s``;
- ``hostile_request``: an operator request with a hostile body (:data:`HOSTILE_REQUESTS`);
- ``restart_mid_event``: a DR event starts, the runtime stops and starts again on the same
  store while the event is active.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ballast.live.emulators.meter import MeterEmulator

METER_VALUE_FAULTS = ("meter_nan", "meter_inf", "meter_out_of_range")
MINER_FAULT_MODES = ("delay", "refuse", "ignore", "power_bias", "reboot", "session_expired")
FAULT_KINDS: tuple[str, ...] = (
    *METER_VALUE_FAULTS, "meter_frozen", "meter_drop", "meter_stall", "dcgm_down",
    *(f"miners_{m}" for m in MINER_FAULT_MODES),
    "store_stall", "hostile_request", "restart_mid_event",
)
# Power registers whose fault can raise the true import above the limit when trusted: a low
# AI or miner reading, a high renewables reading (names from the meter's REGISTER_MAP).
FAULTED_REGISTERS = ("ai_feeder_power_mw", "renewables_feeder_power_mw",
                     "miners_feeder_power_mw", "campus_import_power_mw")
MINER_FAULT_SHARE = 0.10  # the issue: "10 % of miners misbehaving"
# Faults the runtime can only detect after a while (the watchdog's stale time, the frozen
# window) or only correct in two rounds (the first command finds the misbehaving miners):
# their episodes last twice as long, so that the steady state under the fault gets judged.
SLOW_KINDS = frozenset({"meter_frozen", "meter_drop", "meter_stall",
                        *(f"miners_{m}" for m in MINER_FAULT_MODES)})

# The campaign's campus: a 140 MW limit, AI 30-100 MW facility (the episodes' shares of 80 MW
# IT x PUE 1.25), wind 0-36 MW, miners 159 MW at nameplate (S21 27,000 x 3,500 W, S19 XP
# 19,000 x 3,010 W, cooling PUE 1.05), so the limit binds at every drawn load and a hidden
# rise of the load or fall of the wind overshoots it.
CHAOS_CAMPUS: dict = {
    "version": 1,
    "name": "chaos-campus",
    "site": {"name": "chaos campus", "import_limit_mw": 140, "export_limit_mw": 0},
    "ai": {"it_load_mw": 80, "pue": 1.25},
    "miners": [
        {"name": "s21", "model": "Antminer S21", "count": 27000},
        {"name": "s19xp", "model": "Antminer S19 XP", "count": 19000},
    ],
    "renewables": [{"name": "wind", "kind": "wind", "capacity_mw": 60.0}],
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"},
}


@dataclass(frozen=True)
class HostileRequest:
    """One operator request with a body that must be refused (4xx, no state change)."""

    name: str
    method: str
    path: str  # under the API root, e.g. "/api/v1/dr-events"
    body: str  # raw JSON text (may hold NaN/Infinity, which strict JSON lacks)


_BIG = "x" * 65_536
_LONG_NAME = "g" * 12_000  # a path under common HTTP servers' 16-kB request-line limits
# The campaign (item 2, item 5, item 6) plus the design's strictness rules.
HOSTILE_REQUESTS: tuple[HostileRequest, ...] = (
    HostileRequest("dr_end_year_9999", "POST", "/api/v1/dr-events",
                   '{"end": "9999-12-31T23:59:59-12:00", "reduction_mw": 10}'),
    HostileRequest("dr_start_year_1", "POST", "/api/v1/dr-events",
                   '{"start": "0001-01-01T00:00:00+14:00", "duration_s": 60, "reduction_mw": 5}'),
    HostileRequest("dr_reduction_nan", "POST", "/api/v1/dr-events",
                   '{"duration_s": 60, "reduction_mw": NaN}'),
    HostileRequest("dr_reduction_infinity", "POST", "/api/v1/dr-events",
                   '{"duration_s": 60, "reduction_mw": Infinity}'),
    HostileRequest("dr_duration_1e400", "POST", "/api/v1/dr-events",
                   '{"duration_s": 1e400, "reduction_mw": 5}'),
    HostileRequest("dr_unknown_field", "POST", "/api/v1/dr-events",
                   '{"duration_s": 60, "reduction_share": 0.5, "import_limit_mw": 1000}'),
    HostileRequest("dr_huge_string", "POST", "/api/v1/dr-events",
                   '{"start": "' + _BIG + '", "duration_s": 60, "reduction_mw": 5}'),
    HostileRequest("policy_margin_nan", "PUT", "/api/v1/policy", '{"import_margin_mw": NaN}'),
    HostileRequest("policy_margin_huge", "PUT", "/api/v1/policy", '{"import_margin_mw": 1e300}'),
    HostileRequest("policy_price_infinity", "PUT", "/api/v1/policy",
                   '{"price_usd_per_mwh": Infinity}'),
    HostileRequest("policy_price_true", "PUT", "/api/v1/policy", '{"price_usd_per_mwh": true}'),
    HostileRequest("policy_dispatch_yes", "PUT", "/api/v1/policy",
                   '{"economic_dispatch": "yes"}'),
    HostileRequest("policy_unknown_limit", "PUT", "/api/v1/policy", '{"import_limit_mw": 1000}'),
    HostileRequest("group_name_12k", "POST", f"/api/v1/groups/{_LONG_NAME}/curtail", "{}"),
)


@dataclass(frozen=True)
class Episode:
    """One fault episode. Times are seconds from the episode's start on the driver's clock.

    The true AI load (share of nominal IT load) goes from ``ai_share_from`` to
    ``ai_share_to`` starting at ``ai_change_at_s`` over ``ai_rise_s`` (0: a step); the
    renewables' capacity factor from ``renew_cf_from`` to ``renew_cf_to`` at the same time.
    The fault is on during [``fault_at_s``, ``fault_end_s``)."""

    index: int
    seed: int  # the episode's own seed (which miners, which request, ...)
    kind: str
    duration_s: float
    fault_at_s: float
    fault_end_s: float
    ai_change_at_s: float
    ai_rise_s: float
    ai_share_from: float
    ai_share_to: float
    renew_cf_from: float
    renew_cf_to: float
    register: str | None = None  # meter value faults: which register
    value: float | None = None  # meter value faults: what it serves
    miner_mode: str | None = None  # miners_*: which fault mode
    stall_s: float = 0.0  # store_stall: how long the write lock is held
    request: HostileRequest | None = None  # hostile_request
    dr_reduction_mw: float = 0.0  # restart_mid_event

    def load_at(self, t_s: float) -> tuple[float, float]:
        """True (AI share of nominal IT load [-], renewable capacity factor [-]) at ``t_s``."""
        if t_s < self.ai_change_at_s:
            f = 0.0
        elif self.ai_rise_s <= 0 or t_s >= self.ai_change_at_s + self.ai_rise_s:
            f = 1.0
        else:
            f = (t_s - self.ai_change_at_s) / self.ai_rise_s
        return (self.ai_share_from + f * (self.ai_share_to - self.ai_share_from),
                self.renew_cf_from + f * (self.renew_cf_to - self.renew_cf_from))

    def fault_active(self, t_s: float) -> bool:
        return self.fault_at_s <= t_s < self.fault_end_s


def draw_episodes(seed: int, n: int, *, duration_s: tuple[float, float] = (5.0, 8.0),
                  kinds: Sequence[str] = FAULT_KINDS, import_limit_mw: float = 140.0
                  ) -> Iterator[Episode]:
    """``n`` episodes from ``seed``: kinds in turn through a seeded shuffle of ``kinds`` (so a
    short run still covers many kinds), everything else drawn. The fault spans most of the
    episode and the load changes early in it. Deterministic given the seed."""
    unknown = sorted(set(kinds) - set(FAULT_KINDS))
    if unknown:
        raise ValueError(f"unknown fault kind(s) {unknown}; valid: {list(FAULT_KINDS)}")
    rng = np.random.default_rng(seed)
    order: list[str] = []
    for i in range(n):
        if not order:
            order = [str(k) for k in rng.permutation(np.asarray(kinds, dtype=object))]
        kind = order.pop()
        dur = float(rng.uniform(*duration_s)) * (2.0 if kind in SLOW_KINDS else 1.0)
        fault_at = dur * float(rng.uniform(0.05, 0.15))
        fault_end = dur * float(rng.uniform(0.85, 0.92))
        ai_at = float(rng.uniform(fault_at, fault_at + 0.15 * (fault_end - fault_at)))
        ai_rise = 0.0 if rng.random() < 0.5 else float(rng.uniform(0.03, 0.1) * dur)
        ai_from = float(rng.uniform(0.3, 0.7))
        ai_to = float(rng.uniform(0.85, 1.0))
        cf_from = float(rng.uniform(0.3, 0.6))
        cf_to = float(rng.uniform(0.0, cf_from)) if rng.random() < 0.5 else cf_from
        extra: dict = {}
        if kind in METER_VALUE_FAULTS:
            # half the time the AI feeder (the critical case), else any power register
            reg = FAULTED_REGISTERS[0] if rng.random() < 0.5 else str(rng.choice(FAULTED_REGISTERS))
            # the dangerous direction for the register: reads too low, or renewables too high
            sign = 1.0 if reg == "renewables_feeder_power_mw" else -1.0
            if kind == "meter_nan":
                value = math.nan
            elif kind == "meter_inf":
                value = sign * math.inf if rng.random() < 0.7 else -sign * math.inf
            else:
                value = sign * float(rng.choice([10.0 * import_limit_mw, 1e9]))
            extra = {"register": reg, "value": value}
        elif kind.startswith("miners_"):
            extra = {"miner_mode": kind.removeprefix("miners_")}
        elif kind == "store_stall":
            # longer than the 2-s tick-gap invariant: a store on the control loop must show
            extra = {"stall_s": float(rng.uniform(2.5, 4.0))}
        elif kind == "hostile_request":
            extra = {"request": HOSTILE_REQUESTS[int(rng.integers(len(HOSTILE_REQUESTS)))]}
        elif kind == "restart_mid_event":
            extra = {"dr_reduction_mw": float(rng.uniform(0.05, 0.25) * import_limit_mw)}
        yield Episode(i, int(rng.integers(2**31)), kind, dur, fault_at, fault_end, ai_at,
                      ai_rise, ai_from, ai_to, cf_from, cf_to, **extra)


def inject_meter_fault(meter: MeterEmulator, ep: Episode) -> None:
    """Start a meter value fault (NaN, +-inf, out of range, frozen) through the emulator's
    fault hooks; ``meter.release_faults()`` ends it. Drops and stalls are transport faults:
    each driver makes the meter unreachable its own way."""
    if ep.kind == "meter_frozen":
        meter.freeze()
    elif ep.kind in METER_VALUE_FAULTS:
        assert ep.register is not None and ep.value is not None
        meter.force_register(ep.register, ep.value)
    else:
        raise ValueError(f"{ep.kind} is not a meter value fault")


def faulty_miners(ep: Episode, ips_by_group: dict[str, Sequence[str]]) -> list[str]:
    """The miners (``MINER_FAULT_SHARE`` of each group, at least one) an episode's miner fault
    hits; drawn from the episode's seed."""
    rng = np.random.default_rng(ep.seed)
    out: list[str] = []
    for ips in ips_by_group.values():
        k = max(1, round(MINER_FAULT_SHARE * len(ips)))
        out += [ips[int(i)] for i in sorted(rng.choice(len(ips), k, replace=False))]
    return out


def miner_fault_settings(mode: str, *, command_timeout_s: float) -> dict[str, object]:
    """``MinerEmulator.inject`` keyword arguments for a fault mode that is a
    :class:`MinerFaults` field ({} for ``reboot`` and ``session_expired``, which are calls)."""
    return {"delay": {"delay_s": 4.0 * command_timeout_s},  # always past the driver's timeout
            "refuse": {"refuse": True},
            "ignore": {"ignore_commands": True},
            "power_bias": {"power_bias_w": -2000.0},  # reads low: the dangerous direction
            }.get(mode, {})


def hold_sqlite_write_lock(path: str, seconds: float, held: threading.Event) -> None:
    """Store fault: a second connection takes SQLite's write lock (``BEGIN EXCLUSIVE``) for
    ``seconds`` [s] of real time, as a stuck writer or backup would. Blocks: run it in a
    thread; ``held`` is set once the lock is taken (or the attempt failed)."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        held.set()
        conn.close()
