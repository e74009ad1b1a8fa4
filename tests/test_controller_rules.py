"""The rule stack: merit order and hysteresis as table-driven cases with an injected clock."""

import numpy as np
import pytest

from ballast.control import ControllerConfig, ControllerState, Snapshot, step
from ballast.scenario import parse_scenario


def make_config(import_limit_mw=100.0, export_limit_mw=0.0, deadband=5.0, min_on=30.0,
                min_off=30.0, economic=True) -> ControllerConfig:
    doc = {
        "version": 1,
        "site": {"import_limit_mw": import_limit_mw, "export_limit_mw": export_limit_mw},
        "miners": [
            # 1,000 miners each, PUE 1 to keep the arithmetic readable
            {"name": "old", "model": "Antminer S19j Pro", "count": 1000, "pue": 1.0,
             "pool_fee_share": 0.0, "deadband_usd_per_mwh": deadband,
             "min_on_minutes": min_on, "min_off_minutes": min_off},
            {"name": "new", "model": "Antminer S21", "count": 1000, "pue": 1.0,
             "pool_fee_share": 0.0, "deadband_usd_per_mwh": deadband,
             "min_on_minutes": min_on, "min_off_minutes": min_off},
        ],
        "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
        "control": {"economic_dispatch": economic},
        "run": {"start": "2024-01-01T00:00Z", "end": "2024-01-02T00:00Z"},
    }
    return ControllerConfig.from_scenario(parse_scenario(doc))


# Hashprice 50 USD/PH/day -> breakevens: S21 (17.5 J/TH) 119.05, S19j Pro (30.5 J/TH) 68.31.
HASHPRICE = 50.0
BE_NEW = 1000 * HASHPRICE / (24 * 17.5)
BE_OLD = 1000 * HASHPRICE / (24 * 3050 / 100)


def test_breakevens_from_catalog():
    cfg = make_config()
    np.testing.assert_allclose(cfg.groups.breakeven_per_hashprice * HASHPRICE, [BE_OLD, BE_NEW])
    assert list(cfg.groups.merit) == [1, 0]  # most efficient (S21) first


@pytest.mark.parametrize(
    ("price", "ai_mw", "limit_mw", "expect_old", "expect_new", "rule"),
    [
        # cheap power, room for all: everyone runs
        (20.0, 10.0, 100.0, 1000, 1000, "economics"),
        # price between the breakevens (+deadband): only the efficient group runs
        (90.0, 10.0, 100.0, 0, 1000, "economics"),
        # above both breakevens: nobody runs
        (150.0, 10.0, 100.0, 0, 0, "economics"),
        # import limit binds: 5 MW room; the least efficient are shed first:
        # 6.55 MW - ceil(1.55 / 3.025 kW) = 513 S19j Pro asleep -> 487 run
        (20.0, 95.0, 100.0, 487, 1000, "import_limit"),
        # 3 MW room: all S19j Pro asleep (25 kW), ceil(0.525 / 3.475 kW) = 152 S21 shed
        (20.0, 97.0, 100.0, 0, 848, "import_limit"),
    ],
)
def test_merit_order_table(price, ai_mw, limit_mw, expect_old, expect_new, rule):
    cfg = make_config(import_limit_mw=limit_mw)
    state = ControllerState.initial(cfg, 0.0)
    d = step(cfg, state, Snapshot(0.0, price, HASHPRICE, ai_mw))
    assert d.running[0] == expect_old
    assert d.running[1] == expect_new
    assert d.binding_rule == rule
    assert ai_mw + d.miner_power_mw <= limit_mw + 1e-9


