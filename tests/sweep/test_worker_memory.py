"""Worker processes of the sweep's LocalCluster keep freed memory (tasks.keep_freed_memory): the
year-long arrays one run frees are reused by the next, not handed back to the kernel and
faulted in again (Dask starts workers with a 64 KiB malloc trim threshold)."""

from __future__ import annotations

import platform
import resource
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc malloc only")

STEPS = 35_136  # a 2024 year at 15 min: 281 kB of float64, over glibc's 128 KiB mmap default
ARRAYS = 50  # held at once, as a run's series and KPI frames are


def _faults_of_runs(times: int) -> int:
    """Minor page faults while this process ``times`` times allocates, fills and frees ARRAYS
    year-long arrays (after one round that grows the heap)."""
    import numpy as np

    def one_run() -> float:
        arrays = [np.ones(STEPS) for _ in range(ARRAYS)]
        return float(sum(a[-1] for a in arrays))

    one_run()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        one_run()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_a_worker_reuses_freed_arrays_instead_of_faulting_them_in_again(client):
    times = 10
    faults = client.submit(_faults_of_runs, times, pure=False).result(timeout=60)
    pages_per_run = ARRAYS * STEPS * 8 // resource.getpagesize()
    # handed back on each free, every round faults all its pages in again (times x 3,431 pages;
    # an untuned Dask worker measured 34,505); kept, all rounds together fault fewer than one
    assert faults < pages_per_run, f"{faults} page faults in {times} rounds of {pages_per_run} pages"


def test_keep_freed_memory_applies_on_linux_glibc():
    from ballast.sweep.tasks import keep_freed_memory

    assert keep_freed_memory() is sys.platform.startswith("linux")
