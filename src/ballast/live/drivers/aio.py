"""Run a coroutine on uvloop when it is installed (2-3x cheaper TCP connections), else asyncio."""

from __future__ import annotations

import asyncio
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
