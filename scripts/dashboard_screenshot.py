"""Take docs/img/dashboard.png: the real dashboard of `ballast serve --emulate`, live data.

Starts ``ballast serve --emulate`` (the bundled West Texas campus on loopback emulators, exactly
as the README says), opens the page in Debian's headless Chromium (Playwright, no browser
download), signs in as the operator, lets the charts fill, curtails the least efficient group
from the page, posts a demand-response event through the API, and screenshots the page.

    .venv/bin/python scripts/dashboard_screenshot.py [--out docs/img/dashboard.png] [--warmup-s 30]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OPERATOR = "screenshot-operator-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path) -> tuple[subprocess.Popen, str]:
    ballast = shutil.which("ballast", path=str(Path(sys.executable).parent)) or "ballast"
    env = {**os.environ, "BALLAST_OPERATOR_TOKEN": OPERATOR,
           "BALLAST_VIEWER_TOKEN": "screenshot-viewer-token"}
    cmd = [ballast, "serve", "--emulate", "--port", "0", "--store", str(store),
           "--ip-prefix", "127.77", "--miner-port", str(free_port()),
           "--meter-port", str(free_port()), "--dcgm-port", str(free_port())]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line.rstrip())
        m = re.search(r"API (http://[0-9.:]+)", line)
        if m:
            # keep draining the server's output so a full pipe never blocks it
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, m.group(1)
    raise SystemExit(f"ballast serve exited ({proc.wait()}) before it was ready")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard.png")
    ap.add_argument("--warmup-s", type=float, default=30.0, help="live data before acting [s]")
    ap.add_argument("--after-s", type=float, default=25.0, help="live data after acting [s]")
    args = ap.parse_args()
    store = Path("/tmp") / f"ballast-dashboard-shot-{os.getpid()}.db"
    proc, url = start_server(store)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000},
                                    device_scale_factor=1)
            page.goto(url + "/")
            page.fill("#token", OPERATOR)
            page.click("#login-button")
            page.wait_for_selector("#app:not([hidden])")
            time.sleep(args.warmup_s)
            least_efficient = page.evaluate(
                "() => window.ballastDashboard.meta.groups.slice(-1)[0].name")
            page.locator(f'tr[data-group="{least_efficient}"] button.curtail').click()
            time.sleep(args.after_s / 2)
            httpx.post(f"{url}/api/v1/dr-events", headers={"Authorization": f"Bearer {OPERATOR}"},
                       json={"reduction_mw": 30, "duration_s": 1800}).raise_for_status()
            time.sleep(args.after_s / 2)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
        print(f"wrote {args.out}")
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
