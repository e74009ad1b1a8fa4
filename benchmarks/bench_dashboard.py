"""Dashboard figures in headless Chromium against `ballast serve --emulate` (JSON lines).

- dashboard_first_chart_s: from navigation (token already in session storage) to the first
  drawn power chart [s];
- dashboard_tick_to_page_ms: median delay from a tick's timestamp at the runtime to its arrival
  in the page over server-sent events [ms] (same machine, same clock);
- dashboard_redraw_ms_900_points: median time of one redraw of both charts with a full
  15-minute window (900 ticks) [ms];
- dashboard_plotly_js_bytes, dashboard_own_assets_bytes: what a browser downloads
  (uncompressed): plotly.js, and the page's own HTML, CSS, JS and icon.
Skips (prints nothing, exit 0) when /usr/bin/chromium or playwright is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "bench-operator-token"


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 3), "unit": unit}), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return 0
    if not Path(CHROMIUM).exists():
        return 0
    store = Path("/tmp") / f"ballast-bench-dashboard-{os.getpid()}.db"
    ballast = shutil.which("ballast", path=str(Path(sys.executable).parent)) or "ballast"
    proc = subprocess.Popen(
        [ballast, "serve", "--emulate", "--port", "0", "--store", str(store), "--tick-s", "0.5",
         "--ip-prefix", "127.78", "--miner-port", str(free_port()), "--meter-port",
         str(free_port()), "--dcgm-port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "BALLAST_OPERATOR_TOKEN": TOKEN, "BALLAST_VIEWER_TOKEN": TOKEN + "-v"})
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            m = re.search(r"API (http://[0-9.:]+)", line)
            if m:
                url = m.group(1)
                # keep draining the server's output so a full pipe never blocks it
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                break
        if url is None:
            raise SystemExit(f"ballast serve exited ({proc.wait()})")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            sizes: dict[str, int] = {}
            page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body()))
                    if r.ok and "/stream" not in r.url else None)
            page.goto(url + "/dashboard/")
            page.evaluate("(t) => sessionStorage.setItem('ballast.token', t)", TOKEN)
            t0 = time.perf_counter()
            page.reload()
            page.wait_for_function("() => { const g = document.getElementById('power-chart');"
                                   " return g && g.data && g.data.length > 0; }", timeout=30_000)
            emit("dashboard_first_chart_s", time.perf_counter() - t0, "s")
            page.wait_for_function("() => window.ballastDashboard.stats.lagMs.length >= 20",
                                   timeout=60_000)
            lag = page.evaluate("() => window.ballastDashboard.stats.lagMs")
            emit("dashboard_tick_to_page_ms", statistics.median(lag), "ms")
            draw = page.evaluate("""() => {
              const S = window.ballastDashboard, last = S.points[S.points.length - 1];
              const t = Date.parse(last.time + 'Z');
              S.points = Array.from({length: 900}, (_, i) => Object.assign({}, last,
                {tick: i, time: new Date(t - (899 - i) * 1000).toISOString().replace('Z', '')}));
              const out = [];
              for (let i = 0; i < 15; i++) {
                const a = performance.now(); drawCharts(); out.push(performance.now() - a);
              }
              return out; }""")
            emit("dashboard_redraw_ms_900_points", statistics.median(draw), "ms")
            emit("dashboard_plotly_js_bytes",
                 sum(v for k, v in sizes.items() if k.endswith("plotly.min.js")), "bytes")
            emit("dashboard_own_assets_bytes", sum(
                v for k, v in sizes.items() if "/dashboard/" in k and "/api/" not in k
                and not k.endswith("plotly.min.js")), "bytes")
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        for p in store.parent.glob(store.name + "*"):
            p.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
