"""Live market feeds (``ballast.live.market``): the cost of one poll and the age of the price
at decision time. One JSON line per figure. The machine is shared (other work on its 2 cores):
wall-clock figures are the best of RUNS runs, and the CPU time of a poll is given beside them.

- market_poll_<source>_p50 / p99 [s]: one ``Feed.poll_once`` (HTTP GET, parse, checks) against a
  loopback server answering in the provider's format: ``ercot`` (ERCOT's Public API stand-in of
  ``tests.live.market_server``: signed in once, then one GET of NP6-905-CD, yesterday's and
  today's ended intervals of one settlement point, up to 192 rows), ``http_json``, ``http_csv``
  (a 96-row CSV, the latest of a time column), ``computed`` (three GETs) and ``modbus`` (one
  holding-register read from a pymodbus server). The servers run in the same process and event
  loop, so the figures include their work; a real endpoint adds its network round trip.
- market_poll_<source>_cpu_p50 [s]: process CPU time of one poll (client and loopback server).
- market_price_age_at_decision_p50 / p99 [s]: a price published every 1 s (stamped when
  published), polled every 1 s in its own task, read by a 0.2-s tick: now - published at each
  tick. On ERCOT the age is set by the market, not by Ballast: 0-15 min plus the publication
  delay (NP6-905-CD is one price per 15-min interval).

    python benchmarks/bench_market_feeds.py [POLLS] [AGE_S] [RUNS]   # default 300 polls, 20 s, 3
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ballast.live.market.ercot import ERCOT_TZ, ercot_interval_end_s
from ballast.live.market.feeds import build_feeds
from ballast.live.site_config import parse_site_config
from ballast.live.site_model import Policy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.live.market_server import ErcotApi, MarketServer

POLLS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
AGE_S = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 3


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 6), "unit": unit}), flush=True)


def ercot_rows(now: datetime) -> list[list]:
    """Yesterday's and today's (Central time) intervals that have ended, as ERCOT serves them."""
    day = now.astimezone(ERCOT_TZ).date()
    rows = [
        [(day - timedelta(days=d)).isoformat(), h, i, "HB_WEST", "HU", 20.0 + i, False]
        for d in (1, 0)
        for h in range(1, 25)
        for i in range(1, 5)
    ]
    return [r for r in rows if ercot_interval_end_s(r[0], r[1], r[2], False) <= now.timestamp()]


async def poll_costs(srv: MarketServer, modbus_port: int) -> None:
    os.environ.update(BENCH_ERCOT_KEY="k-123", BENCH_ERCOT_USER="ops@example.com", BENCH_ERCOT_PW="pw")
    srv.ercot = ErcotApi(ercot_rows(datetime.now(UTC)), time.time)
    srv.answers["/rep"] = {"data": [{"price": 31.5, "time": time.time()}]}
    t0 = int(time.time()) // 900 * 900
    srv.answers["/rep.csv"] = "interval_end,price_usd_per_mwh\n" + "".join(
        f"{t0 - 900 * k},{20.0 + k % 7}\n" for k in range(96)
    )
    srv.answers["/prices"] = {"time": time.time(), "USD": 95_000}
    srv.answers["/difficulty"] = {"currentDifficulty": 1.1e14}
    srv.answers["/fees"] = [{"timestamp": time.time(), "avgFees": 10_000_000}]
    configs = {
        "ercot": {
            "price_feed": {
                "source": "ercot",
                "settlement_point": "HB_WEST",
                "url": srv.url + "/ercot/spp",
                "token_url": srv.url + "/ercot/token",
                "subscription_key_env": "BENCH_ERCOT_KEY",
                "username_env": "BENCH_ERCOT_USER",
                "password_env": "BENCH_ERCOT_PW",
            }
        },
        "http_json": {
            "price_feed": {
                "source": "http_json",
                "url": srv.url + "/rep",
                "path": "data.0.price",
                "time_path": "data.0.time",
            }
        },
        "http_csv": {
            "price_feed": {
                "source": "http_csv",
                "url": srv.url + "/rep.csv",
                "column": "price_usd_per_mwh",
                "row": "latest",
                "time_column": "interval_end",
            }
        },
        "computed": {
            "hashprice_feed": {
                "source": "computed",
                "btc_price_usd": {"url": srv.url + "/prices", "path": "USD", "time_path": "time"},
                "difficulty": {"url": srv.url + "/difficulty", "path": "currentDifficulty"},
                "fees_btc_per_block": {"url": srv.url + "/fees", "path": "-1.avgFees", "scale": 1e-8},
            }
        },
        "modbus": {
            "price_feed": {"source": "modbus", "host": "127.0.0.1", "port": modbus_port, "address": 0}
        },
    }
    best: dict[str, float] = {}
    for _ in range(RUNS):
        for name, market in configs.items():
            feeds = build_feeds(parse_site_config({"scenario": "x", "market": market}).market, time.time)
            feed = feeds.feeds[0]
            cpu = []
            for _ in range(POLLS):
                c0 = time.process_time()
                ok = await feed.poll_once()
                cpu.append(time.process_time() - c0)
                assert ok, feed.last_error
            cost = np.array(feed.poll_cost_s[5:])  # the first polls open connections (and sign in)
            for key, v in (
                (f"market_poll_{name}_p50", np.percentile(cost, 50)),
                (f"market_poll_{name}_p99", np.percentile(cost, 99)),
                (f"market_poll_{name}_cpu_p50", np.percentile(cpu[5:], 50)),
            ):
                best[key] = min(best.get(key, np.inf), float(v))
            await feeds.close()
    assert len(srv.ercot.sign_ins) == RUNS  # one sign-in per feed: the token lasts the run
    for key, v in best.items():
        emit(key, v, "s")


async def age_at_decision(srv: MarketServer) -> None:
    async def publish() -> None:
        while True:
            srv.answers["/live"] = {"price": 30.0, "time": time.time()}
            await asyncio.sleep(1.0)

    pub = asyncio.create_task(publish())
    await asyncio.sleep(0.01)
    cfg = parse_site_config(
        {
            "scenario": "x",
            "market": {
                "price_feed": {
                    "source": "http_json",
                    "url": srv.url + "/live",
                    "path": "price",
                    "time_path": "time",
                    "poll_s": 1.0,
                    "max_age_s": 10,
                }
            },
        }
    ).market
    feeds = build_feeds(cfg, time.time)
    task = feeds.start()
    pol = Policy(30.0, 50.0, True, 1.0)
    ages = []
    t_end = time.time() + AGE_S
    while time.time() < t_end:
        await asyncio.sleep(0.2)
        pol = feeds.apply(pol, time.time())
        if feeds.state["price"]["age_s"] is not None:
            ages.append(feeds.state["price"]["age_s"])
    task.cancel()
    pub.cancel()
    await asyncio.gather(task, pub, return_exceptions=True)
    emit("market_price_age_at_decision_p50", float(np.percentile(ages, 50)), "s")
    emit("market_price_age_at_decision_p99", float(np.percentile(ages, 99)), "s")


async def main() -> None:
    device = SimDevice(
        id=1, simdata=[SimData(0, count=4, values=[16968, 0, 0, 0], datatype=DataType.UINT16)]
    )  # 37.0 as float32
    server = ModbusTcpServer(device, address=("127.0.0.1", 0))
    await server.serve_forever(background=True)
    try:
        async with MarketServer() as srv:
            await poll_costs(srv, server.transport.sockets[0].getsockname()[1])
            await age_at_decision(srv)
    finally:
        await server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
