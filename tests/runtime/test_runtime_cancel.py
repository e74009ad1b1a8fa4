"""Runtime shutdown survives a poller that swallows its cancellation.

``asyncio.wait_for`` on Python < 3.12 can lose a cancel that arrives just as its inner call
completes (CPython gh-86296); the runtime's pollers use it, and before ``cancel_and_wait`` such a
poller kept the shutdown (and the miners' shutdown action) waiting until the serve deadline.
"""

from __future__ import annotations

import asyncio

from ballast.live.runtime import cancel_and_wait


async def _swallows_first_cancel(log: list[str]) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        log.append("swallowed")  # as wait_for does in the race
    while True:  # ... and the poller loops on
        await asyncio.sleep(3600)


async def _polite() -> None:
    await asyncio.sleep(3600)


async def _failed() -> None:
    raise RuntimeError("poller crashed earlier")


async def test_cancel_and_wait_recancels_a_task_that_swallowed_the_cancel() -> None:
    log: list[str] = []
    tasks = [asyncio.create_task(_swallows_first_cancel(log)), asyncio.create_task(_polite()),
             asyncio.create_task(_failed())]
    await asyncio.sleep(0)  # let them start
    # a deadline, not a timing assertion: without the re-cancel this would never return
    await asyncio.wait_for(cancel_and_wait(tasks, retry_s=0.01), 10.0)
    assert log == ["swallowed"]
    assert all(t.done() for t in tasks)
    assert tasks[0].cancelled() and tasks[1].cancelled()
    assert isinstance(tasks[2].exception(), RuntimeError)


async def test_cancel_and_wait_with_nothing_to_do() -> None:
    await asyncio.wait_for(cancel_and_wait([]), 1.0)
