"""What the live runtime controls with: the operator's policy, the scenario's controller config
scaled to the site's miner devices, the nameplate the measurement checks scale from, and the
scenario features the live host refuses because it cannot run them yet."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ballast.control import ControllerConfig
from ballast.live.sensing import SiteNameplate
from ballast.live.site_config import SiteConfig
from ballast.physics import facility_mw
from ballast.scenario import Scenario


@dataclass
class Policy:
    """Operator-settable controller inputs (API ``PUT /api/v1/policy``)."""

    price_usd_per_mwh: float
    hashprice_usd_per_ph_day: float
    economic_dispatch: bool
    import_margin_mw: float


# Scenario sections the backtest runs and the live host does not yet (issue 17, "one
# controller, every host"): the live controller config is built by ``ControllerConfig.
# from_scenario``, which has no smoothing, battery or program rules. Refused, never dropped.
LIVE_UNSUPPORTED: tuple[str, ...] = ("smoothing", "battery", "programs")


class LiveUnsupportedError(ValueError):
    """A scenario asks for something the live host cannot run; the message names the file."""


def live_unsupported(scenario: Scenario) -> list[str]:
    """The sections of ``scenario`` (in ``LIVE_UNSUPPORTED``) that are set."""
    return [name for name in LIVE_UNSUPPORTED if getattr(scenario, name) is not None]


def refuse_unsupported(scenario: Scenario, path: str | Path) -> None:
    """Raise ``LiveUnsupportedError`` (one line naming each feature and ``path``) when the
    scenario sets a section the live host cannot run."""
    found = live_unsupported(scenario)
    if not found:
        return
    names = found[0] if len(found) == 1 else f"{', '.join(found[:-1])} and {found[-1]}"
    verb, them = ("is", "it") if len(found) == 1 else ("are", "them")
    raise LiveUnsupportedError(
        f"scenario {path}: {names} {verb} not run by the live host yet (issue 17: one "
        f"controller, every host); remove {them} or use a scenario without {them}")


def scaled_controller_config(scenario: Scenario, site: SiteConfig) -> ControllerConfig:
    """The scenario's controller config with each group's count = its addresses and each
    unit's power x ``miners_per_device``. Groups without addresses get count 0."""
    cfg = ControllerConfig.from_scenario(scenario)
    g = cfg.groups
    names = list(g.names)
    devices = {m.group: m for m in site.miners}
    unknown = sorted(set(devices) - set(names))
    if unknown:
        raise ValueError(f"site config miners: group(s) {unknown} are not in the scenario "
                         f"(groups: {names})")
    count = np.zeros(len(names), dtype=np.int64)
    per = np.ones(len(names))
    for i, name in enumerate(names):
        if name in devices:
            count[i] = len(devices[name].addresses())
            per[i] = devices[name].miners_per_device
    groups = replace(g, count=count, run_mw=g.run_mw * per, sleep_mw=g.sleep_mw * per)
    # the restore ramp credits at most the late-tick limit between ticks: a wall-clock jump
    # (the snapshot's clock) earns no ramp
    return replace(cfg, groups=groups,
                   restore_max_step_s=site.watchdog.late_ticks * site.tick_s)


def site_nameplate(scenario: Scenario) -> SiteNameplate:
    """The sizes the plausible measurement ranges scale from (``live.sensing``)."""
    ai = scenario.ai
    return SiteNameplate(
        import_limit_mw=scenario.site.import_limit_mw,
        export_limit_mw=scenario.site.export_limit_mw,
        ai_full_mw=facility_mw(ai.it_load_mw, ai.pue) if ai else 0.0,
        miners_full_mw=float(ControllerConfig.from_scenario(scenario).groups.full_power_mw.sum()),
        renewable_capacity_mw=sum(r.capacity_mw for r in scenario.renewables))
