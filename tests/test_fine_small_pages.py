"""The fine run allocates its per-tick outputs without numpy's huge-page advice, and gives the
setting back as it found it (``sim.fine._small_pages``), even when the block raises."""

import pytest
from numpy._core import multiarray

from ballast.sim.fine import _small_pages

setter = multiarray._set_madvise_hugepage


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
