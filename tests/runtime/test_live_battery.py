"""The battery live: the runtime reads the emulated SunSpec inverter over Modbus TCP, puts its
state of charge into the controller's snapshot, sends the controller's battery setpoint and
verifies it by read-back; a battery that drops out is treated as absent and the import limit
holds. The controller config gets its battery in the test (the scenario's battery reaches the
live host through the one controller-config builder, issue 17)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import httpx
import pytest
from live_helpers import (
    INSTANT_WAKE,
    VIEWER_TOKEN,
    emulated_campus,
    free_port,
    until,
    write_campus,
)

from ballast.control import ControllerConfig
from ballast.live import runtime as runtime_mod
from ballast.live.battery_link import check_battery_config, safe_setpoint_mw
from ballast.live.site_config import BatteryConfig, SiteConfigError, parse_site_config
from ballast.scenario import load_scenario

pytestmark = pytest.mark.timeout(120)

LIMIT_MW = 200.0
VW = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
POWER_MW, ENERGY_MWH = 20.0, 40.0


def _battery_site(revert_s: int = 2) -> dict:
    return {
        "battery": {
            "host": "127.0.0.1",
            "port": free_port(),
            "power_mw": POWER_MW,
            "energy_mwh": ENERGY_MWH,
            "revert_s": revert_s,
            "timeout_s": 0.3,
        }
    }


@pytest.fixture
def controller_battery(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live controller config with a 20 MW / 40 MWh battery."""
    built = runtime_mod.scaled_controller_config

    def with_battery(scenario, site) -> ControllerConfig:
        cfg = built(scenario, site)
        return replace(
            cfg, smoothing=replace(cfg.smoothing, battery_power_mw=POWER_MW, battery_energy_mwh=ENERGY_MWH)
        )

    monkeypatch.setattr(runtime_mod, "scaled_controller_config", with_battery)


async def _worst_import_mw(emu, seconds: float) -> float:
    worst = float("-inf")
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        worst = max(worst, emu.last["import_mw"])
        await asyncio.sleep(0.02)
    return worst


async def test_a_full_battery_discharges_and_drops_out_safely(tmp_path, controller_battery):
    async with emulated_campus(tmp_path, scenario=INSTANT_WAKE, **_battery_site()) as live:
        rt, emu = live.runtime, live.emulated
        emu.battery.stored_mwh = 0.9 * ENERGY_MWH  # above the 50 % target: recentre by discharge
        await until(
            lambda: (
                rt.last_tick is not None
                and rt.last_tick.get("battery", {}).get("setpoint_mw", 0) > 0.5 * POWER_MW
            ),
            10,
            "a discharge setpoint",
        )
        await until(lambda: emu.last["battery_mw"] > 0.5 * POWER_MW, 5, "the battery discharging")
        doc = rt.last_tick
        assert doc["battery"]["available"] is True
        # the metered import is the load less the battery's discharge
        last = emu.last
        assert last["import_mw"] == pytest.approx(
            last["ai_mw"] + last["miners_mw"] - last["renewable_mw"] - last["battery_mw"]
        )
        soc_before = emu.battery.stored_mwh
        await asyncio.sleep(1.0)
        assert emu.battery.stored_mwh < soc_before  # discharging empties it

        emu.battery.stall()  # the inverter stops answering
        await until(
            lambda: rt.last_tick["battery"]["available"] is False, 5, "the battery marked unavailable"
        )
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            metrics = (await client.get("/metrics", headers=VW)).text
        assert "ballast_battery_available 0.0" in metrics
        assert "ballast_battery_failures_total" in metrics
        reason = rt.last_tick["battery"]["reason"]
        assert "read failed" in reason or "not verified" in reason
        assert rt.last_tick["power_mw"]["battery"] is None
        # its command lapses on the device (revert_s on the device clock): it idles by itself
        await until(lambda: emu.last["battery_mw"] == 0.0, 5, "the battery idle after revert")
        assert await _worst_import_mw(emu, 2.0) <= LIMIT_MW + 1e-6
        emu.battery.release_faults()
        await until(lambda: rt.last_tick["battery"]["available"] is True, 5, "the battery back")
        tick = rt.tick_no
        await until(lambda: rt.tick_no > tick + 1, 5, "events written with a tick")
        rt.store.flush()
        kinds = [e["kind"] for e in rt.store.events(limit=1000) if e["kind"].startswith("battery_")]
        assert kinds[0] == "battery_available" or kinds[:2] == ["battery_unavailable", "battery_available"]
        assert kinds[-2:] == ["battery_unavailable", "battery_available"]  # the stall, and back


