"""Live market feeds (``ballast.live.market``) against local servers.

The real ERCOT, price-index and pool endpoints cannot be reached from here. The clients run
against a local aiohttp server that answers in the providers' documented formats (ERCOT's Public
API: ``test_market_ercot.py``), and mempool.space-style REST answers for BTC price
(``/api/v1/prices``), difficulty (``/api/v1/mining/hashrate/3d``) and fees
(``/api/v1/mining/blocks/fees/24h``, sats per block). The Modbus source reads a real pymodbus
TCP server.
"""

from __future__ import annotations

import logging
import struct
from datetime import UTC, datetime

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ballast.live.market.config import (
    ComputedHashprice,
    HttpPriceFeed,
    ModbusPriceFeed,
    StaleConfig,
)
from ballast.live.market.feeds import Feed, MarketFeeds, build_feeds, resolve
from ballast.live.market.modbus import ModbusRegister
from ballast.live.market.sources import ComputedHashpriceSource, HttpJsonValue
from ballast.live.site_config import SiteConfigError, parse_site_config
from ballast.live.site_model import Policy
from tests.live.market_server import MarketServer

pytestmark = pytest.mark.timeout(60)
NOW = datetime(2024, 5, 1, 19, 0, tzinfo=UTC).timestamp()  # 14:00 CDT


def fixed(t: float = NOW):
    return lambda: t


async def test_http_json_value_with_path_timestamp_and_malformed_answers(caplog):
    async with MarketServer() as srv:
        cfg = HttpPriceFeed(
            source="http_json",
            url=srv.url + "/rep",
            path="data.0.price",
            time_path="data.0.time",
            timeout_s=0.3,
        )
        feed = build_feeds(
            parse_site_config({"scenario": "x", "market": {"price_feed": cfg.model_dump()}}).market, fixed()
        ).price
        srv.answers["/rep"] = {"data": [{"price": 42.5, "time": "2024-05-01T18:55:00Z"}]}
        assert await feed.poll_once()
        assert (feed.value, feed.published_s) == (42.5, NOW - 300)
        # malformed answers never become a number: the last good value stays and ages
        cases = {
            "not a number": {"data": [{"price": "n/a", "time": "2024-05-01T18:56:00Z"}]},
            "no key 'price'": {"data": [{"cost": 1.0, "time": "2024-05-01T18:56:00Z"}]},
            "not finite": {"data": [{"price": float("inf"), "time": 0}]},
            "not JSON": (200, "<html>maintenance</html>"),
            "HTTP 503": (503, "busy"),
            "no UTC offset": {"data": [{"price": 1.0, "time": "2024-05-01T18:56:00"}]},
            "in the future": {"data": [{"price": 1.0, "time": "2024-05-02T18:56:00Z"}]},
            "no answer within 0.3 s": 2.0,
        }
        with caplog.at_level(logging.WARNING, logger="ballast.live.market"):
            for reason, answer in cases.items():
                srv.answers["/rep"] = answer
                assert not await feed.poll_once(), reason
                assert reason in feed.last_error
                assert reason in caplog.text
                assert (feed.value, feed.published_s) == (42.5, NOW - 300)
        assert feed.failures == len(cases)
        await feed.source.client.aclose()


