"""Smoothing live (issue 17, item 1): the runtime's controller comes from the one builder
(``control.build.controller_config``) at the site's tick, a tick too coarse for the smoothing
spec is refused at start with one line naming ``tick_s``, and the smoothing memory is saved
with the runtime state and restored on a restart. The tick-by-tick comparison with the fine
backtest on the emulated site is ``test_parity.py``."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml
from live_helpers import INSTANT_WAKE, emulated_campus, free_port, until, write_campus
from tests.smoothing_helpers import campus as training_campus
from typer.testing import CliRunner

from ballast.cli import app
from ballast.control import ControllerState, Snapshot, step
from ballast.control.build import controller_config
from ballast.control.smoothing import SS_INIT, SS_PLAN, SS_TARGET
from ballast.live.emulated_site import emulated_site_config, plan_emulation
from ballast.live.resume import SavedState, _apply, state_document
from ballast.live.site_model import LiveUnsupportedError, Policy, scaled_controller_config
from ballast.scenario import load_scenario
from ballast.sim.fine import fine_setup

SWING_PERIOD_S = 4.0  # tests/smoothing_helpers: the default training swing period


def _site(tmp_path: Path, doc: dict[str, Any], tick_s: float, devices: int = 1000):
    path = write_campus(tmp_path, doc)
    scen = load_scenario(path)
    plan = plan_emulation(scen, devices, "127.62")
    cfg = emulated_site_config(
        str(path),
        plan,
        meter_port=1,
        dcgm_port=None,
        tick_s=tick_s,
        store={"dsn": str(tmp_path / "ballast.db")},
    )
    return scen, cfg


@pytest.mark.parametrize(
    ("tick_s", "changes", "reason"),
    [
        (1.0, {}, None),
        (0.1, {}, None),
        (2.0, {}, None),  # two ticks per 4-s swing: just resolved
        (2.5, {}, "ai.training.swing_period_s=4.0 s is shorter than two ticks of 2.5 s"),
        (
            45.0,
            {"ai__training": {"swing_amplitude_share": 0.0}},
            "the tick must be at most 30 s (half the smoothing.ramp_window_s of 60 s)",
        ),
        (
            20.0,
            {"ai__training": {"swing_amplitude_share": 0.0}, "smoothing__ramp_window_s": 30},
            "the tick must be at most 15 s (half the smoothing.ramp_window_s of 30 s)",
        ),
        (45.0, {"smoothing": None, "ai__profile": "flat"}, None),  # nothing to smooth
    ],
)
def test_a_tick_too_coarse_for_the_smoothing_is_refused_naming_tick_s(tmp_path, tick_s, changes, reason):
    doc = training_campus(**changes)
    if doc["smoothing"] is None:
        del doc["smoothing"]
    scen, site = _site(tmp_path, doc, tick_s)
    if reason is None:
        scaled_controller_config(scen, site)
        return
    with pytest.raises(LiveUnsupportedError) as err:
        scaled_controller_config(scen, site)
    msg = str(err.value)
    assert msg.startswith(
        f"site config tick_s={tick_s:g} s cannot run the smoothing of scenario {site.path(site.scenario)}: "
    )
    assert reason in msg and "\n" not in msg


def test_devices_larger_than_the_plans_step_are_refused_naming_them(tmp_path):
    """The plan rises at most (1 - 0.8) x 1 MW/s x 1 s = 0.2 MW per tick; two devices per group
    of ~5,000 miners are ~8 MW each: the miners could wake only when the AI load falls."""
    scen, site = _site(tmp_path, training_campus(), 1.0, devices=2)
    with pytest.raises(LiveUnsupportedError) as err:
        scaled_controller_config(scen, site)
    msg = str(err.value)
    assert msg.startswith("site config tick_s=1 s: the smoothing plan rises at most 0.2 MW per")
    assert "(smallest: s19xp, 7.84 MW = miners_per_device x a miner's power)" in msg
    assert "\n" not in msg
    # without smoothing, or with the miners out of it, any device size is fine
    doc = training_campus(smoothing__enabled=False)
    scaled_controller_config(*_site(tmp_path, doc, 1.0, devices=2))


@pytest.mark.parametrize(
    ("site", "message"),
    [
        ({"tick_s": 5}, "site config tick_s=5 s cannot run the smoothing of scenario"),
        (
            {"miners": [{"group": "s21", "ips": ["10.0.0.1-10.0.0.2"], "miners_per_device": 3000}]},
            "site config tick_s=1 s: the smoothing plan rises at most 0.2 MW per tick",
        ),
    ],
    ids=["coarse tick", "coarse devices"],
)
def test_serve_refuses_before_the_store_opens(tmp_path, site, message):
    scen = write_campus(tmp_path, training_campus())
    path = tmp_path / "site.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "scenario": scen.name,
                "meter": {"host": "127.0.0.1", "port": 1},
                "store": {"dsn": str(tmp_path / "ballast.db")},
                **site,
            }
        )
    )
    result = CliRunner().invoke(app, ["serve", "--config", str(path)])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), result.output
    assert not (tmp_path / "ballast.db").exists()


@pytest.mark.parametrize("tick_s", [1.0, 0.5])
def test_live_builds_the_fine_engines_smoothing_for_its_tick(tmp_path, tick_s):
    """The live config is the builder's at the site's tick; at the fine engine's resolution it
    is exactly what the fine backtest steps (AI risk, miner dynamics, filter length)."""
    doc = training_campus(run__resolution=f"{int(tick_s * 1000)}ms")
    scen, site = _site(tmp_path, doc, tick_s)
    live = scaled_controller_config(scen, site)
    setup = fine_setup(scen)
    fine = controller_config(scen, setup.dt_s, ai=setup.ai())
    # the same, but the plan credits at most the late-tick limit per tick (a clock jump)
    assert replace(live.smoothing, max_step_s=np.inf) == fine.smoothing
    assert live.smoothing.enabled
    assert live.smoothing.filter_ticks == round(SWING_PERIOD_S / tick_s)
    assert live.smoothing.ai_max_rise_mw > 0  # sized from the training job's risk


def test_a_wall_clock_jump_earns_the_smoothing_plan_no_ramp(tmp_path):
    """The snapshot's clock is wall time: a jump forward counts as the late-tick limit (as for
    the restore ramp), a jump back as no time at all; without the limit the plan would follow
    the AI's drop at once."""
    scen, site = _site(tmp_path, training_campus(), 1.0)
    cfg = scaled_controller_config(scen, site)
    max_step_s = site.watchdog.late_ticks * site.tick_s
    assert cfg.smoothing.max_step_s == max_step_s
    unlimited = replace(cfg, smoothing=replace(cfg.smoothing, max_step_s=np.inf))

    def after(config, dt_s: float):
        state = ControllerState.initial(config, 1000.0)
        for k in range(30):
            step(config, state, Snapshot(1000.0 + k, 20.0, 50.0, 150.0))
        return step(config, state, Snapshot(1029.0 + dt_s, 20.0, 50.0, 60.0))  # AI drops

    def same(a, b) -> bool:
        return (a.plan_import_mw, a.binding_rule) == (b.plan_import_mw, b.binding_rule) and (
            np.array_equal(a.running, b.running)
        )

    assert same(after(cfg, 3600.0), after(cfg, max_step_s))
    assert same(after(cfg, -600.0), after(cfg, 0.0))
    assert not same(after(unlimited, 3600.0), after(cfg, 3600.0))


