"""Staged restore live (issue 17, item 7): on emulated LuxOS miners, a modbus meter and a DCGM
endpoint over TCP, the runtime wakes a sleeping fleet and the true campus import (the site
physics, not the runtime's own view) never rises faster than the restore ramp; shedding is
commanded in one tick; the ramp's ceiling is saved with the runtime state and a restart can
only lower it."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np
import pytest
from live_helpers import emulated_campus, until

from ballast.control import ControllerState
from ballast.control.rules import RS_CEILING, RS_LAST_T, RS_MAX_DT
from ballast.live.resume import SavedState, _apply, state_document
from ballast.live.site_model import Policy

pytestmark = pytest.mark.timeout(120)

RAMP_MW_PER_MIN = 120.0  # 2 MW/s of wall time: the 10.5-MW fleet wakes in about 5 s
DEVICES = 20
# AI 40 MW IT x PUE 1.25 = 50 MW; 3,000 S21 at 3,500 W and PUE 1 = 10.5 MW, 150 per device
CAMPUS = {
    "version": 1,
    "name": "restore-ramp-campus",
    "site": {"name": "restore test", "import_limit_mw": 200, "export_limit_mw": 0},
    "ai": {"it_load_mw": 40, "pue": 1.25},
    "miners": [{"name": "s21", "model": "Antminer S21", "count": 3000, "pue": 1.0,
                "min_on_minutes": 0, "min_off_minutes": 0}],
    "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
    "control": {"restore_ramp_mw_per_min": RAMP_MW_PER_MIN},
    "run": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"},
}
FLEET_MW = 10.5
DEVICE_MW = FLEET_MW / DEVICES  # whole devices: the import may lead the ramp's line by one
DEAR, CHEAP = 500.0, 20.0  # USD/MWh; the S21's breakeven at hashprice 50 is about 119


def worst_lead_mw(t_s: np.ndarray, import_mw: np.ndarray, ramp_mw_per_s: float) -> float:
    """The largest rise of the import over any window beyond what the ramp allows in it:
    max over s <= t of (import[t] - import[s]) - ramp x (t - s) [MW]."""
    excess = import_mw - ramp_mw_per_s * t_s
    return float(np.max(excess - np.minimum.accumulate(excess)))


async def test_waking_a_fleet_never_raises_the_import_faster_than_the_ramp(tmp_path):
    market = {"price_usd_per_mwh": DEAR, "hashprice_usd_per_ph_day": 50.0}
    async with emulated_campus(tmp_path, scenario=CAMPUS, devices=DEVICES,
                               market=market) as live:
        rt, emu = live.runtime, live.emulated
        # dear power: every miner asleep
        await until(lambda: all(emu.true_asleep("s21")) and emu.last["miners_mw"] < 0.1, 15,
                    "the fleet to fall asleep")
        samples: list[tuple[float, float]] = []
        ticks: list[dict] = []
        emu.on_step.append(lambda last: samples.append((time.monotonic(), last["import_mw"])))
        rt.on_tick.append(ticks.append)
        rt.set_policy(price_usd_per_mwh=CHEAP)
        await until(lambda: emu.last["miners_mw"] > FLEET_MW - 0.01, 30, "the fleet to wake")
        t = np.array([s[0] for s in samples])
        imp = np.array([s[1] for s in samples])
        assert imp[-1] - imp[0] > FLEET_MW - 0.5  # the whole fleet woke
        # the true import never rose faster than the ramp, over any window
        assert worst_lead_mw(t, imp, RAMP_MW_PER_MIN / 60.0) <= DEVICE_MW + 0.01
        # ... so waking took at least the ramp's time (a slower machine only takes longer)
        woke = t[np.argmax(imp > imp[0] + FLEET_MW - 0.5)] - t[0]
        assert woke >= (FLEET_MW - 0.5 - DEVICE_MW) / (RAMP_MW_PER_MIN / 60.0)
        assert "restore_ramp" in {d["binding_rule"] for d in ticks}

        # shedding is not ramped: the first tick on dear power commands every miner asleep
        n = len(ticks)
        rt.set_policy(price_usd_per_mwh=DEAR)
        await until(lambda: any(d["market"]["price_usd_per_mwh"] == DEAR for d in ticks[n:]),
                    5, "a tick on dear power")
        first = next(d for d in ticks[n:] if d["market"]["price_usd_per_mwh"] == DEAR)
        assert first["groups"][0]["target_running"] == 0


def test_the_ceiling_is_saved_and_a_restart_only_lowers_it():
    from ballast.control import ControllerConfig
    from ballast.scenario import parse_scenario

    cfg = ControllerConfig.from_scenario(parse_scenario(CAMPUS))
    state = ControllerState.initial(cfg, 1000.0)
    state.restore_from_meter(1000.0, 52.0, 2.0)
    rt = SimpleNamespace(state=state, modes={"s21": "auto"}, policy=Policy(CHEAP, 50.0, True, 0.0),
                         ufr_tripped=False, ufr_cap_mw=None, safe_mode=False,
                         dr=SimpleNamespace(baselines={}, events={}), group_names=["s21"],
                         programs=None)
    doc = json.loads(json.dumps(state_document(rt)))  # through JSON, as the store keeps it
    assert (doc["restore_ceiling_mw"], doc["restore_time_s"]) == (52.0, 1000.0)

    fresh = ControllerState.initial(cfg, 2000.0)
    assert not fresh.restore_seeded
    rt.state = fresh
    _apply(rt, SavedState.model_validate_json(json.dumps(doc)))
    assert (fresh.restore[RS_CEILING], fresh.restore[RS_LAST_T]) == (52.0, 1000.0)
    # the first meter reading after the restart shows the fleet running again (60.5 MW):
    # the ceiling may grow by the ramp over the longest credited step, not jump to the meter
    fresh.restore[RS_MAX_DT] = 0.6  # as the runtime sets it: 3 late ticks of 0.2 s
    fresh.restore_from_meter(2000.0, 60.5, 10.5)
    assert fresh.restore[RS_CEILING] == pytest.approx(52.0 + RAMP_MW_PER_MIN / 60.0 * 0.6)
    # an unseeded state saves no ceiling
    assert state_document(SimpleNamespace(**{**vars(rt), "state": ControllerState.initial(
        cfg, 0.0)}))["restore_ceiling_mw"] is None