async def test_hashprice_computed_from_btc_price_difficulty_and_fees():
    async with MarketServer() as srv:
        srv.answers["/api/v1/prices"] = {"time": NOW - 60, "USD": 100_000, "EUR": 92_000}
        srv.answers["/api/v1/mining/hashrate/3d"] = {
            "hashrates": [],
            "currentHashrate": 7.0e20,
            "currentDifficulty": 1.0e14,
        }
        srv.answers["/api/v1/mining/blocks/fees/24h"] = [
            {"avgHeight": 842_000, "timestamp": NOW - 7200, "avgFees": 50_000_000},
            {"avgHeight": 842_100, "timestamp": NOW - 3600, "avgFees": 12_500_000},
        ]
        cfg = ComputedHashprice.model_validate(
            {
                "source": "computed",
                "btc_price_usd": {"url": srv.url + "/api/v1/prices", "path": "USD", "time_path": "time"},
                "difficulty": {"url": srv.url + "/api/v1/mining/hashrate/3d", "path": "currentDifficulty"},
                "fees_btc_per_block": {
                    "url": srv.url + "/api/v1/mining/blocks/fees/24h",
                    "path": "-1.avgFees",
                    "time_path": "-1.timestamp",
                    "scale": 1e-8,
                },
            }
        )
        feeds = build_feeds(
            parse_site_config({"scenario": "x", "market": {"hashprice_feed": cfg.model_dump()}}).market,
            fixed(),
        )
        feed = feeds.hashprice
        assert isinstance(feed.source, ComputedHashpriceSource)
        assert await feed.poll_once()
        # by hand: 1 PH/s finds 1e15 x 86400 / (1e14 x 2^32) blocks a day; after the April
        # 2024 halving a block pays 3.125 BTC + 0.125 BTC fees; at 100,000 USD/BTC:
        expected = 1e15 * 86_400 / (1e14 * 2**32) * (3.125 + 0.125) * 100_000
        assert feed.value == pytest.approx(expected, rel=1e-12)
        assert 60 < feed.value < 70  # USD/PH/day, the range of late 2024
        assert feed.published_s == NOW - 3600  # as old as its oldest input
        srv.answers["/api/v1/prices"] = {"time": NOW, "USD": -5}
        assert not await feed.poll_once()
        assert "out of range" in feed.last_error
        await feeds.close()


@pytest.fixture
async def modbus_server():
    regs = [0] * 8
    regs[0:2] = struct.unpack(">HH", struct.pack(">f", 37.75))  # float32, big-endian words
    regs[4] = struct.unpack(">H", struct.pack(">h", -1234))[0]  # int16, in 0.01 USD/MWh
    device = SimDevice(id=1, simdata=[SimData(0, count=8, values=regs, datatype=DataType.UINT16)])
    server = ModbusTcpServer(device, address=("127.0.0.1", 0))
    await server.serve_forever(background=True)
    yield server.transport.sockets[0].getsockname()[1]
    await server.shutdown()


async def test_modbus_register_price(modbus_server):
    f32 = ModbusPriceFeed(source="modbus", host="127.0.0.1", port=modbus_server, address=0)
    i16 = ModbusPriceFeed(
        source="modbus", host="127.0.0.1", port=modbus_server, address=4, data_type="int16", scale=0.01
    )
    for cfg, want in ((f32, 37.75), (i16, -12.34)):
        src = ModbusRegister(cfg, fixed())
        try:
            assert await src.latest() == (pytest.approx(want), NOW)
        finally:
            src.close()
    gone = ModbusPriceFeed(source="modbus", host="127.0.0.1", port=1, address=0, timeout_s=0.3)
    feed = Feed("price", ModbusRegister(gone, fixed()), gone, fixed())
    assert not await feed.poll_once()
    assert feed.value is None and "modbus 127.0.0.1:1" in feed.last_error
    feed.source.close()


class ConstSource:
    name = "const"

    def __init__(self, value: float, published_s: float) -> None:
        self.value, self.published_s = value, published_s

    async def latest(self) -> tuple[float, float]:
        return self.value, self.published_s


POLICY = Policy(
    price_usd_per_mwh=30.0, hashprice_usd_per_ph_day=50.0, economic_dispatch=True, import_margin_mw=1.0
)


@pytest.mark.parametrize(
    ("on_stale", "age_s", "price", "hashprice", "fallback"),
    [
        ("hold", 50, 80.0, 55.0, None),  # fresh: the feeds' values
        ("hold", 150, 80.0, 55.0, "hold"),  # stale, held (100 s of 300 s hold)
        ("hold", 500, 4000.0, 0.0, "curtail"),  # held too long: curtail
        ("conservative", 150, 4000.0, 20.0, "conservative"),
        ("curtail", 150, 4000.0, 0.0, "curtail"),
    ],
)
async def test_stale_feed_fallbacks(on_stale, age_s, price, hashprice, fallback):
    clock = [NOW]
    stale = StaleConfig(
        on_stale=on_stale,
        hold_s=300,
        conservative_price_usd_per_mwh=4000,
        conservative_hashprice_usd_per_ph_day=20,
    )
    timing = HttpPriceFeed(source="http_json", url="http://x", path="p", max_age_s=100)
    feeds = MarketFeeds(
        Feed("price", ConstSource(80.0, NOW), timing, lambda: clock[0]),
        Feed("hashprice", ConstSource(55.0, NOW), timing, lambda: clock[0]),
        stale,
    )
    for f in feeds.feeds:
        assert await f.poll_once()
    pol = feeds.apply(POLICY, NOW + age_s)
    assert (pol.price_usd_per_mwh, pol.hashprice_usd_per_ph_day) == (price, hashprice)
    assert feeds.state["price"]["fallback"] == fallback
    assert feeds.state["price"]["age_s"] == age_s
    # a fallback never sticks: fresh values again -> the feeds' numbers
    assert feeds.apply(pol, NOW + 10).price_usd_per_mwh == 80.0


