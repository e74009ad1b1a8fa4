"""The stamp of ``make warm`` (``python -m ballast.warm``): skip the warming when nothing changed.

numba loads a cached kernel when its cache index (``*.nbi``) is there, was written by the same
numba and Python, and records the size and modification time of the kernel's source file; and
``numba_cache.drop_stale`` deletes a module's cache when a file it inlines is newer. So after a
full warm run the stamp records:

- the Python and numba versions and ``NUMBA_CACHE_DIR``;
- each source file of a module whose kernels the run compiled or loaded, of the files
  ``drop_stale`` lists as their dependencies, and ``ballast.warm`` itself: size, modification
  time [ns] and SHA-256 (``git pull`` of a kernel change moves all three; a ``touch`` the first
  two, which numba and ``drop_stale`` act on too);
- the cache files (index and data) of those kernels.

It is fresh while every one of these is as recorded and every recorded cache file is there. No
stamp (a clean clone), an unreadable one or any difference: warm again. A caller that starts
passing a kernel new argument types compiles that signature at first use, as without the stamp.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

from ballast import numba_cache

FORMAT = 1  # of the stamp document; a stamp of another format is stale
STAMP_PATH = Path(__file__).resolve().parent / "__pycache__" / "warm.stamp.json"


def environment() -> dict[str, str]:
    """What a cached kernel was compiled for, besides its sources."""
    return {
        "python": sys.version,
        "numba": version("numba"),
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR", ""),
    }


def _file_key(path: str) -> list[int | str]:
    p = Path(path)
    st = p.stat()
    return [st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()]


def stamp_document(sources: Iterable[str], cache_files: Iterable[str]) -> dict:
    """The stamp of a warm run that read ``sources`` and left ``cache_files``."""
    return {
        "format": FORMAT,
        "environment": environment(),
        "sources": {s: _file_key(s) for s in sorted(set(sources))},
        "cache_files": sorted(set(cache_files)),
    }


def write(sources: Iterable[str], cache_files: Iterable[str], path: Path = STAMP_PATH) -> bool:
    """Write the stamp (atomically); False if it cannot be written (then every run warms)."""
    try:
        doc = stamp_document(sources, cache_files)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)
    except OSError:
        return False
    return True


def is_fresh(path: Path = STAMP_PATH) -> bool:
    """True when the stamp at ``path`` matches the sources, versions and cache files now."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT or doc["environment"] != environment():
            return False
        if any(_file_key(s) != key for s, key in doc["sources"].items()):
            return False
        return all(Path(f).is_file() for f in doc["cache_files"]) and bool(doc["cache_files"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def warmed_kernels(packages: tuple[str, ...] = ("ballast",)) -> tuple[list[str], list[str]] | None:
    """The source files and cache files of the cached kernels in this process, in ``packages``'
    modules: the source of each imported module that defines a cached kernel (whether the run
    compiled it, loaded it, or had it inlined into a caller loaded from the cache), the files
    ``drop_stale`` lists as its dependencies, and the cache index and data files of each kernel
    compiled or loaded. None if a kernel compiled or loaded has no cache index where numba's
    internals say (numba changed, or the cache could not be written): then no stamp."""
    from numba.core.caching import Cache
    from numba.core.dispatcher import Dispatcher

    sources: set[str] = set()
    cache_files: set[str] = set()
    for name, mod in list(sys.modules.items()):
        if mod is None or name.split(".")[0] not in packages:
            continue
        for obj in list(vars(mod).values()):
            if not isinstance(obj, Dispatcher) or obj.py_func.__module__ != name:
                continue
            if not isinstance(obj._cache, Cache):  # cache=False
                continue
            src = str(Path(obj.py_func.__code__.co_filename).resolve())
            sources.add(src)
            sources.update(numba_cache.DEPENDENCIES.get(src, ()))
            if not obj.overloads:
                continue
            try:
                index = Path(obj._cache._cache_file._index_path)
            except AttributeError:
                return None
            if not index.is_file():
                return None
            cache_files.add(str(index))
            cache_files.update(str(f) for f in index.parent.glob(f"{index.stem}.*.nbc"))
    return sorted(sources), sorted(cache_files)