def test_import_limit_shed_is_whole_miners_and_tight():
    cfg = make_config(import_limit_mw=100.0)
    state = ControllerState.initial(cfg, 0.0)
    d = step(cfg, state, Snapshot(0.0, 20.0, HASHPRICE, 97.0))
    room = 3.0
    per_new = 3500e-6
    # all old asleep (1000 x 25 W = 0.025 MW) and as many S21s as fit
    expected_new = int((room - 1000 * 25e-6 - 1000 * 25e-6) // (per_new - 25e-6))
    assert d.running[1] in (expected_new, expected_new + 1)
    assert d.miner_power_mw <= room + 1e-9




def test_hysteresis_deadband_and_min_times_injected_clock():
    cfg = make_config(deadband=5.0, min_on=30.0, min_off=30.0)
    state = ControllerState.initial(cfg, 0.0, settled=True)
    t = 1_700_000_000.0
    cases = [
        # (seconds after t, price, new running?, reason)
        (0, 100.0, True, "below breakeven"),
        (60, BE_NEW + 4.0, True, "inside deadband: no switch"),
        (120, BE_NEW + 6.0, False, "above breakeven + deadband, min-on long served: stop"),
        (180, BE_NEW - 6.0, False, "wants back on, but only 1 min off (min-off 30 min)"),
        (120 + 29 * 60, BE_NEW - 6.0, False, "29 min off: still held"),
        (120 + 30 * 60, BE_NEW - 4.0, False, "inside deadband from below: no start"),
        (120 + 31 * 60, BE_NEW - 6.0, True, "30 min served and below band: start"),
        (120 + 32 * 60, BE_NEW + 50.0, True, "just started: min-on holds it"),
        (120 + 60 * 60, BE_NEW + 50.0, True, "29 min on: held"),
        (120 + 61 * 60, BE_NEW + 50.0, False, "30 min on: stop"),
    ]
    for dt, price, expect_on, reason in cases:
        d = step(cfg, state, Snapshot(t + dt, price, HASHPRICE, 0.0))
        assert (d.running[1] > 0) == expect_on, reason


def test_safety_overrides_min_on_time():
    cfg = make_config(import_limit_mw=100.0, min_on=600.0)
    state = ControllerState.initial(cfg, 0.0, settled=False)  # just switched on
    d = step(cfg, state, Snapshot(10.0, 20.0, HASHPRICE, 99.9))
    assert 99.9 + d.miner_power_mw <= 100.0 + 1e-9
    assert d.binding_rule == "import_limit"


def test_ai_alone_over_limit_puts_every_miner_to_sleep():
    cfg = make_config(import_limit_mw=100.0)
    state = ControllerState.initial(cfg, 0.0)
    d = step(cfg, state, Snapshot(0.0, 20.0, HASHPRICE, 120.0))
    assert d.running.sum() == 0
    assert d.miner_power_mw == pytest.approx(2000 * 25e-6)


def test_renewable_surplus_absorbed_even_when_uneconomic():
    cfg = make_config(import_limit_mw=100.0, export_limit_mw=0.0)
    state = ControllerState.initial(cfg, 0.0)
    # price far above both breakevens, 5 MW of wind can neither serve load nor be exported
    d = step(cfg, state, Snapshot(0.0, 500.0, HASHPRICE, 1.0, renewable_mw=6.0))
    assert d.binding_rule == "renewable_absorption"
    # most efficient absorbs first: all 1,000 S21 (3.5 MW), then 487 S19j Pro fill the rest
    assert d.running[1] == 1000
    assert d.running[0] == 487
    assert d.miner_power_mw <= 5.0 + 1e-9


def test_obligation_cap_and_floor():
    cfg = make_config(import_limit_mw=100.0)
    state = ControllerState.initial(cfg, 0.0)
    d = step(cfg, state, Snapshot(0.0, 20.0, HASHPRICE, 0.0, cap_mw=2.0))
    assert d.miner_power_mw <= 2.0 and d.binding_rule == "obligation_cap"
    state = ControllerState.initial(cfg, 0.0, running=False)
    d = step(cfg, state, Snapshot(0.0, 500.0, HASHPRICE, 0.0, floor_mw=3.0))
    assert d.miner_power_mw >= 3.0 - 3.5e-3 and d.binding_rule == "obligation_floor"
    # a floor never beats the import limit
    d = step(cfg, state, Snapshot(0.0, 500.0, HASHPRICE, 99.0, floor_mw=3.0))
    assert 99.0 + d.miner_power_mw <= 100.0 + 1e-9


def test_baseline_policy_ignores_price():
    cfg = make_config(economic=False)
    state = ControllerState.initial(cfg, 0.0)
    d = step(cfg, state, Snapshot(0.0, 5000.0, HASHPRICE, 0.0))
    assert list(d.running) == [1000, 1000]


def test_group_power_counts_sleeping_miners():
    g = make_config().groups
    # all asleep: 1,000 x 25 W per group; old fully running: 1,000 x 3,050 W at PUE 1
    np.testing.assert_allclose(g.power_mw(np.array([0, 0])), [0.025, 0.025])
    np.testing.assert_allclose(g.power_mw(np.array([1000, 0])), [3.05, 0.025])
    two_ticks = g.power_mw(np.array([[0, 1000], [500, 500]]))
    assert two_ticks.shape == (2, 2)
    np.testing.assert_allclose(two_ticks[1], [500 * 3050e-6 + 500 * 25e-6, 500 * 3500e-6 + 500 * 25e-6])
