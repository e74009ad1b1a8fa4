"""Market replay: the live economics inputs follow the scenario's own (backtest) series."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from live_helpers import CAMPUS, OPERATOR_TOKEN, emulated_campus, until

from ballast.inputs import build_inputs
from ballast.live.market_replay import MarketReplay
from ballast.scenario import parse_scenario

pytestmark = pytest.mark.timeout(120)
START = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)


def test_replay_follows_the_backtest_series_and_wraps():
    scen = parse_scenario(CAMPUS)
    frame = build_inputs(scen).frame
    replay = MarketReplay(scen, None, START, speed=900.0, t0_s=1000.0)  # 1 s = one interval
    i = frame.index.get_loc(START)
    for k in range(3):
        price, hashprice, t = replay.at(1000.0 + k)
        assert t == START.timestamp() + 900.0 * k
        assert price == frame["price_usd_per_mwh"].iloc[i + k - 1]  # the last settled price
        assert hashprice == frame["hashprice_usd_per_ph_day"].iloc[i + k]
    # the run is one day (96 intervals): 90 s later the replay has wrapped to the start
    assert replay.replay_time_s(1000.0 + 90) == frame.index[(i + 90) % 96].timestamp()
    with pytest.raises(ValueError, match="outside the scenario's run"):
        MarketReplay(scen, None, datetime(2023, 1, 1, tzinfo=UTC), 1.0, 0.0)


async def test_runtime_uses_the_replay_until_an_operator_sets_a_price(tmp_path):
    replay = {"start": START.isoformat(), "speed": 1.0}
    async with emulated_campus(tmp_path, market={"replay": replay}) as live:
        rt = live.runtime
        await until(lambda: rt.last_tick is not None, 5, "first tick")
        doc = rt.last_tick
        frame = build_inputs(parse_scenario(CAMPUS)).frame
        assert doc["market"]["replay_time"].startswith("2024-05-01T06:0")
        assert doc["market"]["price_usd_per_mwh"] == frame["decision_price_usd_per_mwh"].loc[START]
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5) as client:
            r = await client.put("/api/v1/policy", json={"price_usd_per_mwh": 999.0},
                                 headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
            assert r.status_code == 200
        await until(lambda: rt.last_tick["market"]["replay_time"] is None, 5, "replay ended")
        assert rt.last_tick["market"]["price_usd_per_mwh"] == 999.0
        await until(lambda: rt.store.events(kind="market_replay_end"), 5, "event logged")
