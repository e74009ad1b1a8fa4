"""The tick document the runtime publishes (stream, ``/api/v1/state``, dashboard); its schema is
in ``ballast.live.api``. Non-finite numbers become null and an unrepresentable time becomes
null, so a bad value can never break a tick."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ballast.control import Snapshot
from ballast.live.devices import group_power_estimate_mw
from ballast.live.obligations import utc_iso

if TYPE_CHECKING:
    from ballast.live.runtime import Runtime


def num(x: float | None) -> float | None:
    """A finite number rounded for JSON, else None."""
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def nulls(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (the tick document is strict
    JSON: the stream refuses NaN/Infinity, which browsers cannot parse)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: nulls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nulls(v) for v in value]
    return value


def tick_document(rt: Runtime, tick_no: int, now: float, replay_s: float | None,
                  import_mw: float, freq: float, ai_mw: float, renew_mw: float, miners_mw: float,
                  planned_mw: float, snap: Snapshot, rule: str, active: list[dict[str, Any]],
                  decision: Any) -> dict[str, Any]:
    groups = rt.group_counts()
    per = {m.group: m.miners_per_device for m in rt.site.miners}
    g = rt.base_cfg.groups
    power = group_power_estimate_mw(groups, g.run_mw, g.sleep_mw)
    for gi, grp in enumerate(groups):
        grp["power_mw"] = num(power[gi])  # the server's figure: the dashboard shows it as is
        grp["miners_per_device"] = per.get(grp["name"], 1.0)
        grp["target_running"] = int(decision.running[gi])
        grp["power_planned_mw"] = float(decision.group_power_mw[gi])
    return {
        "tick": tick_no, "time": utc_iso(now), "time_s": now,
        "safe_mode": rt.safe_mode or rt.ticks.failsafe_reason is not None,
        "safe_mode_reason": rt.safe_mode_reason,
        "binding_rule": rule,
        "power_mw": {"import": num(import_mw), "ai": num(ai_mw), "miners": num(miners_mw),
                     "miners_planned": num(planned_mw), "renewables": num(renew_mw),
                     "import_limit": rt.base_cfg.import_limit_mw,
                     "cap": num(snap.cap_mw), "floor": num(snap.floor_mw),
                     "plan_import": num(decision.plan_import_mw),
                     "reserve_up": num(decision.reserve_up_mw),
                     "reserve_down": num(decision.reserve_down_mw)},
        "frequency_hz": num(freq),
        "market": {"price_usd_per_mwh": rt.policy.price_usd_per_mwh,
                   "hashprice_usd_per_ph_day": rt.policy.hashprice_usd_per_ph_day,
                   "replay_time": None if replay_s is None else utc_iso(replay_s),
                   # live.market: per feed its source, value, age, fallback in force, error
                   "feeds": nulls(feeds.state) if (feeds := getattr(rt, "market_feeds", None))
                   else None},
        "groups": groups, "active_events": nulls(active),
    }