async def test_no_value_yet_is_stale_and_an_operator_price_survives_a_fallback():
    timing = HttpPriceFeed(source="http_json", url="http://x", path="p", max_age_s=100)
    feeds = MarketFeeds(
        None, Feed("hashprice", ConstSource(55.0, NOW), timing, fixed()), StaleConfig(on_stale="hold")
    )
    pol = feeds.apply(POLICY, NOW)
    assert (pol.price_usd_per_mwh, pol.hashprice_usd_per_ph_day) == (5000.0, 0.0)
    assert feeds.state["hashprice"]["fallback"] == "curtail"
    await feeds.hashprice.poll_once()
    pol = feeds.apply(pol, NOW)  # the runtime passes back what it was given
    assert (pol.price_usd_per_mwh, pol.hashprice_usd_per_ph_day) == (30.0, 55.0)


def test_resolve_without_a_value_curtails_even_when_holding():
    assert resolve(None, None, 100, StaleConfig(on_stale="hold"), 1.0) == (None, "curtail")


@pytest.mark.parametrize(
    ("market", "message"),
    [
        ({"price_feed": {"source": "nymex", "url": "http://x"}}, "market.price_feed"),
        ({"price_feed": {"source": "ercot"}}, "market.price_feed.ercot.settlement_point"),
        (
            {"price_feed": {"source": "http_json", "url": "ftp://x", "path": "a"}},
            "market.price_feed.http_json.url",
        ),
        (
            {"hashprice_feed": {"source": "computed", "btc_price_usd": {"url": "http://x"}}},
            "market.hashprice_feed.computed",
        ),
        ({"stale": {"on_stale": "guess"}}, "market.stale.on_stale"),
        (
            {"price_feed": {"source": "modbus", "host": "h", "address": 1, "max_age_s": -1}},
            "market.price_feed.modbus.max_age_s",
        ),
        (
            {
                "replay": {"start": "2024-05-01T00:00:00Z"},
                "price_feed": {"source": "http_json", "url": "http://x", "path": "a"},
            },
            "not both",
        ),
    ],
)
def test_bad_feed_config_names_the_field(market, message):
    with pytest.raises(SiteConfigError, match=message.replace(".", r"\.")):
        parse_site_config({"scenario": "x", "market": market}, "site.yaml")


def test_http_value_parses_numeric_strings():
    src = HttpJsonValue(HttpPriceFeed(source="http_json", url="http://x", path="a"), None, fixed())
    assert src.name == "http_json"


async def test_hashprice_from_an_index_api_per_th_scaled_to_per_ph():
    """A pool's or an index's answer (no provider format is documented here, so a generic one:
    hashprice per TH/s per day with its timestamp); ``scale: 1000`` makes it per PH/s."""
    async with MarketServer() as srv:
        srv.answers["/index"] = {"hashprice": {"usd_per_th_day": 0.0525, "updated": NOW - 90}}
        market = {
            "hashprice_feed": {
                "source": "http_json",
                "url": srv.url + "/index",
                "path": "hashprice.usd_per_th_day",
                "time_path": "hashprice.updated",
                "scale": 1000,
            }
        }
        feeds = build_feeds(parse_site_config({"scenario": "x", "market": market}).market, fixed())
        assert await feeds.hashprice.poll_once()
        pol = feeds.apply(POLICY, NOW)
        assert pol.hashprice_usd_per_ph_day == pytest.approx(52.5)
        assert pol.price_usd_per_mwh == POLICY.price_usd_per_mwh  # no price feed: operator's
        assert feeds.state["hashprice"]["age_s"] == 90
        await feeds.close()
