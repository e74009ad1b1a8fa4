"""The dashboard in a real headless Chromium against a real emulated campus on loopback.

Nothing is mocked: the browser loads the page from the site API (uvicorn), logs in with a
bearer token, follows the server-sent-events tick stream, and acts through the API; the runtime
commands emulated LuxOS miners over TCP and reads an emulated Modbus meter. Waits poll the page
with a deadline (Playwright's ``wait_for_function``); no test asserts on wall-clock time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import yaml
from dashboard_helpers import CAMPUS, OPERATOR_TOKEN, VIEWER_TOKEN, SiteThread

from ballast.control import ControllerConfig
from ballast.report.html import power_figure, price_figure
from ballast.scenario import load_scenario
from ballast.sim import Results, simulate

POWER_TRACE_LAST = """(name) => {
  const gd = document.getElementById('power-chart');
  const t = gd && gd.data ? gd.data.find((d) => d.name === name) : null;
  return t && t.y.length ? t.y[t.y.length - 1] : null;
}"""


def login(page: Any, site: SiteThread, token: str) -> None:
    page.goto(site.url + "/")  # / redirects to /dashboard/
    page.fill("#token", token)
    page.click("#login-button")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_function("() => window.ballastDashboard.points.length >= 3 && "
                           "window.ballastDashboard.last !== null")  # a streamed tick rendered


def tile(page: Any, tile_id: str) -> float:
    return float(page.locator(f"#{tile_id} [data-v]").inner_text())


def wait_js(page: Any, expr: str, arg: Any = None, what: str = "") -> None:
    """Poll a JavaScript predicate in the page until true (15 s deadline, then fail)."""
    try:
        page.wait_for_function(expr, arg=arg)
    except Exception as e:  # Playwright's TimeoutError: say what we waited for
        raise AssertionError(f"timed out waiting for {what or expr}") from e


def wait_miners_steady(page: Any) -> None:
    """Wait until the miners tile shows one value for three ticks in a row: no sleep or wake
    ramp in progress (a fresh campus may still be waking miners when the page opens)."""
    page.evaluate("() => { window.__steady = []; }")
    wait_js(page, """() => {
        const t = Number(document.getElementById('tick-no').textContent);
        const m = document.querySelector('#tile-miners [data-v]').textContent;
        const h = window.__steady;
        if (!h.length || h[h.length - 1][0] !== t) h.push([t, m]);
        return h.length >= 3 && h.slice(-3).every(([, v]) => v === h[h.length - 1][1]);
    }""", what="miners steady for three ticks")


@pytest.fixture(scope="module")
def campus_results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """The backtest of the dashboard's campus, run before any campus starts. On a cold numba
    cache (a clean clone) the backtest kernels compile here, and compiling holds the GIL: done
    while a campus ran in this process's thread, it stalled the campus for seconds (its store
    fell behind and the page got a 503)."""
    path = tmp_path_factory.mktemp("report") / "campus.yaml"
    path.write_text(yaml.safe_dump(CAMPUS))
    return Results.from_simulation(simulate(load_scenario(path)))


def test_page_loads_and_live_values_change(campus_results: Results, campus: SiteThread,
                                           page: Any) -> None:
    for _ in range(400):  # let the campus run a few seconds before the page opens
        if campus.runtime.tick_no >= 15:
            break
        campus.call(asyncio.sleep(0.05))
    login(page, campus, OPERATOR_TOKEN)
    # the page opened late starts with the ticks the server kept, not an empty chart
    assert page.evaluate("() => window.ballastDashboard.points[0].tick") <= 3
    assert page.evaluate("() => window.ballastDashboard.points.length") >= 12
    assert page.locator("#site-name").inner_text() == "Dashboard test campus"
    assert page.locator("#who-role").inner_text() == "operator"
    # one visual language: the backtest report's power chart of this very campus has the same
    # traces in the same order, names and colours, and the same red dashed limit
    results = campus_results  # the same campus document (dashboard_helpers.CAMPUS)
    report = power_figure(results)
    expected = [(t.name, t.fillcolor or t.line.color, t.stackgroup) for t in report.data]
    shown = page.evaluate("""() => document.getElementById('power-chart').data.map(
        (t) => [t.name, t.fillcolor || t.line.color, t.stackgroup || null])""")
    assert [tuple(t) for t in shown] == expected
    assert expected[1][0] == "Miners s21"  # merit order: the most efficient group first
    limit = report.layout.shapes[0].line
    assert page.evaluate("() => document.getElementById('power-chart').layout.shapes[0].line") \
        == {"color": limit.color, "dash": limit.dash, "width": 2}
    # price against breakeven: the report's breakeven lines, same names, colours and values
    report_be = [(t.name, t.line.color) for t in price_figure(results).data
                 if t.name.startswith("breakeven")]
    shown_be = page.evaluate("""() => document.getElementById('price-chart').data.map(
        (t) => [t.name, t.line.color, t.y[t.y.length - 1]])""")
    assert shown_be[0][0] == "Power price"
    assert [(n, c) for n, c, _ in shown_be[1:]] == report_be
    groups = ControllerConfig.from_scenario(campus.scenario).groups
    for name, _, value in shown_be[1:]:  # hashprice 50 USD/PH/day x USD/MWh per USD/PH/day
        k = groups.breakeven_per_hashprice[groups.names.index(name.split()[-1])]
        assert value == pytest.approx(50.0 * k)

    # the tick counter moves with the stream
    tick0 = int(page.locator("#tick-no").inner_text())
    wait_js(page, "(t) => Number(document.getElementById('tick-no').textContent) > t + 2", tick0,
            "three more ticks")
    # live values follow the site: AI 100 MW IT x PUE 1.2 = 120 MW; a job crash halves it
    wait_js(page, "() => document.querySelector('#tile-ai [data-v]').textContent === '120.0'",
            what="AI load 120.0 MW")
    assert "CST site" in page.locator("#tick-local").inner_text()  # America/Chicago in November
    wait_miners_steady(page)
    import_before, miners_before = tile(page, "tile-import"), tile(page, "tile-miners")
    campus.set_ai_share(0.5)
    wait_js(page, "() => document.querySelector('#tile-ai [data-v]').textContent === '60.0'",
            what="AI load 60.0 MW after the crash")
    wait_js(page, f"() => ({POWER_TRACE_LAST})('AI / HPC load') === 60", what="chart AI at 60 MW")
    wait_miners_steady(page)
    assert tile(page, "tile-miners") == pytest.approx(miners_before, abs=0.5)  # economics: same
    assert tile(page, "tile-import") == pytest.approx(import_before - 60.0, abs=0.5)
    assert page.locator("#rule-name").get_attribute("data-rule") == "economics"

    # works offline: every request went to the site itself (no CDN), plotly.js included
    assert all(u.startswith(campus.url + "/") for u in page.requested), page.requested
    assert campus.url + "/dashboard/vendor/plotly.min.js" in page.requested


def test_operator_curtails_a_group_and_the_chart_shows_the_miners_falling(
        campus: SiteThread, page: Any) -> None:
    login(page, campus, OPERATOR_TOKEN)
    row = page.locator('tr[data-group="s21"]')
    wait_js(page, "() => document.querySelector('tr[data-group=\"s21\"] [data-f=running]')"
            ".textContent === '4'", what="4 S21 devices running")
    s21_before = page.evaluate(POWER_TRACE_LAST, "Miners s21")
    metered_before = tile(page, "tile-miners")
    assert s21_before > 50  # 20,000 S21 at ~3.5 kW x PUE 1.05

    row.locator("button.curtail").click()
    wait_js(page, "() => document.querySelector('tr[data-group=\"s21\"]').dataset.mode === "
            "'curtailed'", what="s21 mode curtailed")
    wait_js(page, f"() => ({POWER_TRACE_LAST})('Miners s21') < 1", what="s21 area down to sleep power")
    # the metered miners feeder falls too (the emulated miners really ramp down)
    wait_js(page, "(b) => Number(document.querySelector('#tile-miners [data-v]').textContent) "
            "< b - 0.8 * 73.5", metered_before, what="metered miner power falling by ~73 MW")
    assert row.locator("[data-f=asleep]").inner_text() == "4"
    assert row.locator("button.curtail").is_hidden()

    async def s21_truly_asleep() -> list[bool]:
        return campus.emulated.true_asleep("s21")

    assert all(campus.call(s21_truly_asleep()))
    # the table shows the group power the server computed (tick document), not its own sum:
    # 4 devices asleep, each 5,000 S21 at sleep power
    served = next(g for g in campus.runtime.last_tick["groups"] if g["name"] == "s21")
    wait_js(page, "(v) => document.querySelector('tr[data-group=\"s21\"] [data-f=mw]')"
            ".textContent === v", f"{served['power_mw']:.1f}", what="s21 MW from the server")
    # the operator's action is on the timeline, under their name
    wait_js(page, "() => [...document.querySelectorAll('#timeline li.audit')].some((li) => "
            "li.textContent.includes('group.curtail') && li.textContent.includes('olga'))",
            what="curtail in the timeline")

    # ... and marked on the power chart where it happened
    wait_js(page, "() => document.getElementById('power-chart').layout.annotations"
            ".some((a) => a.text === 'group.curtail s21')", what="curtail marker on the chart")

    row.locator("button.resume").click()
    wait_js(page, "() => document.querySelector('tr[data-group=\"s21\"]').dataset.mode === 'auto'",
            what="s21 back to auto")
    wait_js(page, f"(b) => ({POWER_TRACE_LAST})('Miners s21') > 0.9 * b", s21_before,
            what="s21 area back up")


def test_viewer_sees_no_controls_and_the_api_refuses_a_viewers_action(
        campus: SiteThread, page: Any) -> None:
    login(page, campus, VIEWER_TOKEN)
    assert page.locator("#who-role").inner_text() == "viewer"
    assert page.locator("tr[data-group]").count() == 2  # the viewer sees the groups ...
    assert page.locator("button.curtail, button.resume").count() == 0  # ... but no controls
    assert page.locator("#dr-form").is_hidden()
    assert page.locator("#policy-save").is_hidden()
    assert page.locator("#pol-price").is_disabled()

    page.expected_statuses = {403}
    statuses = page.evaluate("""async (tok) => {
      const h = {Authorization: 'Bearer ' + tok, 'Content-Type': 'application/json'};
      const a = await fetch('/api/v1/groups/s21/curtail', {method: 'POST', headers: h});
      const b = await fetch('/api/v1/policy', {method: 'PUT', headers: h,
                                                body: JSON.stringify({price_usd_per_mwh: 999})});
      return [a.status, b.status];
    }""", VIEWER_TOKEN)
    assert statuses == [403, 403]
    assert campus.runtime.modes["s21"] == "auto"
    assert campus.runtime.policy.price_usd_per_mwh == 25.0
    audit = httpx.get(f"{campus.url}/api/v1/audit",
                      headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).json()
    assert [a["result"] for a in audit[-2:]] == ["denied: viewer role"] * 2
    wait_js(page, "() => [...document.querySelectorAll('#timeline li.audit')].some((li) => "
            "li.textContent.includes('denied'))", what="refusal in the timeline")


def test_unknown_or_revoked_token_returns_to_sign_in(campus: SiteThread, page: Any) -> None:
    page.expected_statuses = {401}
    page.goto(campus.url + "/dashboard/")
    page.fill("#token", "not-a-token-of-this-site")
    page.click("#login-button")
    wait_js(page, "() => document.getElementById('login-error').textContent === 'Unknown token.'",
            what="login error")
    assert page.locator("#app").is_hidden()

    # signed in, then the site stops accepting the token (e.g. restarted with new ones): the
    # page notices on its next failed request and returns to the sign-in form
    page.fill("#token", OPERATOR_TOKEN)
    page.click("#login-button")
    page.wait_for_selector("#app:not([hidden])")
    page.evaluate("() => { window.ballastDashboard.token = 'revoked-token-xyz'; "
                  "window.ballastDashboard.tokenCheckedAt = 0; return checkToken(); }")
    wait_js(page, "() => document.getElementById('login-error').textContent.includes("
            "'no longer accepts')", what="sign-in form after a refused token")
    assert page.locator("#app").is_hidden()
    assert page.evaluate("() => sessionStorage.getItem('ballast.token')") is None


def test_stream_uses_single_use_tickets_and_reconnects_with_a_new_one(
        campus: SiteThread, page: Any) -> None:
    """The token never appears in a URL: the page POSTs for a stream ticket (bearer header)
    and opens the EventSource with it; when the stream drops, it takes a new ticket."""
    login(page, campus, VIEWER_TOKEN)
    streams = [u for u in page.requested if "/api/v1/stream?" in u]
    assert len(streams) == 1 and "ticket=" in streams[0]
    assert not any(VIEWER_TOKEN in u for u in page.requested), page.requested
    first = streams[0]

    async def drop_streams() -> None:  # the server ends every open stream (as at a restart)
        for q in list(campus.runtime.subscribers):
            q.put_nowait(None)

    campus.call(drop_streams())
    gen = page.evaluate("() => window.ballastDashboard.streamGen")
    wait_js(page, f"() => window.ballastDashboard.streamGen > {gen} && "
            "window.ballastDashboard.es !== null", what="a second stream")
    tick = page.evaluate("() => window.ballastDashboard.last.tick")
    wait_js(page, f"() => window.ballastDashboard.last.tick > {tick}", what="ticks again")
    streams = [u for u in page.requested if "/api/v1/stream?" in u]
    assert len(streams) >= 2 and streams[-1] != first  # a fresh ticket, not the used one
    assert not any(VIEWER_TOKEN in u for u in page.requested)
    # the used ticket is refused
    r = httpx.get(first, timeout=5)
    assert r.status_code == 401


def test_operator_changes_the_policy(campus: SiteThread, page: Any) -> None:
    login(page, campus, OPERATOR_TOKEN)
    wait_js(page, "() => document.getElementById('pol-price').value === '25'", what="policy loaded")
    page.fill("#pol-price", "400")
    page.fill("#pol-hashprice", "")  # an emptied field is left as it is, not set to 0
    page.click("#policy-save")
    wait_js(page, "() => document.querySelector('#tile-price [data-v]').textContent === '400.00'",
            what="price tile at 400")
    wait_js(page, """() => { const d = document.getElementById('price-chart').data[0];
                             return d.y[d.y.length - 1] === 400; }""", what="price line at 400")
    assert campus.runtime.policy.price_usd_per_mwh == 400.0
    assert campus.runtime.policy.hashprice_usd_per_ph_day == 50.0
    wait_js(page, "() => document.getElementById('pol-hashprice').value === '50'",
            what="form reloaded from the API")

    # out of range: the API refuses (422), the page says so, nothing changes
    page.expected_statuses = {422}
    page.fill("#pol-price", "99999")
    page.click("#policy-save")
    wait_js(page, "() => document.getElementById('toast').textContent.includes('refused (422')",
            what="refusal toast")
    assert campus.runtime.policy.price_usd_per_mwh == 400.0


def js_row(group: str, field: str) -> str:
    return f"document.querySelector('tr[data-group=\"{group}\"] [data-f={field}]')"


def test_operator_runs_a_demand_response_event_from_the_page(campus: SiteThread,
                                                             page: Any) -> None:
    login(page, campus, OPERATOR_TOKEN)
    assert page.locator("#programs li.none").is_visible()
    page.fill("#dr-mw", "40")
    page.fill("#dr-min", "30")
    page.click("#dr-form button[type=submit]")
    wait_js(page, "() => document.querySelector('#programs li.dr') !== null", what="DR listed")
    dr_text = page.locator("#programs li.dr").inner_text()
    assert "reduce 40.0 MW" in dr_text
    # the cap binds the miners: the "why" panel names the obligation, import falls ~40 MW
    wait_js(page, "() => document.getElementById('rule-name').dataset.rule === 'obligation_cap'",
            what="obligation cap binding")
    wait_js(page, "() => [...document.querySelectorAll('#timeline li')].some((li) => "
            "li.textContent.includes('dr start'))", what="dr start in the timeline")
    page.click("#programs button.cancel-dr")
    wait_js(page, "() => document.querySelector('#programs li.none') !== null",
            what="no active programs after cancel")
    wait_js(page, "() => document.getElementById('rule-name').dataset.rule === 'economics'",
            what="economics binding again")


def test_relay_trip_faults_and_watchdog_are_shown(campus: SiteThread, page: Any) -> None:
    login(page, campus, OPERATOR_TOKEN)
    # an unreachable S19 XP (connection refused) and an S21 that acknowledges but ignores
    campus.inject("s19xp", campus.group_ips("s19xp")[0], refuse=True)
    campus.inject("s21", campus.group_ips("s21")[0], ignore_commands=True)
    wait_js(page, f"() => {js_row('s19xp', 'unreachable')}.textContent === '1'",
            what="one unreachable s19xp")
    assert "bad" in (page.locator('tr[data-group="s19xp"] [data-f=unreachable]')
                     .get_attribute("class") or "")
    page.locator('tr[data-group="s21"] button.curtail').click()
    wait_js(page, f"() => {js_row('s21', 'non_compliant')}.textContent === '1'",
            what="one non-compliant s21 after the curtail")
    wait_js(page, f"() => {js_row('s21', 'asleep')}.textContent === '3'", what="three s21 asleep")
    ignoring = campus.group_ips("s21")[0]
    wait_js(page, "(ip) => [...document.querySelectorAll('#timeline li.warn')].some((li) => "
            "li.textContent.includes('sleep failed') && li.textContent.includes(ip + ' ignored'))",
            ignoring, what="the ignored sleep command in the timeline")

    # a loss of generation: frequency below 59.70 Hz trips the relay group (s19xp)
    campus.meter("step_loss_of_generation", nadir_hz=59.5, fall_s=0.5, hold_s=600.0)
    wait_js(page, "() => document.querySelector('#programs li.ufr') !== null",
            what="relay trip listed")
    wait_js(page, "() => document.querySelector('tr[data-group=\"s19xp\"]').dataset.mode === "
            "'ufr_tripped'", what="s19xp tripped")
    wait_js(page, "() => [...document.querySelectorAll('#timeline li.warn')].some((li) => "
            "li.textContent.includes('ufr trip'))", what="trip in the timeline")
    campus.meter("clear_frequency_event")
    page.click("#programs button.reset-ufr")
    wait_js(page, "() => document.querySelector('#programs li.ufr') === null", what="relay reset")
    wait_js(page, "() => document.querySelector('tr[data-group=\"s19xp\"]').dataset.mode === "
            "'auto'", what="s19xp back to auto")

    # the meter goes silent: the watchdog puts the site in the safe state, the page says so
    campus.meter("stop")
    wait_js(page, "() => !document.getElementById('safe-banner').hidden", what="safe-state banner")
    assert "no accepted meter reading" in page.locator("#safe-reason").inner_text()  # why
    assert page.locator("#rule-name").get_attribute("data-rule") == "watchdog"
    assert page.locator("#programs li.watchdog").is_visible()


def test_price_chart_follows_a_replayed_market(tmp_path: Any, page: Any) -> None:
    # ERCOT 2024-05-01 replayed at 2 h per wall second: a 15-min price every 0.125 s
    market = {"replay": {"start": "2024-05-01T00:00:00Z", "speed": 7200}}
    with SiteThread(tmp_path, market=market) as campus:
        login(page, campus, VIEWER_TOKEN)
        wait_js(page, "() => document.getElementById('replay').textContent"
                ".startsWith('· replay of 2024-05-01')", what="replay time shown")
        wait_js(page, """() => { const y = document.getElementById('price-chart').data[0].y;
                                 return new Set(y).size >= 5; }""", what="five distinct prices")
        shown = page.evaluate("() => document.getElementById('price-chart').data[0].y")
        replay = campus.runtime.replay
        lo = float(replay.price_usd_per_mwh.min())
        hi = float(replay.price_usd_per_mwh.max())
        assert all(lo <= p <= hi for p in shown)  # the day's real prices, nothing invented
