"""stream_batches owns the cancelling: a consumer that raises mid-stream leaves no task of the
stream on the client or the scheduler, and nothing for the garbage collector to cancel later
(a cancel on the client's loop from a collected generator was a never-awaited coroutine, which
failed an unrelated test with warnings as errors)."""

from __future__ import annotations

import gc
import time
import uuid
import warnings

import pytest

from ballast.sweep.engine import stream_batches

pytestmark = pytest.mark.timeout(120)


def _nap(group: list[int], seconds: float) -> list[int]:
    time.sleep(seconds)
    return group


def _held(group: list[int], event: str) -> list[int]:
    """Groups 0 and 1 return at once; the others wait for ``event`` (at most 60 s)."""
    if group[0] >= 2:
        from dask.distributed import Event

        Event(event).wait(60)
    return group


def _ours(client, prefix: str) -> tuple[list, list]:
    """Keys of the stream the client still holds, and those the scheduler still knows."""
    held = [k for k in client.futures if str(k).startswith(prefix)]
    known = client.run_on_scheduler(
        lambda dask_scheduler, p=prefix: [str(k) for k in dask_scheduler.tasks if str(k).startswith(p)]
    )
    return held, known


def _settled(client, prefix: str, within_s: float = 30.0) -> tuple[list, list]:
    """The stream's keys once the cancel has reached the scheduler (it is sent, not awaited)."""
    deadline = time.monotonic() + within_s
    while any(left := _ours(client, prefix)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_consumer_raising_mid_stream_leaves_no_task_behind(client, error):
    """Ten of twelve tasks are still out (two running and held, eight queued) when the consumer
    raises; they are gone from the client and the scheduler once the call returns."""
    from dask.distributed import Event

    prefix = f"ballast-test-stream-{uuid.uuid4().hex[:8]}"
    release = Event(f"{prefix}-release")
    taken = []

    def take(i: int, result) -> None:
        taken.append(i)
        if len(taken) == 2:
            raise error("the consumer stops here")

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(error, match="the consumer stops here"):
                stream_batches(
                    client, _held, [[i] for i in range(12)], release.name, key_prefix=prefix, take=take
                )
            assert sorted(taken) == [0, 1]  # the held ones could not have finished
            assert _settled(client, prefix) == ([], [])
            gc.collect()  # nothing left for a collector to cancel on the client's loop
    finally:
        release.set()  # the two running tasks' threads go free for the next test
    assert not [w for w in caught if "never awaited" in str(w.message)], caught


def test_every_result_is_taken_once_with_its_group_index(client):
    got: dict[int, object] = {}
    groups = [[i, i + 100] for i in range(7)]
    stream_batches(
        client,
        _nap,
        groups,
        0.0,
        key_prefix=f"ballast-test-all-{uuid.uuid4().hex[:8]}",
        take=lambda i, result: got.setdefault(i, result),
    )
    assert got == dict(enumerate(groups))


def test_a_failed_task_is_given_as_its_exception(client):
    got = {}
    stream_batches(
        client,
        _nap,
        [[1], [2]],
        "not seconds",
        key_prefix=f"ballast-test-err-{uuid.uuid4().hex[:8]}",
        take=lambda i, result: got.setdefault(i, result),
    )
    assert sorted(got) == [0, 1] and all(isinstance(r, TypeError) for r in got.values())
