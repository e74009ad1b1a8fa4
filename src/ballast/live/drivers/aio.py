"""Run a coroutine on uvloop when it is installed (2-3x cheaper TCP connections), else asyncio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory(prefer_uvloop: bool = True) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory if wanted and importable, else None (the default asyncio loop)."""
    if not prefer_uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(coro: Coroutine[Any, Any, T], *, prefer_uvloop: bool = True) -> T:
    """``asyncio.run`` with an optional uvloop loop."""
    with asyncio.Runner(loop_factory=loop_factory(prefer_uvloop)) as runner:
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
