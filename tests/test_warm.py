"""``python -m ballast.warm`` (``make warm``): the kernels it compiles are the ones the hosts load.

On a clean clone the first run here compiles (the suite would compile the same kernels anyway);
after that each part loads from numba's on-disk cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ballast
from ballast import warm

SRC = Path(ballast.__file__).resolve().parents[1]

# A fresh process (nothing compiled in memory) starts the live runtime's controller on the
# bundled site the way ``Runtime.start`` does, then prints the numba cache statistics of the
# kernel it ran: loaded from the cache (hits), never compiled (misses).
_RUNTIME_WARM_UP = """
import asyncio
from ballast.control.stack import step_arrays
from ballast.examples import examples_dir
from ballast.live.runtime import Runtime
from ballast.live.site_config import load_site_config
from ballast.scenario import load_scenario

site = load_site_config(examples_dir() / "live" / "site.yaml")
rt = Runtime(load_scenario(site.path(site.scenario)), site, fleet=None, meter=None, store=None)
asyncio.run(rt.warm_up())
print(sum(step_arrays.stats.cache_hits.values()), sum(step_arrays.stats.cache_misses.values()))
"""


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}  # the in-tree cache
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=900, check=False
    )


def test_the_runtime_loads_the_controller_warm_compiled():
    done = _python("-m", "ballast.warm", "live")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("warm live: ")
    started = _python("-c", _RUNTIME_WARM_UP)
    assert started.returncode == 0, started.stderr
    hits, misses = map(int, started.stdout.split())
    assert (hits, misses) == (1, 0)


def test_the_backtest_kernels_land_in_the_on_disk_cache():
    assert warm.main(["fine", "coarse"]) == 0
    cache = SRC / "ballast" / "sim" / "__pycache__"
    for kernel in ("run_plant_ticks", "run_ticks_records"):
        assert list(cache.glob(f"kernel.{kernel}-*.nbi")), f"no cache index of {kernel} in {cache}"


def test_an_unknown_part_is_refused_naming_the_parts(capsys):
    assert warm.main(["live", "everything"]) == 2
    err = capsys.readouterr().err
    assert "['everything']" in err and "['live', 'fine', 'coarse']" in err
