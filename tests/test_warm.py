"""``python -m ballast.warm`` (``make warm``): the kernels it compiles are the ones the hosts load.

On a clean clone the first run here compiles (the suite would compile the same kernels anyway);
after that each part loads from numba's on-disk cache.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import ballast
from ballast import warm, warm_stamp

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


def _warm_then_cache_stats(part: str, script: str) -> tuple[int, ...]:
    """``python -m ballast.warm <part>``, then ``script`` in a fresh process: the cache hits
    and misses it prints."""
    done = _python("-m", "ballast.warm", part)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"warm {part}: ")
    ran = _python("-c", script)
    assert ran.returncode == 0, ran.stderr
    return tuple(map(int, ran.stdout.split()))


def test_the_runtime_loads_the_controller_warm_compiled():
    assert _warm_then_cache_stats("live", _RUNTIME_WARM_UP) == (1, 0)


# A fresh process runs the fine engine (1 s) on its normal path, ``simulate`` of a 1-s scenario
# (``sim.fine.run_fine``: the training waveform as float32 into the plant kernel), over another
# half hour than ``warm fine``'s, and prints the cache statistics of its three kernels.
_FINE_RUN = """
from ballast.examples import examples_dir
from ballast.models.ai_swings import training_level_chunk
from ballast.scenario import load_scenario, parse_scenario
from ballast.sim.engine import simulate
from ballast.sim.fine_ai import scale_by_row
from ballast.sim.kernel import run_plant_ticks

path = examples_dir() / "training_campus.yaml"
doc = load_scenario(path).model_dump(mode="json")
doc["run"].update(start="2024-07-01T06:00:00Z", end="2024-07-01T06:30:00Z")
simulate(parse_scenario(doc, str(path)), path.parent)
for kernel in (run_plant_ticks, scale_by_row, training_level_chunk):
    print(sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()))
"""


def test_the_fine_engine_loads_its_kernels_warm_compiled():
    # each kernel: one signature, loaded (a float64 waveform would compile a second one)
    assert _warm_then_cache_stats("fine", _FINE_RUN) == (1, 0) * 3


def test_the_backtest_kernels_land_in_the_on_disk_cache():
    assert warm.main(["fine", "coarse"]) == 0
    cache = SRC / "ballast" / "sim" / "__pycache__"
    for kernel in ("run_plant_ticks", "run_ticks_records"):
        assert list(cache.glob(f"kernel.{kernel}-*.nbi")), f"no cache index of {kernel} in {cache}"


def test_an_unknown_part_is_refused_naming_the_parts(capsys):
    assert warm.main(["live", "everything"]) == 2
    err = capsys.readouterr().err
    assert "['everything']" in err and "['live', 'fine', 'coarse', 'studies']" in err


# A package of its own with one cached kernel that inlines a constant from a helper module it
# names to numba_cache.drop_stale, as sim/kernel.py names the rule stack.
_KERNEL = """
from numba import njit

from ballast import numba_cache
from {pkg} import helper

numba_cache.drop_stale(__file__, helper.__file__)


@njit(cache=True)
def double(x):
    return helper.TWO * x
