"""Keep numba's on-disk cache honest across modules.

numba's ``cache=True`` checks only the source file of the cached function. Our compiled
functions inline helpers from other modules (the smoothing rules into the rule stack, the rule
stack and the miner plant into the backtest kernels), so an edit to a helper would leave the
caller's cached machine code stale. ``drop_stale`` removes a module's cache files when any file
it depends on is newer than them; numba then recompiles. Hand-written: numba has no hook for
extra cache dependencies. It records each module's dependencies in ``DEPENDENCIES``, which
``ballast.warm_stamp`` keys on too.
"""

from __future__ import annotations

import os
from pathlib import Path

# module file -> the files drop_stale was told it inlines (resolved paths), as imported so far
DEPENDENCIES: dict[str, tuple[str, ...]] = {}


def _cache_dirs(module_file: Path) -> list[Path]:
    dirs = [module_file.parent / "__pycache__"]
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        dirs.append(Path(env))
    return dirs


def drop_stale(module_file: str, *dependencies: str) -> int:
    """Delete ``module_file``'s numba cache files older than any of ``dependencies`` (or the
    module itself). Returns how many files were removed; never raises on I/O trouble."""
    mod = Path(module_file)
    DEPENDENCIES[str(mod.resolve())] = tuple(str(Path(d).resolve()) for d in dependencies)
    try:
        newest = max(Path(d).stat().st_mtime for d in (module_file, *dependencies))
    except OSError:
        return 0
    removed = 0
    for folder in _cache_dirs(mod):
        try:
            files = list(folder.rglob(f"{mod.stem}.*.nb[ic]"))
        except OSError:
            continue
        if any(f.stat().st_mtime < newest for f in files if f.exists()):
            for f in files:
                try:
                    f.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed
