"""The one controller builder (``control.build.controller_config``, issue 17 item 1): what each
host gets for a scenario and a tick."""

from __future__ import annotations

import numpy as np
import pytest

from ballast.control import ControllerConfig
from ballast.control.build import controller_config, nameplate_ai
from ballast.control.smoothing import SmoothingConfig
from ballast.scenario import parse_scenario
from ballast.sim.fine import fine_setup
from tests.smoothing_helpers import campus, scenario


def test_without_smoothing_the_backtest_gets_the_plain_rule_stack():
    doc = campus(run__resolution="15min")
    del doc["smoothing"]
    scn = parse_scenario(doc)
    cfg = controller_config(scn, 900.0)
    assert cfg.smoothing == SmoothingConfig()  # no smoothing, no AI-rise headroom
    assert cfg.economic_dispatch and cfg.absorb_renewables
    assert cfg.restore_ramp_mw_per_min == scn.control.restore_ramp_mw_per_min
    base = controller_config(scn, 900.0, baseline=True)
    assert not base.economic_dispatch and not base.absorb_renewables
    assert base.restore_ramp_mw_per_min is None
    assert np.array_equal(base.groups.count, ControllerConfig.from_scenario(scn).groups.count)


@pytest.mark.parametrize("tick_s", [1.0, 0.1])
def test_the_fine_engine_and_a_host_without_a_waveform_size_smoothing_alike(tick_s):
    """Training job: the nameplate risk (live) is the fine generator's (backtest)."""
    scn = scenario(run__resolution=f"{round(tick_s * 1000)}ms", run__end="2024-07-01T00:05:00Z")
    ai = fine_setup(scn).ai()
    for window_s in (1.0, 6.0, 60.0):
        assert nameplate_ai(scn, tick_s).risk(window_s) == pytest.approx(ai.risk(window_s))
    fine = controller_config(scn, tick_s, ai=ai)
    assert controller_config(scn, tick_s).smoothing == fine.smoothing
    assert fine.smoothing.enabled and fine.smoothing.tick_s == tick_s
    assert fine.smoothing.filter_ticks == round(4.0 / tick_s)  # the 4-s swing


def test_the_baseline_never_smooths_but_keeps_the_ai_rise_headroom():
    scn = scenario()
    base = controller_config(scn, 1.0, baseline=True)
    ours = controller_config(scn, 1.0)
    assert ours.smoothing.enabled and not base.smoothing.enabled
    assert base.smoothing.ai_max_rise_mw == ours.smoothing.ai_max_rise_mw > 0


@pytest.mark.parametrize(
    ("miners", "battery", "smoothing", "use_miners", "battery_mw", "enabled"),
    [
        (True, "scenario", None, True, 10.0, True),
        (False, "scenario", None, False, 10.0, True),
        (True, None, None, True, 0.0, True),
        (True, "scenario", False, True, 10.0, False),
    ],
)
def test_fine_cases_switch_miners_battery_and_smoothing(
    miners, battery, smoothing, use_miners, battery_mw, enabled
):
    scn = scenario(battery={"power_mw": 10, "energy_mwh": 5})
    sm = controller_config(scn, 1.0, miners=miners, battery=battery, smoothing=smoothing).smoothing
    assert (sm.use_miners, sm.battery_power_mw, sm.enabled) == (use_miners, battery_mw, enabled)
