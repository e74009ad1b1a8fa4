"""The dashboard's HTTP routes on a real campus (uvicorn on loopback), through httpx."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from importlib import resources

import httpx
import pytest
from dashboard_helpers import OPERATOR_TOKEN, VIEWER_TOKEN, SiteThread

from ballast.control.rules import RULE_NAMES
from ballast.live.dashboard.router import RULE_EXPLANATIONS, plotly_js
from ballast.report.style import style_table


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteThread]:
    with SiteThread(tmp_path_factory.mktemp("routes")) as s:
        yield s


@pytest.fixture(scope="module")
def client(site: SiteThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize(("headers", "params", "status", "role"), [
    ({}, {}, 401, None),
    ({"Authorization": "Bearer wrong-token-xyz"}, {}, 401, None),
    ({"Authorization": f"Bearer {VIEWER_TOKEN}"}, {}, 200, "viewer"),
    ({"Authorization": f"Bearer {OPERATOR_TOKEN}"}, {}, 200, "operator"),
    ({}, {"access_token": VIEWER_TOKEN}, 401, None),  # never a token in a URL
])
def test_meta_needs_a_token_and_tells_the_role(client: httpx.Client, headers: dict, params: dict,
                                               status: int, role: str | None) -> None:
    r = client.get("/dashboard/api/meta", headers=headers, params=params)
    assert r.status_code == status
    if role:
        assert r.json()["principal"]["role"] == role
    else:
        assert r.headers["www-authenticate"] == "Bearer"


def test_meta_lists_groups_in_merit_order_with_the_report_colours(client: httpx.Client,
                                                                   site: SiteThread) -> None:
    meta = client.get("/dashboard/api/meta", headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}
                      ).json()
    groups = meta["groups"]
    assert [g["name"] for g in groups] == ["s21", "s19xp"]  # 17.5 J/TH before 21.5 J/TH
    assert [g["colour"] for g in groups] == style_table()["miners"][:2]
    assert groups[0]["efficiency_j_per_th"] < groups[1]["efficiency_j_per_th"]
    s21 = groups[0]
    # 4 devices for 20,000 miners: each device is 5,000 S21 [MW per device]
    assert s21["miners_per_device"] == 5000
    # no per-device powers: the page shows the group power the tick document carries
    assert not {"unit_run_mw", "unit_sleep_mw"} & set(s21)
    assert meta["site"] == {"name": "Dashboard test campus", "timezone": "America/Chicago",
                            "import_limit_mw": 300.0,
                            "export_limit_mw": 0.0, "ai_full_mw": 120.0, "tick_s": 0.2}
    assert meta["style"] == style_table()


def test_recent_ticks_are_slim_stream_documents_oldest_first(client: httpx.Client,
                                                              site: SiteThread) -> None:
    auth = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    docs: list[dict] = []
    for _ in range(200):  # poll (no clock assertion) until the runtime has ticked a few times
        docs = client.get("/dashboard/api/recent", headers=auth).json()
        if len(docs) >= 4:
            break
        site.call(asyncio.sleep(0.05))
    assert len(docs) >= 4
    ticks = [d["tick"] for d in docs]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # every tick, oldest first
    assert ticks[0] <= 3  # kept since the API started (right after the runtime's first tick)
    last3 = client.get("/dashboard/api/recent", headers=auth, params={"limit": 3}).json()
    assert len(last3) == 3 and last3[0]["tick"] >= ticks[-3]
    doc = last3[-1]
    assert set(doc) == {"tick", "time", "binding_rule", "safe_mode", "power_mw", "market",
                        "frequency_hz"} | {"groups"}
    assert set(doc["groups"][0]) == {"name", "running", "asleep", "non_compliant",
                                     "unreachable", "mode"}
    assert doc["power_mw"]["import_limit"] == 300.0
    assert client.get("/dashboard/api/recent").status_code == 401
    assert client.get("/dashboard/api/recent", headers=auth,
                      params={"limit": 0}).status_code == 422


def test_every_binding_rule_has_an_explanation() -> None:
    assert set(RULE_EXPLANATIONS) == {*RULE_NAMES, "watchdog"}


def test_style_is_the_report_table(client: httpx.Client) -> None:
    assert client.get("/dashboard/api/style").json() == style_table()


def test_page_loads_only_same_origin_assets_under_a_strict_csp(client: httpx.Client) -> None:
    r = client.get("/", follow_redirects=True)
    assert r.status_code == 200 and str(r.url).endswith("/dashboard/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert refs and all(u.startswith("/dashboard/") for u in refs), refs
    assert "<script>" not in r.text  # no inline script (CSP would block it)
    for u in refs:
        assert client.get(u, follow_redirects=True).status_code == 200, u


def test_plotly_js_is_the_bundled_build_not_a_cdn(client: httpx.Client) -> None:
    r = client.get("/dashboard/vendor/plotly.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.content == plotly_js()  # the build inside the installed plotly package
    assert len(r.content) > 1_000_000 and b"Plotly" in r.content[:5000]


def test_static_files_are_package_resources() -> None:
    """Found as package resources; tests/test_wheel.py checks that the built wheel holds them."""
    static = resources.files("ballast.live.dashboard") / "static"
    names = {p.name for p in static.iterdir()}
    assert {"index.html", "dashboard.js", "dashboard.css", "favicon.svg"} <= names
