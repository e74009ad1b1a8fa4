"""Stale numba caches are dropped when a dependency changes (numba tracks one file only)."""

import os

from ballast.numba_cache import drop_stale


def test_drop_stale_removes_caches_older_than_a_dependency(tmp_path):
    mod = tmp_path / "kernel.py"
    dep = tmp_path / "rules.py"
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    for p in (mod, dep):
        p.write_text("x = 1\n")
    files = [cache / "kernel.run-10.py311.nbi", cache / "kernel.run-10.py311.1.nbc"]
    other = cache / "rules.tick-5.py311.nbi"
    for f in (*files, other):
        f.write_text("cache")
    old, new = 1_000_000_000, 1_000_000_100
    for f in (*files, other, mod):
        os.utime(f, (old, old))
    os.utime(dep, (old, old))
    assert drop_stale(str(mod), str(dep)) == 0  # nothing newer than the cache
    os.utime(dep, (new, new))
    assert drop_stale(str(mod), str(dep)) == 2
    assert not any(f.exists() for f in files) and other.exists()
