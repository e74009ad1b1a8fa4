"""The dashboard shows the live price feed's source, age and stale fallback (``live.market``),
in a real headless Chromium against an emulated campus.

The REP/QSE price endpoint cannot be reached from here: a stdlib HTTP server in a thread answers
in a generic JSON form (``{"price": ..., "time": ...}``, an HTTP JSON feed with a field path)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dashboard_helpers import VIEWER_TOKEN, SiteThread
from test_dashboard_browser import login, wait_js


class PriceFeed(BaseHTTPRequestHandler):
    up = True  # False: answer 503 (the feed is down)

    def do_GET(self) -> None:  # the stdlib handler name
        if not PriceFeed.up:
            self.send_response(503)
            self.end_headers()
            return
        body = json.dumps({"price": 12.5, "time": time.time()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


def test_dashboard_shows_the_feed_and_its_fallback(tmp_path: Any, page: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PriceFeed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    PriceFeed.up = True
    market = {
        "price_usd_per_mwh": 25.0,
        "hashprice_usd_per_ph_day": 50.0,
        "price_feed": {
            "source": "http_json",
            "url": f"http://127.0.0.1:{server.server_address[1]}/price",
            "path": "price",
            "time_path": "time",
            "poll_s": 0.2,
            "max_age_s": 1.0,
        },
        "stale": {"on_stale": "conservative", "conservative_price_usd_per_mwh": 3000},
    }
    try:
        with SiteThread(tmp_path, market=market) as campus:
            login(page, campus, VIEWER_TOKEN)
            wait_js(
                page,
                "() => document.getElementById('replay').textContent"
                ".includes('price: http_json') && !document.getElementById('replay')"
                ".textContent.includes('stale')",
                what="fresh feed shown",
            )
            assert page.locator("#tile-price [data-v]").inner_text().startswith("12.5")
            PriceFeed.up = False
            wait_js(
                page,
                "() => document.getElementById('replay').textContent.includes('(stale: conservative)')",
                what="stale fallback shown",
            )
            wait_js(
                page,
                "() => document.querySelector('#tile-price [data-v]').textContent"
                ".startsWith('3000') || document.querySelector('#tile-price [data-v]')"
                ".textContent.startsWith('3,000')",
                what="conservative price on the tile",
            )
    finally:
        server.shutdown()
        server.server_close()
