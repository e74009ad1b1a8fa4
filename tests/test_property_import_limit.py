"""Property: for any prices, AI loads and renewable output, import never exceeds the limit
(unless the AI load plus sleeping miners alone exceed it, which no miner decision can fix)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.control import ControllerConfig, ControllerState, Snapshot, step
from ballast.scenario import parse_scenario

finite = {"allow_nan": False, "allow_infinity": False}


def config(limit_mw: float, export_mw: float, counts: list[int]) -> ControllerConfig:
    models = ["Antminer S19j Pro", "Antminer S19 XP", "Antminer S21"]
    doc = {
        "version": 1,
        "site": {"import_limit_mw": limit_mw, "export_limit_mw": export_mw},
        "miners": [{"name": f"g{i}", "model": models[i % 3], "count": c,
                    "min_on_minutes": 15, "min_off_minutes": 15}
                   for i, c in enumerate(counts)],
        "markets": {"price": {"source": "bundled:ercot_rtm_hb_hubavg_15min_2024_2025"}},
        "run": {"start": "2024-01-01T00:00Z", "end": "2024-01-02T00:00Z"},
    }
    return ControllerConfig.from_scenario(parse_scenario(doc))


@settings(max_examples=60, deadline=None)
@given(
    limit_mw=st.floats(5, 400, **finite),
    export_mw=st.floats(0, 200, **finite),
    counts=st.lists(st.integers(1, 30_000), min_size=1, max_size=4),
    ticks=st.lists(
        st.tuples(st.floats(-250, 9000, **finite), st.floats(0, 300, **finite),
                  st.floats(0, 400, **finite), st.floats(5, 200, **finite)),
        min_size=1, max_size=25),
)
def test_import_never_exceeds_limit(limit_mw, export_mw, counts, ticks):
    cfg = config(limit_mw, export_mw, counts)
    state = ControllerState.initial(cfg, 0.0)
    sleep_floor_mw = float((cfg.groups.count * cfg.groups.sleep_mw).sum())
    for k, (price, ai_mw, renewable_mw, hashprice) in enumerate(ticks):
        d = step(cfg, state, Snapshot(60.0 * k, price, hashprice, ai_mw, renewable_mw))
        net_import_mw = ai_mw + d.miner_power_mw - renewable_mw
        if ai_mw + sleep_floor_mw - renewable_mw <= limit_mw:
            assert net_import_mw <= limit_mw + 1e-6
        else:  # nothing the miners can do: they must all be asleep
            assert d.running.sum() == 0
        assert np.all(d.running >= 0) and np.all(d.running <= cfg.groups.count)