async def test_charging_battery_that_drops_out_while_the_ai_rises(tmp_path, controller_battery):
    # revert 30 s of device time (3 s wall): the dead battery keeps charging through the AI rise
    async with emulated_campus(tmp_path, scenario=INSTANT_WAKE, **_battery_site(30)) as live:
        rt, emu = live.runtime, live.emulated
        emu.ai_share = 0.6  # room for miners; the controller fills it
        emu.battery.stored_mwh = 0.1 * ENERGY_MWH  # below target: the controller wants charge
        await until(
            lambda: rt.last_tick is not None and emu.last["miners_mw"] > 120.0, 10, "miners filling the room"
        )
        await asyncio.sleep(1.0)
        doc = rt.last_tick
        assert doc["battery"]["available"] is True
        # charging only into the headroom under the limit: never above it
        assert doc["battery"]["setpoint_mw"] < 0.0
        assert await _worst_import_mw(emu, 1.0) <= LIMIT_MW + 1e-6
        emu.battery.stall()  # still charging at its last setpoint until it reverts
        emu.ai_share = 1.0  # and the AI load rises by 40 MW
        await asyncio.sleep(1.0)  # shed ramp (0.5 s wall) + detection
        assert emu.last["battery_mw"] < 0.0  # still charging: its last charge counts as load
        assert await _worst_import_mw(emu, 1.0) <= LIMIT_MW + 1e-6
        assert rt.last_tick["battery"]["available"] is False
        emu.battery.release_faults()


@pytest.mark.parametrize(
    ("wanted", "metered", "battery_now", "planned", "headroom", "expected"),
    [
        (10.0, 190.0, 0.0, 190.0, 0.0, 10.0),  # discharge: allowed
        (30.0, 190.0, 0.0, 190.0, 0.0, 20.0),  # beyond the inverter: its power
        (-15.0, 180.0, 0.0, 185.0, 0.0, -13.0),  # charge into the room under 198 (limit - margin)
        (-15.0, 190.0, -5.0, 160.0, 0.0, -13.0),  # metered 190 while charging 5: 185 without it
        (-15.0, 199.0, 0.0, 190.0, 0.0, 0.0),  # at the limit: no charging
        (-15.0, 195.0, 0.0, 190.0, 1.0, -2.0),  # 1 MW of headroom kept: 198 - 1 - 195
        (-15.0, math.nan, 0.0, 150.0, 0.0, 0.0),  # blind: no charging
        (15.0, 10.0, 0.0, 12.0, 0.0, 10.0),  # discharge no further than the export limit (0)
        (math.nan, 150.0, 0.0, 150.0, 0.0, 0.0),
    ],
)
def test_safe_setpoint(wanted, metered, battery_now, planned, headroom, expected) -> None:
    got = safe_setpoint_mw(
        wanted,
        power_mw=20.0,
        import_limit_mw=200.0,
        margin_mw=2.0,
        export_limit_mw=0.0,
        metered_import_mw=metered,
        battery_now_mw=battery_now,
        planned_import_mw=planned,
        headroom_mw=headroom,
    )
    assert got == pytest.approx(expected)


def test_a_battery_the_site_config_does_not_match_is_refused(tmp_path) -> None:
    cfg = ControllerConfig.from_scenario(load_scenario(write_campus(tmp_path)))
    scenario_cfg = replace(
        cfg, smoothing=replace(cfg.smoothing, battery_power_mw=20.0, battery_energy_mwh=40.0)
    )
    check_battery_config(cfg, None, "site.yaml")  # no battery anywhere: fine
    with pytest.raises(ValueError, match="names none"):
        check_battery_config(scenario_cfg, None, "site.yaml")
    other = BatteryConfig(host="h", power_mw=20.0, energy_mwh=80.0)
    with pytest.raises(ValueError, match=r"battery\.energy_mwh is 80"):
        check_battery_config(scenario_cfg, other, "site.yaml")


