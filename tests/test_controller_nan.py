"""The safety rule is NaN-proof in the compiled code itself (issue 9): a NaN or infinite input
leaves no headroom. Under numba ``min(hi, nan)`` is ``hi``, which used to switch the import
limit off; these cases feed non-finite values straight to the compiled rule and to ``step``."""

from dataclasses import replace

import numpy as np
import pytest

from ballast.control import ControllerState, Snapshot, step
from ballast.control.rules import rule_import_limit
from ballast.control.smoothing import SmoothingConfig
from tests.test_controller_rules import make_config

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("hi_mw", "limit_mw", "margin_mw", "ai_mw", "renew_mw", "expect_mw"),
    [
        (INF, 100.0, 0.0, 40.0, 10.0, 70.0),  # finite: 100 - 0 + 10 - 40
        (50.0, 100.0, 0.0, 40.0, 10.0, 50.0),  # a tighter bound above stays
        (INF, 100.0, 5.0, 40.0, 0.0, 55.0),  # margin comes off
        (INF, 100.0, 0.0, NAN, 0.0, 0.0),  # NaN AI load: no headroom
        (INF, 100.0, 0.0, 40.0, NAN, 0.0),  # NaN renewables
        (INF, NAN, 0.0, 40.0, 0.0, 0.0),  # NaN limit
        (INF, 100.0, NAN, 40.0, 0.0, 0.0),  # NaN margin
        (INF, 100.0, 0.0, -INF, 0.0, 0.0),  # -inf AI would be infinite room
        (INF, 100.0, 0.0, 40.0, INF, 0.0),  # +inf renewables likewise
        (INF, 100.0, 0.0, INF, 0.0, 0.0),
        (NAN, 100.0, 0.0, 40.0, 0.0, 0.0),  # a NaN bound from above
        (-3.0, 100.0, 0.0, NAN, 0.0, -3.0),  # fail closed never loosens a tighter bound
    ],
)
def test_compiled_import_limit_rule_fails_closed(hi_mw, limit_mw, margin_mw, ai_mw, renew_mw,
                                                 expect_mw):
    assert rule_import_limit(hi_mw, limit_mw, margin_mw, ai_mw, renew_mw) == expect_mw




@pytest.mark.parametrize("smoothing", [False, True])
@pytest.mark.parametrize(
    ("field", "value"),
    [("ai_load_mw", NAN), ("ai_load_mw", INF), ("ai_load_mw", -INF),
     ("renewable_mw", NAN), ("renewable_mw", INF), ("cap_mw", NAN)],
)
def test_step_with_a_non_finite_input_sleeps_every_miner(field, value, smoothing):
    cfg = make_config(import_limit_mw=100.0)
    if smoothing:
        cfg = replace(cfg, smoothing=SmoothingConfig(enabled=True, ramp_up_mw_per_s=1.0,
                                                     ramp_down_mw_per_s=1.0,
                                                     dynamic_range_mw=20.0, ai_filter_s=5.0))
    state = ControllerState.initial(cfg, 0.0)
    # cheap power and room under the limit: economics would run everybody
    snap = Snapshot(time_s=1.0, price_usd_per_mwh=20.0, hashprice_usd_per_ph_day=50.0,
                    ai_load_mw=10.0)
    d = step(cfg, state, replace(snap, **{field: value}))
    assert d.running.tolist() == [0, 0]
    # what sleeping miners still draw: 1,000 S19j Pro at 12 W + 1,000 S21 at 12 W (catalog)
    assert d.miner_power_mw == pytest.approx(float(cfg.groups.count @ cfg.groups.sleep_mw))
    assert d.miner_power_mw < 0.1
    assert d.binding_rule == "import_limit"


def test_one_nan_tick_does_not_poison_the_smoothing_memory():
    # the blind tick sleeps every miner, and the restore ramp would then wake them over
    # minutes (tests/test_restore_ramp.py); this test is about the smoothing memory: ramp off
    cfg = replace(make_config(import_limit_mw=100.0),
                  smoothing=SmoothingConfig(enabled=True, ramp_up_mw_per_s=1.0,
                                            ramp_down_mw_per_s=1.0, dynamic_range_mw=20.0,
                                            ai_filter_s=5.0),
                  restore_ramp_mw_per_min=None)
    clean, dirty = ControllerState.initial(cfg, 0.0), ControllerState.initial(cfg, 0.0)
    snaps = [Snapshot(time_s=float(t), price_usd_per_mwh=20.0, hashprice_usd_per_ph_day=50.0,
                      ai_load_mw=40.0 + t) for t in range(1, 8)]
    for s in snaps[:3]:
        step(cfg, clean, s)
        step(cfg, dirty, s)
    step(cfg, dirty, replace(snaps[3], ai_load_mw=NAN))  # one blind tick in between
    for s in snaps[4:]:
        a, b = step(cfg, clean, s), step(cfg, dirty, s)
    assert np.isfinite(dirty.smooth).all() and np.isfinite(dirty.ai_buf).all()
    assert b.plan_import_mw == pytest.approx(a.plan_import_mw, abs=2.0)
    assert a.miner_power_mw + 47.0 <= 100.0 + 1e-9  # the limit holds on the clean path ...
    assert b.miner_power_mw + 47.0 <= 100.0 + 1e-9  # ... and after the NaN
