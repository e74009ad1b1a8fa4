"""The 1-s loop (``sim.kernel.run_plant_ticks``) skips work that changes nothing: the economic
update while price and hashprice hold, the economic wish while the economic state holds. This
test runs the same ticks through a plain reference loop that calls the live ``control.step``
(``control_tick_full``: every part, every tick) and the miner plant's own functions, and asserts
every output series is the same bit for bit (issue 17: the speed-ups must not change a number).
"""

import numpy as np
import pytest

from ballast.control import ControllerState, Snapshot, step
from ballast.control.build import controller_config, dynamics_of
from ballast.control.rules import RULE_NAMES
from ballast.examples import examples_dir
from ballast.models.miner_dynamics import plant_advance, plant_command, ring_slots, ticks
from ballast.physics import (
    battery_max_discharge_mw,
    battery_stored_change_mwh,
    import_mw,
    within_export_limit_mw,
)
from ballast.scenario import load_scenario, parse_scenario
from ballast.sim.fine import fine_setup, run_fine

RECORD_EVERY = 60


def reference(cfg, coarse, ai_mw, every, t0_s, dt_s, dynamics, battery):
    """The fine loop written plainly: ``step`` every tick, plant, battery, import."""
    price = coarse["decision_price_usd_per_mwh"].to_numpy(dtype="float64")
    hashprice = coarse["hashprice_usd_per_ph_day"].to_numpy(dtype="float64")
    ren = coarse["renewable_mw"].to_numpy(dtype="float64")
    g = cfg.groups
    ng = len(g.names)
    state = ControllerState.initial(cfg, t0_s)
    start = state.copy()  # start settled, as run_fine does
    first = step(cfg, start, Snapshot(t0_s, price[0], hashprice[0], ai_mw[0], ren[0]))
    state.running[:] = first.running
    state.restore[:] = start.restore
    pending = np.zeros((ring_slots(dynamics, dt_s), ng))
    rate = np.zeros(ng)
    power = g.power_mw(state.running).astype("float64")
    raw = power.copy()
    lo, hi = g.power_mw(np.zeros(ng, np.int64)), g.power_mw(g.count)
    lat = [ticks(d.latency_s, dt_s) for d in dynamics]
    slp = [max(1, ticks(d.sleep_s, dt_s)) for d in dynamics]
    wak = [max(1, ticks(d.wake_s, dt_s)) for d in dynamics]
    eta = float(np.sqrt(battery.round_trip_efficiency))
    soc = battery.initial_soc_share * battery.energy_mwh
    dt_h = dt_s / 3600.0
    n = len(ai_mw)
    out = {k: np.empty(n, np.float32) for k in ("import_mw", "miner_mw", "battery_mw")}
    out["rule"] = np.empty(n, np.int8)
    group_mw = np.zeros((n // RECORD_EVERY, ng))
    reserve = np.zeros((n // RECORD_EVERY, 2))
    pos = 0
    switches = 0  # economic switches of a group
    for t in range(n):
        pos = plant_advance(pending, pos, rate, raw, power, lo, hi)
        miner_now = 0.0
        for k in range(ng):
            miner_now += power[k]
        before = state.running.copy()
        econ_before = state.econ_on.copy()
        c = t // every
        d = step(
            cfg,
            state,
            Snapshot(
                t0_s + t * dt_s, price[c], hashprice[c], float(ai_mw[t]), ren[c], np.inf, 0.0, miner_now, soc
            ),
        )
        out["rule"][t] = RULE_NAMES.index(d.binding_rule)
        switches += int((state.econ_on != econ_before).sum())
        blk = t // RECORD_EVERY
        for k in range(ng):
            group_mw[blk, k] += power[k] * (1.0 / RECORD_EVERY)
            if state.running[k] != before[k]:
                plant_command(
                    pending,
                    pos,
                    k,
                    g.count[k],
                    before[k],
                    state.running[k],
                    g.run_mw[k],
                    g.sleep_mw[k],
                    1.0,
                    1.0,
                    lat[k],
                    slp[k],
                    wak[k],
                    1,
                    0.0,
                    raw,
                    rate,
                )
        b = d.battery_mw
        if b > 0.0:
            b = min(b, battery_max_discharge_mw(soc, dt_h, eta))
        soc += battery_stored_change_mwh(b, dt_h, eta)
        out["battery_mw"][t] = b
        out["miner_mw"][t] = miner_now
        out["import_mw"][t] = within_export_limit_mw(
            import_mw(float(ai_mw[t]) + miner_now, ren[c]) - b, cfg.export_limit_mw
        )
        reserve[blk, 0] += d.reserve_up_mw * (1.0 / RECORD_EVERY)
        reserve[blk, 1] += d.reserve_down_mw * (1.0 / RECORD_EVERY)
    return out, group_mw, reserve, switches


@pytest.mark.parametrize(("groups", "chunk"), [(None, 1 << 20), (5, 1 << 20), (20, 1 << 20), (5, 60)])
def test_fine_loop_is_the_plain_loop_bit_for_bit(groups, chunk):
    # the training campus (smoothing, battery), 1 s ticks, two hours in which the real-time
    # price crosses groups' breakevens (16:44 and 16:59 UTC); its three groups as they are, or
    # split into 5 or 20 (with 5, a tick's reports once went to freed memory the commands'
    # array then held: the kernel takes its report record from the caller since). The run is
    # one kernel call, or 120 calls of 60 ticks: the plant's last commands, the controller's
    # memory and the coarse row must carry over from one call to the next
    doc = load_scenario(examples_dir() / "training_campus.yaml").model_dump(mode="json")
    doc["run"].update(start="2024-07-06T16:30:00Z", end="2024-07-06T18:30:00Z")
    if groups:
        base = doc["miners"]
        share = len(base) / groups
        doc["miners"] = [
            dict(base[i % len(base)], name=f"g{i:02d}", count=int(base[i % len(base)]["count"] * share))
            for i in range(groups)
        ]
    scn = parse_scenario(doc)
    setup = fine_setup(scn)
    ai = setup.ai()
    dyn = dynamics_of(scn)
    run = run_fine(
        controller_config(scn, setup.dt_s, ai=ai),
        setup.coarse.frame,
        ai,
        setup.n_ticks,
        dyn,
        battery=scn.battery,
        record_every=RECORD_EVERY,
        chunk=chunk,
    )
    ai_mw = ai.chunk(0, setup.n_ticks)[0].astype("float64")
    out, group_mw, reserve, switches = reference(
        controller_config(scn, setup.dt_s, ai=ai),
        setup.coarse.frame,
        ai_mw,
        ai.coarse_every,
        setup.t0_s,
        setup.dt_s,
        dyn,
        scn.battery,
    )
    assert switches > 0  # the economic state moved within the window
    assert np.diff(run.group_power_mw.sum(axis=1)).any()  # miners moved
    assert len(set(run.rule.tolist())) > 1  # more than one rule bound
    for key, ref in out.items():
        assert np.array_equal(getattr(run, key), ref), key
    assert np.array_equal(run.group_power_mw, group_mw)
    assert np.array_equal(run.reserve_mw, reserve)
