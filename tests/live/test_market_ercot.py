"""ERCOT's real-time price feed (``live.market.ercot``) against a local stand-in for ERCOT's
Public API (``tests.live.market_server.ErcotApi``).

The real API cannot be reached from the test machines. The stand-in answers in the shapes
gridstatus (github gridstatus/gridstatus: ``gridstatus/ercot_api/ercot_api.py`` and its recorded
cassette ``gridstatus/tests/fixtures/ercot_api/vcr_cassettes/
test_get_as_reports_dst_end_2024_11_03.yaml``) and ERCOT's OpenAPI description
(``gridstatus/ercot_api/pubapi-apim-api.json``) show. The report's column names are those of a
real NP6-905-CD answer, recorded in the executed output of gridstatus/gridstatus
``docs/Examples/ercot_api/ERCOT API Examples.ipynb`` (``deliveryDate``, ``deliveryHour``,
``deliveryInterval``, ``settlementPoint`` (not ``settlementPointName``: that is the CSV files'
``SettlementPointName``), ``settlementPointType``, ``settlementPointPrice``, ``DSTFlag`` as a
JSON boolean); rows of it are ``ERCOT_RECORDED_ROWS``. Shapes: the Azure B2C password-grant
sign-in returning a one-hour ``id_token``; the report's ``_meta``/``report``/``fields``/``data``
layout with rows as lists, paged by ``page`` and ``size``; the subscription-key header; 401 for
a missing key or an expired token. The prices are real ERCOT HB_HUBAVG prices (bundled data).
Token expiry runs on an injected clock: no test waits on wall time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import ballast.live.market.ercot as ercot
from ballast.live.market.config import ErcotPriceFeed
from ballast.live.market.ercot import ErcotSpp, dst_flag, ercot_interval_end_s, latest_spp
from ballast.live.market.feeds import Feed, build_feeds
from ballast.live.market.sources import FeedError
from ballast.live.site_config import parse_site_config
from tests.live.market_server import (
    ERCOT_FIELDS,
    ERCOT_REAL_ROWS,
    ERCOT_RECORDED_ROWS,
    ErcotApi,
    MarketServer,
    ercot_answer,
)

pytestmark = pytest.mark.timeout(60)
NOW = datetime(2024, 5, 1, 19, 5, tzinfo=UTC).timestamp()  # 14:05 CDT
ENV = {"ERCOT_API_USERNAME": "ops@example.com", "ERCOT_API_PASSWORD": "pw", "ERCOT_KEY": "k-123"}


def test_ercot_interval_end_is_hour_ending_in_central_prevailing_time():
    # hour ending 14, interval 2 on 2024-05-01 (CDT, UTC-5): 13:15-13:30 CDT = 18:30 UTC
    assert (
        ercot_interval_end_s("2024-05-01", 14, 2, False)
        == datetime(2024, 5, 1, 18, 30, tzinfo=UTC).timestamp()
    )
    # 2024-11-03 (fall change): hour ending 2 occurs twice; the first at CDT (UTC-5), the
    # repeated one (DSTFlag true) at CST (UTC-6); interval 1 ends at 01:15 local
    assert (
        ercot_interval_end_s("2024-11-03", 2, 1, False)
        == datetime(2024, 11, 3, 6, 15, tzinfo=UTC).timestamp()
    )
    assert (
        ercot_interval_end_s("2024-11-03", 2, 1, True) == datetime(2024, 11, 3, 7, 15, tzinfo=UTC).timestamp()
    )
    with pytest.raises(FeedError, match="out of range"):
        ercot_interval_end_s("2024-05-01", 25, 1, False)


def feed_for(srv: MarketServer, clock, **kw) -> Feed:
    cfg = ErcotPriceFeed(
        source="ercot",
        settlement_point="HB_HUBAVG",
        url=srv.url + "/ercot/spp",
        token_url=srv.url + "/ercot/token",
        subscription_key_env="ERCOT_KEY",
        **kw,
    )
    feeds = build_feeds(
        parse_site_config({"scenario": "x", "market": {"price_feed": cfg.model_dump()}}).market, clock
    )
    assert feeds is not None and isinstance(feeds.price.source, ErcotSpp)
    return feeds.price


async def test_ercot_feed_signs_in_pages_and_takes_the_latest_real_price(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    other = [["2024-05-01", 14, 4, "HB_WEST", "HU", 99.0, False]]  # another point, filtered out
    old = [["2024-04-30", h, i, "HB_HUBAVG", "HU", 20.0, False] for h in range(1, 25) for i in range(1, 5)]
    async with MarketServer() as srv:
        now = [NOW]
        srv.ercot = api = ErcotApi(old + ERCOT_REAL_ROWS + other, lambda: now[0])
        feed = feed_for(srv, lambda: now[0])

        monkeypatch.setattr(ercot, "PAGE_SIZE", 40)  # 104 rows of HB_HUBAVG: three pages
        assert await feed.poll_once(), feed.last_error
        # the last interval of hour ending 14 (13:45-14:00 CDT) at 9.01 USD/MWh
        assert feed.value == 9.01
        assert feed.published_s == datetime(2024, 5, 1, 19, 0, tzinfo=UTC).timestamp()
        pages = [q for p, q, _ in srv.requests if p == "/ercot/spp"]
        assert [q["page"] for q in pages] == ["1", "2", "3"]
        assert {
            (q["settlementPoint"], q["deliveryDateFrom"], q["deliveryDateTo"], q["size"]) for q in pages
        } == {("HB_HUBAVG", "2024-04-30", "2024-05-01", "40")}
        (form,) = api.sign_ins  # one sign-in for three pages, the ROPC grant as gridstatus posts it
        assert form["grant_type"] == "password" and form["response_type"] == "id_token"
        assert form["client_id"] == "fec253ea-0d06-4272-a5e6-b478baeecd70"
        assert form["scope"] == "openid fec253ea-0d06-4272-a5e6-b478baeecd70 offline_access"
        (_, _, headers) = [r for r in srv.requests if r[0] == "/ercot/spp"][-1]
        assert headers["Authorization"] == "Bearer id-1"
        assert headers["Ocp-Apim-Subscription-Key"] == "k-123"
        await feed.source.client.aclose()


async def test_ercot_token_renewed_before_expiry_and_after_a_401(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    async with MarketServer() as srv:
        now = [NOW]
        srv.ercot = api = ErcotApi(ERCOT_REAL_ROWS, lambda: now[0])
        feed = feed_for(srv, lambda: now[0], token_refresh_margin_s=300)
        assert await feed.poll_once()
        assert len(api.sign_ins) == 1
        now[0] += 3600 - 301  # 5 min + 1 s before expiry: the token is kept
        assert await feed.poll_once()
        assert len(api.sign_ins) == 1
        now[0] += 2  # inside the margin: signs in again before polling
        assert await feed.poll_once()
        assert len(api.sign_ins) == 2
        spp = [h["Authorization"] for p, _, h in srv.requests if p == "/ercot/spp"]
        assert spp == ["Bearer id-1", "Bearer id-1", "Bearer id-2"]
        # the API stops honouring the token early (revoked, or the two clocks disagree): one
        # 401, a fresh sign-in, one retry that succeeds
        api.tokens.clear()
        assert await feed.poll_once(), feed.last_error
        assert len(api.sign_ins) == 3
        spp = [(h["Authorization"]) for p, _, h in srv.requests if p == "/ercot/spp"][-2:]
        assert spp == ["Bearer id-2", "Bearer id-3"]
        # a fresh token that is refused as well: one retry only, then the reason
        api.ttl_s = 0.0  # every token issued is already expired
        api.tokens.clear()
        n = len(srv.requests)
        assert not await feed.poll_once()
        assert "HTTP 401 after a fresh sign-in" in feed.last_error
        assert [p for p, _, _ in srv.requests[n:]] == ["/ercot/spp", "/ercot/token", "/ercot/spp"]
        assert feed.value == 9.01  # the last good price stays and ages
        await feed.source.client.aclose()


async def test_ercot_sign_in_and_key_failures_name_the_cause(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    async with MarketServer() as srv:
        srv.ercot = ErcotApi(ERCOT_REAL_ROWS, lambda: NOW)
        feed = feed_for(srv, lambda: NOW)
        monkeypatch.setenv("ERCOT_API_PASSWORD", "wrong")
        assert not await feed.poll_once()
        assert "sign-in" in feed.last_error and "HTTP 400" in feed.last_error
        assert "AADB2C90225" in feed.last_error and "wrong" not in feed.last_error  # no password
        monkeypatch.delenv("ERCOT_API_PASSWORD")
        assert not await feed.poll_once()
        assert "ERCOT_API_PASSWORD" in feed.last_error and "unset" in feed.last_error
        monkeypatch.setenv("ERCOT_API_PASSWORD", "pw")
        monkeypatch.setenv("ERCOT_KEY", "not-the-key")
        assert not await feed.poll_once()
        assert "HTTP 401" in feed.last_error and "subscription key" in feed.last_error
        monkeypatch.setenv("ERCOT_KEY", "k-123")
        assert await feed.poll_once()
        await feed.source.client.aclose()


async def test_ercot_token_from_the_environment_is_used_as_is(monkeypatch):
    """``token_env``: the operator keeps the token fresh; Ballast never signs in."""
    monkeypatch.setenv("ERCOT_KEY", "k-123")
    async with MarketServer() as srv:
        srv.ercot = api = ErcotApi(ERCOT_REAL_ROWS, lambda: NOW)
        api.tokens["operator-token"] = NOW + 60
        monkeypatch.setenv("MY_TOKEN", "operator-token")
        feed = feed_for(srv, lambda: NOW, token_env="MY_TOKEN")
        assert await feed.poll_once() and feed.value == 9.01
        api.tokens.clear()
        assert not await feed.poll_once()
        assert "HTTP 401" in feed.last_error
        assert api.sign_ins == []
        await feed.source.client.aclose()


def test_publication_cadence():
    cfg = ErcotPriceFeed(source="ercot", settlement_point="HB_WEST")
    src = ErcotSpp(cfg, None, lambda: NOW)
    published = datetime(2024, 5, 1, 19, 0, tzinfo=UTC).timestamp()
    # 5 min after the 14:00 price, the next one is due 15 min after it plus the 2-min
    # publication delay; once overdue, retry every poll_s
    assert src.next_poll_in_s(published, published + 300) == 900 + 120 - 300
    assert src.next_poll_in_s(published, published + 1500) == cfg.poll_s


def test_ercot_answers_that_are_not_a_price_are_refused():
    with pytest.raises(FeedError, match="no row for settlement point HB_WEST"):
        latest_spp(ercot_answer([["2024-05-01", 1, 1, "HB_NORTH", "HU", 20.0, False]]), "HB_WEST")
    with pytest.raises(FeedError, match="not a number"):
        latest_spp(ercot_answer([["2024-05-01", 1, 1, "HB_WEST", "HU", None, False]]), "HB_WEST")
    with pytest.raises(FeedError, match="fields/data"):
        latest_spp({"message": "Too many requests"}, "HB_WEST")
    with pytest.raises(FeedError, match="does not match"):
        latest_spp(ercot_answer([["2024-05-01", 1, 1, "HB_WEST", 20.0]]), "HB_WEST")
    with pytest.raises(FeedError, match="DSTFlag is 'maybe'"):
        latest_spp(ercot_answer([["2024-05-01", 1, 1, "HB_WEST", "HU", 20.0, "maybe"]]), "HB_WEST")
    p1, p2 = ercot_answer(ERCOT_REAL_ROWS[:2]), ercot_answer(ERCOT_REAL_ROWS[2:])
    p2["fields"] = p2["fields"][::-1]
    with pytest.raises(FeedError, match="pages disagree"):
        latest_spp([p1, p2], "HB_HUBAVG")


def test_dst_flag_text_forms():
    # "N" is not true (bool("N") would be); the report files' Y/N and text booleans are read
    assert [dst_flag(v) for v in (False, True, "N", "Y", "false", "true")] == [
        False,
        True,
        False,
        True,
        False,
        True,
    ]
    # the repeated hour of 2024-11-03 given as "Y" ends an hour later than the first
    rows = [
        ["2024-11-03", 2, 1, "HB_WEST", "HU", 30.0, "N"],
        ["2024-11-03", 2, 1, "HB_WEST", "HU", 31.0, "Y"],
    ]
    assert latest_spp(ercot_answer(rows), "HB_WEST") == (
        31.0,
        datetime(2024, 11, 3, 7, 15, tzinfo=UTC).timestamp(),
    )


async def test_ercot_credentials_from_files_beside_the_site_config(monkeypatch, tmp_path):
    """``password_file`` and ``subscription_key_file`` resolve against the site config's folder
    and are read at each use (a rotated key is picked up without a restart)."""
    monkeypatch.setenv("ERCOT_API_USERNAME", "ops@example.com")
    monkeypatch.delenv("ERCOT_API_PASSWORD", raising=False)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "ercot.pw").write_text("pw\n")
    (tmp_path / "secrets" / "ercot.key").write_text("k-123\n")
    async with MarketServer() as srv:
        srv.ercot = api = ErcotApi(ERCOT_REAL_ROWS, lambda: NOW)
        market = {
            "price_feed": {
                "source": "ercot",
                "settlement_point": "HB_HUBAVG",
                "url": srv.url + "/ercot/spp",
                "token_url": srv.url + "/ercot/token",
                "password_file": "secrets/ercot.pw",
                "subscription_key_file": "secrets/ercot.key",
            }
        }
        site = parse_site_config({"scenario": "x", "market": market}, "site.yaml", base_dir=str(tmp_path))
        feeds = build_feeds(site.market, lambda: NOW, site.base_dir)
        assert await feeds.price.poll_once(), feeds.price.last_error
        assert feeds.price.value == 9.01 and api.sign_ins[0]["password"] == "pw"
        api.key = "k-456"  # the key is rotated at ERCOT and in the file
        (tmp_path / "secrets" / "ercot.key").write_text("k-456\n")
        assert await feeds.price.poll_once(), feeds.price.last_error
        (tmp_path / "secrets" / "ercot.key").unlink()
        assert not await feeds.price.poll_once()
        assert "ERCOT subscription key file" in feeds.price.last_error
        assert str(tmp_path / "secrets" / "ercot.key") in feeds.price.last_error
        await feeds.close()


async def test_ercot_user_name_from_the_site_config(monkeypatch):
    """``username`` in the site config signs in without ``ERCOT_API_USERNAME``; with neither the
    poll fails naming the field and the variable; the password stays in the environment."""
    monkeypatch.delenv("ERCOT_API_USERNAME", raising=False)
    monkeypatch.setenv("ERCOT_API_PASSWORD", "pw")
    monkeypatch.setenv("ERCOT_KEY", "k-123")
    async with MarketServer() as srv:
        srv.ercot = api = ErcotApi(ERCOT_REAL_ROWS, lambda: NOW)
        feed = feed_for(srv, lambda: NOW, username="ops@example.com")
        assert await feed.poll_once(), feed.last_error
        assert feed.value == 9.01 and api.sign_ins[0]["username"] == "ops@example.com"
        await feed.source.client.aclose()
        feed = feed_for(srv, lambda: NOW)
        assert not await feed.poll_once()
        assert feed.last_error.endswith(
            "ERCOT API user name: market.price_feed.username is not set in the site config and "
            "environment variable ERCOT_API_USERNAME (username_env) is unset"
        )
        assert len(api.sign_ins) == 1  # nothing was sent without a user name
        await feed.source.client.aclose()


@pytest.mark.parametrize(
    ("key", "instead"),
    [("password", "password_env"), ("subscription_key", "subscription_key_env"), ("token", "token_env")],
)
def test_ercot_secrets_in_the_site_config_are_refused(key, instead):
    from ballast.live.site_config import SiteConfigError

    feed = {"source": "ercot", "settlement_point": "HB_WEST", "username": "ops@example.com", key: "s3cret"}
    with pytest.raises(SiteConfigError) as e:
        parse_site_config({"scenario": "x", "market": {"price_feed": feed}}, "site.yaml")
    msg = str(e.value)
    assert f"{key}: secrets are never written in the site config; give {instead}" in msg
    assert "s3cret" not in msg
    bad_name = {"source": "ercot", "settlement_point": "HB_WEST", "username": "ops @example.com"}
    with pytest.raises(SiteConfigError, match=r"market\.price_feed\.ercot\.username"):
        parse_site_config({"scenario": "x", "market": {"price_feed": bad_name}}, "site.yaml")


def test_rows_of_a_real_answer_parse():
    """Rows recorded from a real NP6-905-CD answer (gridstatus/gridstatus
    ``docs/Examples/ercot_api/ERCOT API Examples.ipynb``): columns in the answer's order, the
    point named by ``settlementPoint``. Hour ending 13, interval 4 on 2024-01-18 (CST, UTC-6)
    ends at 13:00 CST = 19:00 UTC."""
    assert [f["name"] for f in ERCOT_FIELDS] == [
        "deliveryDate",
        "deliveryHour",
        "deliveryInterval",
        "settlementPoint",
        "settlementPointType",
        "settlementPointPrice",
        "DSTFlag",
    ]
    assert latest_spp(ercot_answer(ERCOT_RECORDED_ROWS), "ZIER_SLR_ALL") == (
        11.08,
        datetime(2024, 1, 18, 19, 0, tzinfo=UTC).timestamp(),
    )
    # hour ending 11, interval 1: 10:00-10:15 CST, ends 16:15 UTC
    assert latest_spp(ercot_answer(ERCOT_RECORDED_ROWS), "STELLA_RN") == (
        13.56,
        datetime(2024, 1, 18, 16, 15, tzinfo=UTC).timestamp(),
    )
    # the CSV files' column names are not the API's: refused, naming what is missing
    csv_shaped = ercot_answer(ERCOT_RECORDED_ROWS)
    csv_shaped["fields"] = [{**f, "name": f["name"][0].upper() + f["name"][1:]} for f in csv_shaped["fields"]]
    csv_shaped["fields"][3]["name"] = "SettlementPointName"
    with pytest.raises(FeedError, match=r"lacks column\(s\) \['deliveryDate'"):
        latest_spp(csv_shaped, "ZIER_SLR_ALL")


def test_check_credentials_with_an_operator_token_needs_only_the_key(monkeypatch, tmp_path):
    """``token_env``: no sign-in, so no user name or password is needed; the key still is."""
    for var in ("ERCOT_API_USERNAME", "ERCOT_API_PASSWORD", "ERCOT_SUBSCRIPTION_KEY"):
        monkeypatch.delenv(var, raising=False)
    cfg = ErcotPriceFeed(source="ercot", settlement_point="HB_WEST", token_env="MY_TOKEN")
    with pytest.raises(FeedError, match="ERCOT_SUBSCRIPTION_KEY"):
        ercot.check_credentials(cfg, str(tmp_path))
    monkeypatch.setenv("ERCOT_SUBSCRIPTION_KEY", "k")
    ercot.check_credentials(cfg, str(tmp_path))
