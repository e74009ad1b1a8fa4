"""Run a coroutine on uvloop when it is installed (2-3x cheaper TCP connections), else asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def choose_loop(prefer_uvloop: bool = True) -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """(loop factory, why): uvloop's when wanted and importable, else None (asyncio's default
    loop) and the reason, for the log."""
    if not prefer_uvloop:
        return None, "asyncio's default event loop (--no-uvloop)"
    try:
        import uvloop
    except ImportError as e:
        return None, (
            f"uvloop is not installed ({e}): asyncio's default event loop, slower fan-out; "
            "install the serve extra (pip install 'ballast[serve]') for uvloop"
        )
    return uvloop.new_event_loop, f"uvloop {uvloop.__version__}"


def loop_factory(prefer_uvloop: bool = True) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory if wanted and importable, else None (the default asyncio loop)."""
    return choose_loop(prefer_uvloop)[0]


def run(coro: Coroutine[Any, Any, T], *, prefer_uvloop: bool = True) -> T:
    """``asyncio.run`` on uvloop when wanted and installed, else asyncio's loop; which one is
    logged (INFO), a wanted but missing uvloop as a WARNING."""
    factory, why = choose_loop(prefer_uvloop)
    if factory is None and prefer_uvloop:
        log.warning("event loop: %s", why)
    else:
        log.info("event loop: %s", why)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


async def cancel_and_wait(tasks: list[asyncio.Task], retry_s: float = 0.2) -> None:
    """Cancel ``tasks`` and wait until all are done, cancelling again any that swallowed the
    cancellation: ``asyncio.wait_for`` on Python < 3.12 loses a cancel that arrives as its inner
    call completes (CPython gh-86296), and such a poller would otherwise run on forever and
    block the shutdown (and the miners' shutdown action) behind it."""
    for task in tasks:
        task.cancel()
    pending = {t for t in tasks if not t.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=retry_s)
        for task in pending:
            task.cancel()
    for task in tasks:  # retrieve outcomes so none is reported as never retrieved
        if not task.cancelled():
            with contextlib.suppress(Exception):
                task.exception()