def test_the_scenario_battery_reaches_the_live_controller_when_the_site_names_it(tmp_path):
    """The one builder gives live the fine engine's battery smoothing; the site config's
    battery (the device) must be the scenario's, else the start is refused naming the field."""
    doc = training_campus(battery={"power_mw": 10, "energy_mwh": 5})
    scen, site = _site(tmp_path, doc, 1.0)
    with pytest.raises(ValueError, match=r"the scenario has a battery .* names none"):
        scaled_controller_config(scen, site)
    device = {"host": "127.0.0.1", "power_mw": 10, "energy_mwh": 5}
    site = site.model_validate({**site.model_dump(), "battery": device})
    cfg = scaled_controller_config(scen, site)
    sm = cfg.smoothing
    assert (sm.battery_power_mw, sm.battery_energy_mwh, sm.use_miners) == (10, 5, True)
    fine = controller_config(scen, 1.0, ai=fine_setup(scen).ai())
    assert replace(sm, max_step_s=np.inf) == fine.smoothing
    other = site.model_validate({**site.model_dump(), "battery": {**device, "energy_mwh": 8}})
    with pytest.raises(ValueError, match=r"battery\.energy_mwh is 8"):
        scaled_controller_config(scen, other)
    # a disabled spec: the battery smooths alone, as the fine engine's Ballast case does
    alone = training_campus(battery={"power_mw": 10, "energy_mwh": 5}, smoothing__enabled=False)
    scen, _ = _site(tmp_path, alone, 1.0)
    sm = scaled_controller_config(scen, site).smoothing
    assert sm.enabled and not sm.use_miners and sm.battery_power_mw == 10


