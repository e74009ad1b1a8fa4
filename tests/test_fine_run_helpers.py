"""The fine run's two helpers around its kernel (``sim.fine``):

- ``_small_pages``: the per-tick outputs are allocated without numpy's huge-page advice, and the
  setting is given back as it was found, even when the block raises;
- ``_chunks_ahead``: the AI waveform's next chunk is made on a second thread while the kernel
  runs; the chunks must be those of ``FineAi.chunk`` called in order, cover every tick once, and
  an error in making one must reach the caller.
"""

import numpy as np
import pytest

from ballast.examples import examples_dir
from ballast.scenario import load_scenario, parse_scenario
from ballast.sim.fine import _chunks_ahead, _small_pages, fine_setup, hugepage_setter

setter = hugepage_setter()  # every numpy the project allows (>= 1.26) has it


def current() -> bool:
    was = setter(True)
    setter(was)
    return bool(was)


@pytest.mark.parametrize("before", [True, False])
def test_advice_is_off_inside_and_restored_after(before):
    start = setter(before)
    try:
        with _small_pages():
            assert current() is False
        assert current() is before
        with pytest.raises(RuntimeError), _small_pages():
            raise RuntimeError("boom")
        assert current() is before
    finally:
        setter(start)


@pytest.fixture(scope="module")
def training_ai():
    # the training campus, 1 s ticks, ten minutes with its crashes, swings and floor
    doc = load_scenario(examples_dir() / "training_campus.yaml").model_dump(mode="json")
    doc["run"].update(start="2024-07-06T16:30:00Z", end="2024-07-06T16:40:00Z")
    setup = fine_setup(parse_scenario(doc))
    return setup.ai(), setup.n_ticks


@pytest.mark.parametrize("n_ticks", [0, 1, 59, 60, 61, 180, 599, 600])
def test_chunks_ahead_are_the_chunks_in_order(training_ai, n_ticks):
    ai, total = training_ai
    assert n_ticks <= total
    chunk = 60
    ai_all = np.full(n_ticks, np.nan, dtype=np.float32)
    got = list(_chunks_ahead(ai, n_ticks, chunk, ai_all))
    starts = list(range(0, n_ticks, chunk))
    assert [(i0, n) for i0, n, _, _ in got] == [(i0, min(chunk, n_ticks - i0)) for i0 in starts]
    for i0, n, ai_mw, fill in got:
        want_mw, want_fill = ai.chunk(i0, n)
        assert ai_mw.dtype == np.float32 and np.array_equal(ai_mw, want_mw)
        assert np.array_equal(fill, want_fill)
        assert np.array_equal(ai_all[i0:i0 + n], want_mw)
    assert not np.isnan(ai_all).any()  # every tick written once


def test_an_error_making_a_chunk_reaches_the_caller(training_ai):
    ai, _ = training_ai

    class Failing:
        def chunk(self, i0, n):
            if i0 >= 120:
                raise ValueError(f"chunk at tick {i0}")
            return ai.chunk(i0, n)

    seen = []
    with pytest.raises(ValueError, match="chunk at tick 120"):
        for i0, _n, _mw, _fill in _chunks_ahead(Failing(), 300, 60, np.zeros(300, np.float32)):
            seen.append(i0)
    assert seen == [0, 60]
