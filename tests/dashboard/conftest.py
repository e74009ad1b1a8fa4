"""Fixtures for the dashboard tests: a real emulated campus and a real headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import CHROMIUM, CHROMIUM_ARGS, SiteThread, chromium_missing


@pytest.fixture
def campus(tmp_path: Path) -> Iterator[SiteThread]:
    """A fresh emulated campus with runtime, API and dashboard on loopback."""
    with SiteThread(tmp_path) as site:
        yield site


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    reason = chromium_missing()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}")
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no shared session storage) and page; fails the test on any
    JavaScript error and records every request's URL (``page.requested``)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.requested = []  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.expected_statuses = set()  # type: ignore[attr-defined]  # e.g. {403} in a refusal test
    pg.site_stopped = False  # type: ignore[attr-defined]  # set by SiteThread when it stops
    SiteThread.pages.append(pg)

    def on_console(m: Any) -> None:
        if m.type != "error":
            return
        # Chromium logs every non-2xx response; a test that provokes one declares it.
        if any(f"status of {s}" in m.text for s in pg.expected_statuses):  # type: ignore[attr-defined]
            return
        if "net::ERR_CONNECTION_REFUSED" in m.text and pg.site_stopped:  # type: ignore[attr-defined]
            # the campus stops at the end of the test's `with SiteThread` block while the page is
            # still open: its live-stream reconnect is refused. That is teardown, not a page bug.
            return
        errors.append(m.text)

    pg.on("console", on_console)
    pg.on("request", lambda r: pg.requested.append(r.url))  # type: ignore[attr-defined]
    yield pg
    SiteThread.pages.remove(pg)
    ctx.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