@pytest.mark.timeout(120)
async def test_the_scenario_battery_is_dispatched_live_with_no_patch(tmp_path):
    """End to end on the emulated site (SunSpec battery over Modbus TCP): the scenario's
    battery reaches the runtime's controller through the builder alone, and the rule's
    setpoint (recentring a 90 % charge) reaches the inverter."""
    battery = {"power_mw": 20.0, "energy_mwh": 40.0}
    # the plan may rise (1 - 0.8) x 300 MW/s x 0.2 s = 12 MW per tick: more than one device
    smoothing = {"ramp_up_mw_per_s": 300.0, "ramp_down_mw_per_s": 300.0}
    scenario = {**INSTANT_WAKE, "smoothing": smoothing, "battery": battery}
    device = {**battery, "host": "127.0.0.1", "port": free_port(), "revert_s": 2, "timeout_s": 0.3}
    async with emulated_campus(tmp_path, scenario=scenario, battery=device) as live:
        rt, emu = live.runtime, live.emulated
        sm = rt.base_cfg.smoothing
        assert (sm.enabled, sm.battery_power_mw, sm.battery_energy_mwh) == (True, 20.0, 40.0)
        emu.battery.stored_mwh = 0.9 * battery["energy_mwh"]
        await until(
            lambda: (
                rt.last_tick is not None and (rt.last_tick.get("battery") or {}).get("setpoint_mw", 0) > 5.0
            ),
            10,
            "a discharge setpoint from the scenario's battery",
        )
        await until(lambda: emu.last["battery_mw"] > 5.0, 5, "the inverter discharging")


def _runtime_like(cfg, state, now_s: float = 0.0):
    return SimpleNamespace(
        base_cfg=cfg,
        clock=lambda: now_s,
        state=state,
        modes={},
        policy=Policy(20.0, 50.0, True, 0.0),
        ufr_tripped=False,
        ufr_cap_mw=None,
        safe_mode=False,
        dr=SimpleNamespace(baselines={}, events={}),
        programs=None,  # no programs section (live.grid_programs)
        group_names=list(cfg.groups.names),
    )


def test_the_smoothing_memory_is_saved_and_restored(tmp_path):
    scen, site = _site(tmp_path, training_campus(), 1.0)
    cfg = scaled_controller_config(scen, site)
    state = ControllerState.initial(cfg, 1000.0)
    for k, ai_mw in enumerate((150.0, 120.0, 150.0, 110.0, 140.0)):
        step(cfg, state, Snapshot(1000.0 + k, 20.0, 50.0, ai_mw))
    assert state.smooth[SS_INIT] == 1.0 and np.isfinite(state.smooth[SS_PLAN])
    rt = _runtime_like(cfg, state, now_s=1005.0)  # restarted a second after the last tick
    doc = json.loads(json.dumps(state_document(rt)))  # through JSON, as the store keeps it
    assert doc["smooth"] == state.smooth.tolist() and doc["ai_buf"] == state.ai_buf.tolist()

    fresh = ControllerState.initial(cfg, 2000.0)
    rt.state = fresh
    _apply(rt, SavedState.model_validate_json(json.dumps(doc)))
    assert np.array_equal(fresh.smooth, state.smooth)
    assert np.array_equal(fresh.ai_buf, state.ai_buf)
    # the restored memory decides as the uninterrupted one does
    snap = Snapshot(1005.0, 20.0, 50.0, 130.0)
    restored, kept = step(cfg, fresh.copy(), snap), step(cfg, state.copy(), snap)
    assert restored.plan_import_mw == kept.plan_import_mw
    assert np.array_equal(restored.running, kept.running)
    forgot = step(cfg, ControllerState.initial(cfg, 2000.0), snap)  # what a fresh start plans
    assert forgot.plan_import_mw != kept.plan_import_mw

    # another tick (another AI filter length): the memory does not fit and is not used
    other = replace(cfg, smoothing=replace(cfg.smoothing, tick_s=0.5))
    rt.state = ControllerState.initial(other, 2000.0)
    _apply(rt, SavedState.model_validate_json(json.dumps(doc)))
    assert rt.state.smooth[SS_INIT] == 0.0 and not rt.state.ai_buf.any()
    # restarted more than the spec's ramp window after the last tick: a fresh start
    window_s = cfg.smoothing.ramp_window_s
    for now_s, used in ((1004.0 + window_s, True), (1004.5 + window_s, False), (1003.0, False)):
        rt = _runtime_like(cfg, ControllerState.initial(cfg, now_s), now_s=now_s)
        _apply(rt, SavedState.model_validate_json(json.dumps(doc)))
        assert np.array_equal(rt.state.smooth, state.smooth) is used, now_s


def test_a_non_finite_smoothing_memory_is_not_saved(tmp_path):
    scen, site = _site(tmp_path, training_campus(), 1.0)
    cfg = scaled_controller_config(scen, site)
    state = ControllerState.initial(cfg, 0.0)
    state.smooth[SS_TARGET] = np.nan
    doc = state_document(_runtime_like(cfg, state))
    assert doc["smooth"] == [] and doc["ai_buf"] == []
    SavedState.model_validate_json(json.dumps(doc))  # the rest still loads
    old = copy.deepcopy(doc)
    old["smooth"], old["ai_buf"] = [0.0] * 7, [0.0]  # documents from before: zeros
    SavedState.model_validate_json(json.dumps(old))