@pytest.mark.parametrize(
    ("battery", "field"),
    [
        ({"host": "h", "energy_mwh": 40}, "battery.power_mw"),
        ({"host": "h", "power_mw": -1, "energy_mwh": 40}, "battery.power_mw"),
        ({"host": "h", "power_mw": 20, "energy_mwh": 40, "port": 0}, "battery.port"),
        ({"host": "h", "power_mw": 20, "energy_mwh": 40, "revert_s": 1}, "battery.revert_s"),
        ({"host": "h", "power_mw": 20, "energy_mwh": 40, "color": "red"}, "battery.color"),
    ],
)
def test_site_config_battery_errors_name_the_field(battery, field) -> None:
    with pytest.raises(SiteConfigError, match=field.replace(".", r"\.")):
        parse_site_config({"scenario": "s.yaml", "tick_s": 1.0, "battery": battery}, "site.yaml")


def test_the_scenario_battery_is_emulated_with_its_efficiency(tmp_path) -> None:
    from live_helpers import CAMPUS

    from ballast.live.serve import build_emulated

    scenario = {
        **CAMPUS,
        "battery": {
            "power_mw": 25,
            "energy_mwh": 50,
            "round_trip_efficiency": 0.81,
            "initial_soc_share": 0.3,
        },
    }
    path = write_campus(tmp_path, scenario)
    port = free_port()
    cfg, emu = build_emulated(
        path,
        load_scenario(path),
        site=None,
        devices_per_group=2,
        ip_prefix="127.39",
        miner_port=free_port(),
        meter_port=free_port(),
        dcgm_port=free_port(),
        time_scale=1.0,
        overrides={},
        battery_port=port,
    )
    assert cfg.battery is not None
    assert (cfg.battery.host, cfg.battery.port) == ("127.0.0.1", port)
    assert (cfg.battery.power_mw, cfg.battery.energy_mwh) == (25, 50)
    assert emu.battery is not None and emu.battery.eta == pytest.approx(0.9)
    assert emu.battery.stored_mwh == pytest.approx(15.0)


async def test_an_unreachable_battery_counts_its_possible_charge_until_it_reverts() -> None:
    from ballast.live.battery_link import BatteryLink
    from ballast.live.drivers.battery import ModbusBattery
    from ballast.live.emulators.battery import BatteryEmulator

    port = free_port()
    cfg = BatteryConfig(
        host="127.0.0.1", port=port, power_mw=20.0, energy_mwh=40.0, revert_s=10, timeout_s=0.1
    )
    async with BatteryEmulator("127.0.0.1", port, power_mw=20.0, energy_mwh=40.0) as emu:
        drv = ModbusBattery("127.0.0.1", port, revert_s=10, timeout_s=0.1)
        link = BatteryLink(drv, cfg)
        try:
            assert await link.read(0.0, 99.0) == pytest.approx(20.0)
            assert await link.command(-5.0, 0.0, 100.0)
            assert link.residual_charge_mw(100.0) == 0.0  # answering: the controller knows it
            emu.stall()
            assert await link.read(0.0, 101.0) is None
            assert link.residual_charge_mw(101.0) == pytest.approx(5.0)
            assert not await link.command(0.0, 0.0, 102.0)  # idling it cannot be verified
            assert link.residual_charge_mw(109.0) == pytest.approx(5.0)  # the old charge's timer
            assert link.residual_charge_mw(111.0) == 0.0  # reverted 10 s after it was written
            assert not await link.command(-3.0, 0.0, 112.0)  # a new charge may have been taken
            assert link.residual_charge_mw(113.0) == pytest.approx(3.0)
            kinds = [e.kind for e in link.drain_events()]
            assert kinds == ["battery_available", "battery_unavailable"]
        finally:
            emu.release_faults()
            drv.close()
