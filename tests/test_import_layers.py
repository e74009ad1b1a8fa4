"""The layer contracts bite (issue 17 item 9): ``lint-imports`` on the repository's own
``pyproject.toml`` passes on the sources as they are and fails, naming the edge, when one
back-edge is written into a copy of them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def lint(tmp_path: Path, back_edge: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
    """``lint-imports`` over a copy of ``src/`` with ``back_edge`` = (module file, import line)
    appended (function-local, as the old cycle was: the contracts see those too)."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src", tmp_path / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.parquet", "*.csv"))
    if back_edge is not None:
        path = tmp_path / "src" / "ballast" / back_edge[0]
        path.write_text(path.read_text() + f"\n\ndef _back_edge():\n    {back_edge[1]}  # noqa\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_sources_keep_every_contract(tmp_path):
    out = lint(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "data flows one way down the backtest's layers KEPT" in out.stdout


@pytest.mark.parametrize(("module", "line", "edge"), [
    # a program re-running the engine to value itself (the old programs/settle.py)
    ("programs/settle.py", "from ballast.sim.engine import run_policy",
     "ballast.programs.settle -> ballast.sim.engine"),
    # the live market replay reaching into the backtest (the old market_replay read its inputs)
    ("live/market_replay.py", "from ballast.sim.engine import run_policy",
     "ballast.live.market_replay -> ballast.sim.engine"),
    # the input builder reaching up into the engine (it once did, for the training waveform)
    ("inputs/site.py", "from ballast.sim.fine_ai import fine_ai",
     "ballast.inputs.site -> ballast.sim.fine_ai"),
    # the controller reading the input builder: siblings do not import each other
    ("control/smoothing.py", "from ballast.inputs import build_inputs",
     "ballast.control.smoothing -> ballast.inputs"),
    # the costs reaching up into a program for the 4CP arithmetic (the old costs.py)
    ("costs.py", "from ballast.programs import fourcp",
     "ballast.costs -> ballast.programs.fourcp"),
])
def test_a_back_edge_fails_the_contracts(tmp_path, module, line, edge):
    out = lint(tmp_path, (module, line))
    assert out.returncode != 0
    assert "BROKEN" in out.stdout
    assert edge in out.stdout, out.stdout
