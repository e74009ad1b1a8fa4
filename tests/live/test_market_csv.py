"""HTTP CSV price feeds (``live.market.csv_source``) against a local HTTP server (aiohttp on
loopback). No REP or QSE CSV format is documented publicly, so the answers are generic: a
header line and one row per interval, as the operator's provider describes its file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ballast.live.market.config import HttpCsvPriceFeed
from ballast.live.market.csv_source import HttpCsvValue, csv_value
from ballast.live.market.feeds import build_feeds
from ballast.live.market.sources import FeedError
from ballast.live.site_config import SiteConfigError, parse_site_config
from tests.live.market_server import MarketServer

pytestmark = pytest.mark.timeout(60)
NOW = datetime(2024, 5, 1, 19, 5, tzinfo=UTC).timestamp()
URL = "http://rep.example/prices.csv"

# rows out of time order, as an export sorted by something else might be
PRICES = """interval_end,settlement_point,price_usd_per_mwh
2024-05-01T18:45:00Z,HB_WEST,8.49
2024-05-01T19:00:00Z,HB_WEST,9.01
2024-05-01T18:30:00Z,HB_WEST,8.79
"""


def cfg(**kw) -> HttpCsvPriceFeed:
    return HttpCsvPriceFeed.model_validate({"source": "http_csv", "url": URL, **kw})


def test_last_row_or_latest_timestamp():
    t_1900 = datetime(2024, 5, 1, 19, 0, tzinfo=UTC).timestamp()
    t_1830 = datetime(2024, 5, 1, 18, 30, tzinfo=UTC).timestamp()
    latest = cfg(column="price_usd_per_mwh", row="latest", time_column="interval_end")
    assert csv_value(PRICES, latest, URL) == (9.01, t_1900)
    last = cfg(column="price_usd_per_mwh", time_column="interval_end")
    assert csv_value(PRICES, last, URL) == (8.79, t_1830)  # the last line, whatever its time
    assert csv_value(PRICES, cfg(column="price_usd_per_mwh"), URL) == (8.79, None)
    # UNIX seconds, a semicolon file, cents scaled to dollars, a trailing blank line
    text = "t;cents\n1714589100;849\n1714590000;901\n\n"
    c = cfg(column="cents", row="latest", time_column="t", delimiter=";", scale=0.01)
    assert csv_value(text, c, URL) == (pytest.approx(9.01), 1714590000.0)


@pytest.mark.parametrize(
    ("text", "kw", "message"),
    [
        ("", {"column": "price"}, "the CSV answer is empty"),
        ("interval_end,price\n", {"column": "price"}, "has a header but no data line"),
        (PRICES, {"column": "price"}, "no column 'price' in the header (line 1"),
        (PRICES.replace("8.79", "n/a"), {"column": "price_usd_per_mwh"}, "column 'price_usd_per_mwh' line 4"),
        (PRICES.replace("8.79", "inf"), {"column": "price_usd_per_mwh"}, "not finite"),
        (PRICES.replace(",HB_WEST,8.49", ",8.49"), {"column": "price_usd_per_mwh"}, "line 2 has 2 fields"),
        (
            PRICES.replace("2024-05-01T19:00:00Z", "2024-05-01 19:00"),
            {"column": "price_usd_per_mwh", "row": "latest", "time_column": "interval_end"},
            "column 'interval_end' line 3",
        ),
        ('a,b\n"1,2\n', {"column": "a"}, "not CSV at line"),
    ],
)
def test_bad_csv_names_url_column_and_line(text, kw, message):
    with pytest.raises(FeedError) as e:
        csv_value(text, cfg(**kw), URL)
    assert message in str(e.value) and URL in str(e.value)


def test_latest_without_a_time_column_is_a_config_error():
    market = {"price_feed": {"source": "http_csv", "url": URL, "column": "p", "row": "latest"}}
    with pytest.raises(SiteConfigError, match=r"market\.price_feed\.http_csv.*time_column"):
        parse_site_config({"scenario": "x", "market": market}, "site.yaml")


async def test_csv_feed_polls_a_server_and_keeps_the_last_good_value():
    async with MarketServer() as srv:
        srv.answers["/prices.csv"] = PRICES
        market = {
            "price_feed": {
                "source": "http_csv",
                "url": srv.url + "/prices.csv",
                "column": "price_usd_per_mwh",
                "row": "latest",
                "time_column": "interval_end",
            },
            "hashprice_feed": {"source": "http_csv", "url": srv.url + "/hp.csv", "column": "usd_per_ph_day"},
        }
        srv.answers["/hp.csv"] = "usd_per_ph_day\n51.5\n52.25\n"
        feeds = build_feeds(parse_site_config({"scenario": "x", "market": market}).market, lambda: NOW)
        assert isinstance(feeds.price.source, HttpCsvValue)
        assert await feeds.price.poll_once() and await feeds.hashprice.poll_once()
        assert feeds.price.value == 9.01
        assert feeds.price.published_s == datetime(2024, 5, 1, 19, 0, tzinfo=UTC).timestamp()
        assert (feeds.hashprice.value, feeds.hashprice.published_s) == (52.25, NOW)  # received now
        srv.answers["/prices.csv"] = "interval_end,settlement_point,price_usd_per_mwh\n"
        assert not await feeds.price.poll_once()
        assert "no data line" in feeds.price.last_error and "/prices.csv" in feeds.price.last_error
        srv.answers["/prices.csv"] = (503, "busy")
        assert not await feeds.price.poll_once()
        assert "HTTP 503" in feeds.price.last_error
        assert feeds.price.value == 9.01
        await feeds.close()