"""


@pytest.fixture
def kernel_package(tmp_path, monkeypatch):
    """A fresh package ``warm_stamp_case_<n>`` on sys.path whose kernel ran once (compiled into
    its own __pycache__); yields its folder."""
    pkg = f"warm_stamp_case_{uuid.uuid4().hex[:12]}"
    folder = tmp_path / pkg
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "helper.py").write_text("TWO = 2.0\n")
    (folder / "kern.py").write_text(_KERNEL.format(pkg=pkg))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    kern = importlib.import_module(f"{pkg}.kern")
    assert kern.double(3.0) == 6.0
    yield folder
    for name in [m for m in sys.modules if m.split(".")[0] == pkg]:
        del sys.modules[name]


def _stamp_of(folder: Path, path: Path) -> dict:
    warmed = warm_stamp.warmed_kernels((folder.name,))
    assert warmed is not None
    assert warm_stamp.write(*warmed, path=path)
    assert warm_stamp.is_fresh(path)
    return json.loads(path.read_text())


def test_the_stamp_keys_on_the_kernel_its_dependencies_and_its_cache_index(kernel_package, tmp_path):
    doc = _stamp_of(kernel_package, tmp_path / "stamp.json")
    kern, helper = (str((kernel_package / f).resolve()) for f in ("kern.py", "helper.py"))
    assert sorted(doc["sources"]) == sorted([kern, helper])
    index = [f for f in doc["cache_files"] if f.endswith(".nbi")]
    assert [Path(f).name.split("-")[0] for f in index] == ["kern.double"]
    assert all(Path(f).is_file() for f in doc["cache_files"])
    assert any(f.endswith(".nbc") for f in doc["cache_files"])


@pytest.mark.parametrize("changed", ["kern.py", "helper.py"])
def test_a_source_change_makes_the_stamp_stale(kernel_package, tmp_path, changed):
    # as a git pull of a kernel change (or of a file it inlines) leaves the tree
    stamp = tmp_path / "stamp.json"
    _stamp_of(kernel_package, stamp)
    source = kernel_package / changed
    source.write_text(source.read_text() + "# changed\n")
    assert not warm_stamp.is_fresh(stamp)


def test_a_touch_alone_makes_the_stamp_stale(kernel_package, tmp_path):
    # numba keys its cache on the source's modification time, drop_stale too
    stamp = tmp_path / "stamp.json"
    _stamp_of(kernel_package, stamp)
    source = kernel_package / "kern.py"
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert not warm_stamp.is_fresh(stamp)


@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
def test_a_deleted_cache_file_makes_the_stamp_stale(kernel_package, tmp_path, suffix):
    stamp = tmp_path / "stamp.json"
    doc = _stamp_of(kernel_package, stamp)
    Path(next(f for f in doc["cache_files"] if f.endswith(suffix))).unlink()
    assert not warm_stamp.is_fresh(stamp)


def test_another_numba_or_no_stamp_is_stale(kernel_package, tmp_path, monkeypatch):
    stamp = tmp_path / "stamp.json"
    assert not warm_stamp.is_fresh(stamp)  # a clean clone: none
    _stamp_of(kernel_package, stamp)
    monkeypatch.setattr(warm_stamp, "version", lambda name: "0.0.0")
    assert not warm_stamp.is_fresh(stamp)


def test_a_full_run_writes_a_stamp_and_the_next_does_nothing(tmp_path, capsys):
    stamp = tmp_path / "stamp.json"
    assert warm.main([], stamp=stamp) == 0
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == [
        "warm live", "warm fine", "warm coarse", "warm studies"
    ]
    doc = json.loads(stamp.read_text())
    pkg = SRC / "ballast"
    for source in ("sim/kernel.py", "control/stack.py", "studies/sfr.py", "physics.py", "warm.py"):
        assert str(pkg / source) in doc["sources"], source  # physics.py: a drop_stale dependency
    names = {Path(f).name.split("-")[0] for f in doc["cache_files"] if f.endswith(".nbi")}
    assert {"kernel.run_plant_ticks", "kernel.run_ticks_records", "stack.step_arrays", "sfr._run"} <= names
    assert warm.main([], stamp=stamp) == 0
    assert capsys.readouterr().out.startswith("warm: up to date")
    assert warm.main(["coarse"], stamp=stamp) == 0  # a part named runs anyway
    assert capsys.readouterr().out.startswith("warm coarse: ")


# A fresh process runs the SFR model as tests/studies/test_frequency.py does (an int base) and
# prints the cache statistics of its kernel.
_SFR_RUN = """
import numpy as np
from ballast.studies.sfr import SfrParams, _run, simulate

p = SfrParams(base_mw=50_000, inertia_h_s=4.0, damping_pu=1.0, droop_pu=0.05,
              governor_gain_pu=0.95, reheat_time_s=8.0, hp_fraction=0.3)
simulate(p, np.full(101, 2500.0), 0.01)
print(sum(_run.stats.cache_hits.values()), sum(_run.stats.cache_misses.values()))
"""


def test_the_studies_load_the_sfr_kernel_warm_compiled():
    assert _warm_then_cache_stats("studies", _SFR_RUN) == (1, 0)
