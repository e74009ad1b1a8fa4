"""The live runtime decides on the live price feed (``live.market``), and shows the feed's
state and fallback on /api/v1/state and /metrics.

The REP/QSE price endpoint cannot be reached from here: a local aiohttp server answers in a
generic JSON format (``{"data": [{"price": ..., "time": ...}]}``), the form an HTTP JSON feed
takes with a field path. The runtime's UTC clock is injected, so staleness is reached by
moving the clock, not by waiting.
"""

from __future__ import annotations

import time

import httpx
import pytest
from live_helpers import CAMPUS, VIEWER_TOKEN, emulated_campus, until
from tests.live.market_server import MarketServer

from ballast.live.obligations import utc_iso

pytestmark = pytest.mark.timeout(120)

# no minimum on/off time and no restore ramp, so each group follows the price at once
SCENARIO = {
    **CAMPUS,
    "control": {"restore_ramp_mw_per_min": None},
    "miners": [{**m, "min_on_minutes": 0, "min_off_minutes": 0} for m in CAMPUS["miners"]],
}


async def test_runtime_decides_on_the_feed_price_and_falls_back_when_stale(tmp_path):
    offset = [0.0]
    t0 = time.time()

    def clock() -> float:
        return time.time() + offset[0]

    async with MarketServer() as srv:
        srv.answers["/price"] = {"data": [{"price": 10.0, "time": utc_iso(t0)}]}
        market = {
            "price_usd_per_mwh": 900.0,  # the operator's value would curtail the S21s
            "hashprice_usd_per_ph_day": 50.0,
            "price_feed": {
                "source": "http_json",
                "url": srv.url + "/price",
                "path": "data.0.price",
                "time_path": "data.0.time",
                "poll_s": 0.1,
                "timeout_s": 1.0,
                "max_age_s": 600,
            },
            "stale": {"on_stale": "conservative", "conservative_price_usd_per_mwh": 4000},
        }
        async with emulated_campus(tmp_path, scenario=SCENARIO, clock=clock, market=market) as live:
            rt = live.runtime

            def s21_target() -> int:
                return next(g["target_running"] for g in rt.last_tick["groups"] if g["name"] == "s21")

            # cheap feed price: the S21s run (the import limit still binds the S19 XPs)
            await until(
                lambda: (
                    rt.last_tick is not None
                    and rt.last_tick["market"]["feeds"]
                    and rt.last_tick["market"]["feeds"]["price"]["fallback"] is None
                    and s21_target() > 0
                ),
                10,
                "S21s running on the feed's 10 USD/MWh",
            )
            assert rt.last_tick["market"]["price_usd_per_mwh"] == 10.0
            # S21 breakeven at 50 USD/PH/day is ~110 USD/MWh: 400 curtails them
            srv.answers["/price"] = {"data": [{"price": 400.0, "time": utc_iso(t0 + 1)}]}
            await until(
                lambda: rt.last_tick["market"]["price_usd_per_mwh"] == 400.0 and s21_target() == 0,
                10,
                "S21s curtailed at 400 USD/MWh",
            )
            # the feed stops answering and its last value ages past max_age_s
            srv.answers["/price"] = (503, "down")
            offset[0] = 3600.0
            await until(  # the clock jump can make the value stale before a poll has failed
                lambda: (
                    rt.last_tick["market"]["feeds"]["price"]["fallback"] == "conservative"
                    and rt.last_tick["market"]["feeds"]["price"]["last_error"] is not None
                ),
                10,
                "conservative fallback with the failed poll's reason",
            )
            feed = rt.last_tick["market"]["feeds"]["price"]
            assert rt.last_tick["market"]["price_usd_per_mwh"] == 4000.0
            assert feed["age_s"] > 600 and feed["last_error"].endswith("HTTP 503")
            headers = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
            async with httpx.AsyncClient(base_url=live.api_url, timeout=5, headers=headers) as client:
                state = (await client.get("/api/v1/state")).json()
                metrics = (await client.get("/metrics")).text
            assert state["market"]["feeds"]["price"]["fallback"] == "conservative"
            # each change of fallback is an event: curtail until the first poll, fresh, stale
            await until(lambda: len(rt.store.events(kind="market_feed")) >= 2, 5, "events")
            kinds = [e["message"] for e in rt.store.events(kind="market_feed")]
            assert any("fresh again" in m for m in kinds)
            assert any(m.startswith("price feed stale (") and m.endswith("conservative") for m in kinds)
            assert 'ballast_market_feed_fallback{fallback="conservative",feed="price"} 1.0' in metrics
            assert 'ballast_market_feed_polls_total{feed="price",result="failed"}' in metrics
