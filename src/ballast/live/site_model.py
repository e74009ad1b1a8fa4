"""What the live runtime controls with: the operator's policy, the scenario's controller config
(the one builder's, smoothing included) scaled to the site's miner devices, the nameplate the
measurement checks scale from, and the scenario features the live host refuses because it
cannot run them yet."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ballast.control import ControllerConfig, GroupParams
from ballast.control.build import controller_config, smoothing_tick_problem
from ballast.control.smoothing import SmoothingConfig
from ballast.data.loaders import read_series
from ballast.live.battery_link import check_battery_config
from ballast.live.fourcp_load import FourCpLoad
from ballast.live.grid_programs import LivePrograms
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


# Scenario fields the backtest runs and the live host does not (issue 17, "one controller,
# every host"), with what the live host takes instead. Refused at start, never dropped. The rest
# of ``programs:`` runs live (``live.grid_programs``: EEA levels, 4CP alerts, reserve floors and
# deployments through programs/limits.py; DR through programs/dr.py). Smoothing and the battery
# run live too: the one builder (``control.build``) sizes them for the site's tick (a tick or
# devices too coarse for the smoothing are refused, ``refuse_tick``), and the battery is the site
# config's (``live.battery_link``; a size that differs is refused).
LIVE_UNSUPPORTED: dict[str, str] = {
    "programs.emergency.windows": "historic EEA windows are backtest inputs; live takes the "
    "EEA level from POST /api/v1/programs/eea",
    "programs.responsive_reserve.frequency_events": "frequency replays are backtest inputs; "
    "live trips on the metered frequency (site config ufr)",
    "programs.ecrs.deployments": "scheduled deployments are backtest inputs; live takes them "
    "from POST /api/v1/programs/deployments",
    "programs.ers.deployments": "scheduled deployments are backtest inputs; live takes them "
    "from POST /api/v1/programs/deployments",
    "programs.non_spin.deployments": "scheduled deployments are backtest inputs; live takes "
    "them from POST /api/v1/programs/deployments",
    "programs.demand_response.events": "scheduled DR events are backtest inputs; live takes "
    "them from POST /api/v1/dr-events or the OpenADR VEN",
    "programs.demand_response.baseline_method": "live latches the import metered at an "
    "event's start (meter_before_event) only",
}


class LiveUnsupportedError(ValueError):
    """A scenario asks for something the live host cannot run; the message names the file."""


def _field(scenario: Scenario, path: str) -> object:
    value: object = scenario
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def live_unsupported(scenario: Scenario) -> list[str]:
    """The fields of ``scenario`` (in ``LIVE_UNSUPPORTED``) that are set (a list not empty; a
    baseline method other than the live one)."""
    found = []
    for path in LIVE_UNSUPPORTED:
        value = _field(scenario, path)
        if path.endswith("baseline_method"):
            if value is not None and value != "meter_before_event":
                found.append(path)
        elif value:
            found.append(path)
    return found


def refuse_unsupported(scenario: Scenario, path: str | Path) -> None:
    """Raise ``LiveUnsupportedError`` (one line naming each field, why, and ``path``) when the
    scenario sets a field the live host cannot run."""
    found = live_unsupported(scenario)
    if not found:
        return
    why = "; ".join(f"{name} ({LIVE_UNSUPPORTED[name]})" for name in found)
    them = "it" if len(found) == 1 else "them"
    raise LiveUnsupportedError(
        f"scenario {path}: not run by the live host: {why}; remove {them} or use a scenario "
        f"without {them}")


def refuse_program_site(scenario: Scenario, site: SiteConfig) -> None:
    """Raise ``LiveUnsupportedError`` naming the field when the site config cannot run the
    scenario's programs: RRS (delivered by the relay) without relay groups (``ufr``), or a
    system-load feed without a 4CP program to use it."""
    progs = scenario.programs
    if site.market.system_load_feed is not None and (progs is None
                                                     or progs.coincident_peak is None):
        raise LiveUnsupportedError(
            f"site config market.system_load_feed: scenario {site.path(site.scenario)} has no "
            "programs.coincident_peak to use it; remove the feed or add the program")
    if progs is not None and progs.responsive_reserve is not None and not (
            site.ufr.enabled and site.ufr.groups):
        raise LiveUnsupportedError(
            f"scenario {site.path(site.scenario)}: programs.responsive_reserve needs the site "
            "config's under-frequency relay (ufr.enabled and ufr.groups) to deliver it live")


def live_programs(scenario: Scenario, cfg: ControllerConfig, site: SiteConfig
                  ) -> LivePrograms | None:
    """The live state of the scenario's ``programs:`` (None without one); ``refuse_program_site``
    first."""
    refuse_program_site(scenario, site)
    progs = scenario.programs
    if progs is None:
        return None
    load = None
    cp = progs.coincident_peak
    if cp is not None:  # the alert's history: the scenario's load file (a live feed extends it)
        hourly = read_series(cp.load_source, cp.load_column, minimum=0.0,
                             base_dir=site.path(site.scenario).parent,
                             label=f"programs.coincident_peak.load_source ({cp.load_source})")
        load = FourCpLoad(hourly.resample("1h").mean().dropna())
    return LivePrograms(progs, cfg, scenario.site.timezone, load)


def refuse_idle_battery(scenario: Scenario, path: str | Path) -> None:
    """Raise ``LiveUnsupportedError`` for a battery without a ``smoothing`` section: the
    controller dispatches a battery only to smooth the import (in the backtest too), so it
    would sit idle; refused rather than dropped."""
    if scenario.battery is not None and scenario.smoothing is None:
        raise LiveUnsupportedError(
            f"scenario {path}: battery without a smoothing section would sit idle (the "
            "controller dispatches a battery only to smooth the import); add a smoothing "
            "section (enabled: false lets the battery smooth alone) or remove the battery")


def refuse_tick(scenario: Scenario, site: SiteConfig) -> None:
    """Raise ``LiveUnsupportedError`` (one line naming ``tick_s`` and the scenario) when the
    site's tick is too coarse for the scenario's smoothing (``control.build.
    smoothing_tick_problem``)."""
    problem = smoothing_tick_problem(scenario, site.tick_s)
    if problem is not None:
        raise LiveUnsupportedError(
            f"site config tick_s={site.tick_s:g} s cannot run the smoothing of scenario "
            f"{site.path(site.scenario)}: {problem}")


def scaled_controller_config(scenario: Scenario, site: SiteConfig) -> ControllerConfig:
    """The scenario's controller config for a host stepping every ``site.tick_s`` (the one
    builder, ``control.build.controller_config``: smoothing included), with each group's
    count = its addresses and each unit's power x ``miners_per_device``. Groups without
    addresses get count 0. A tick too coarse for the smoothing is refused (``refuse_tick``), and
    programs the site cannot run (``refuse_program_site``)."""
    refuse_idle_battery(scenario, site.path(site.scenario))
    refuse_tick(scenario, site)
    refuse_program_site(scenario, site)
    cfg = controller_config(scenario, site.tick_s, base_dir=site.path(site.scenario).parent)
    # the scenario's battery is the site config's, same size (ValueError naming the field)
    check_battery_config(cfg, site.battery, f"site config battery (scenario "
                                            f"{site.path(site.scenario)})")
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
    _refuse_coarse_devices(cfg.smoothing, groups, site)
    # the restore ramp and the smoothing plan credit at most the late-tick limit between
    # ticks: a wall-clock jump (the snapshot's clock) earns no ramp
    max_step_s = site.watchdog.late_ticks * site.tick_s
    return replace(cfg, groups=groups, restore_max_step_s=max_step_s,
                   smoothing=replace(cfg.smoothing, max_step_s=max_step_s))


def _refuse_coarse_devices(sm: SmoothingConfig, groups: GroupParams, site: SiteConfig) -> None:
    """The smoothing plan rises at most ``(1 - step_share) x ramp_up x tick`` per tick and the
    miners move in whole devices: with every device larger than that, the plan could wake a
    miner only when the AI load falls (whole miners floor the plan's target; the backtest's
    single miners are far below any spec's step). Raise ``LiveUnsupportedError`` then."""
    if not (sm.enabled and sm.use_miners):
        return
    step_mw = (groups.run_mw - groups.sleep_mw)[groups.count > 0]
    rise_mw = (1.0 - sm.step_share) * sm.ramp_up_mw_per_s * site.tick_s
    if len(step_mw) and rise_mw < step_mw.min():
        small = int(np.argmin(np.where(groups.count > 0, groups.run_mw - groups.sleep_mw, np.inf)))
        raise LiveUnsupportedError(
            f"site config tick_s={site.tick_s:g} s: the smoothing plan rises at most "
            f"{rise_mw:.3g} MW per tick ((1 - smoothing.step_share) x "
            f"smoothing.ramp_up_mw_per_s x tick_s), less than one device of any group "
            f"(smallest: {groups.names[small]}, {step_mw.min():.3g} MW = miners_per_device x "
            "a miner's power), so miners could wake only when the AI load falls; raise tick_s "
            "or use devices of fewer miners (miners[].miners_per_device; emulated: more "
            "--devices-per-group)")


def site_nameplate(scenario: Scenario) -> SiteNameplate:
    """The sizes the plausible measurement ranges scale from (``live.sensing``)."""
    ai = scenario.ai
    return SiteNameplate(
        import_limit_mw=scenario.site.import_limit_mw,
        export_limit_mw=scenario.site.export_limit_mw,
        ai_full_mw=facility_mw(ai.it_load_mw, ai.pue) if ai else 0.0,
        miners_full_mw=float(ControllerConfig.from_scenario(scenario).groups.full_power_mw.sum()),
        renewable_capacity_mw=sum(r.capacity_mw for r in scenario.renewables))
