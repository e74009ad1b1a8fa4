"""The emulated site's plan and physics (no sockets: physics runs on an injected clock)."""

from __future__ import annotations

import pytest
from live_helpers import CAMPUS

from ballast.live.emulated_site import EmulatedSite, emulator_model_for, plan_emulation
from ballast.scenario import parse_scenario


@pytest.mark.parametrize(("model", "key", "stand_in"), [
    ("Antminer S21", "s21", False),
    ("Antminer S19j Pro", "s19jpro", False),
    ("Antminer S19 Pro", "s19jpro", True),  # 29.5 J/TH: nearest is the S19j Pro
    ("Antminer S21 XP", "s21", True),
])
def test_scenario_models_map_to_emulator_models(model, key, stand_in):
    got, note = emulator_model_for(model)
    assert got == key and bool(note) is stand_in
    if stand_in:
        assert model in note and "nearest J/TH" in note


def test_plan_scales_each_group_and_keeps_addresses_apart():
    plan = plan_emulation(parse_scenario(CAMPUS), 10, "127.33")
    assert [(g.name, g.emulator_model, len(g.ips), g.miners_per_device) for g in plan] == [
        ("s21", "s21", 10, 2700.0), ("s19xp", "s19xp", 10, 1900.0)]
    assert plan[0].ips[0] == "127.33.0.2" and plan[1].ips[0] == "127.33.4.2"
    with pytest.raises(ValueError, match=r"devices_per_group must be 1\.\.1000"):
        plan_emulation(parse_scenario(CAMPUS), 0)


def test_physics_balances_import_and_follows_checkpoints():
    t = [1000.0]
    site = EmulatedSite(parse_scenario({**CAMPUS, "renewables": [
        {"name": "wind", "kind": "wind", "capacity_mw": 50}]}), [], meter_port=1,
        clock=lambda: t[0], renewable_capacity_factor=0.4)
    flows = site.step_physics()
    # import = AI (80 MW IT x 1.25) + miners (none emulated here) - wind (50 MW x 0.4)
    assert flows == {"import_mw": 80.0, "ai_mw": 100.0, "miners_mw": 0.0, "renewable_mw": 20.0}
    assert site.meter.snapshot()["campus_import_power_mw"] == 80.0
    site.checkpoints = (60.0, 15.0, 0.4)
    t[0] = 1205.0  # 1205 % 60 = 5 s into a checkpoint
    assert site.step_physics()["ai_mw"] == pytest.approx(40.0)
    t[0] = 1230.0  # 30 s: computing
    assert site.step_physics()["ai_mw"] == pytest.approx(100.0)
    site.ai_share = 0.4  # a job crash
    assert site.step_physics()["import_mw"] == pytest.approx(20.0)
    assert site.max_import_mw == pytest.approx(80.0)
