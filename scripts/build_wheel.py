"""Build the wheel from a clean copy of the sources (no stale ``build/``, nothing written into
the checkout), offline: ``pip wheel --no-deps --no-build-isolation`` with this Python's
setuptools. ``python scripts/build_wheel.py OUT_DIR`` prints the wheel's path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("src", "pyproject.toml", "README.md", "LICENSE", "NOTICE")


def build_wheel(out_dir: Path) -> Path:
    """The path of ``ballast-VERSION-py3-none-any.whl`` built into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        for name in SOURCES:
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns(
                    "__pycache__", "*.egg-info", "*.nbi", "*.nbc"))
            else:
                shutil.copy2(path, src / name)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                        "--no-build-isolation", "-q", "-w", str(out_dir), str(src)], check=True,
                       capture_output=True)
    (wheel,) = out_dir.glob("ballast-*.whl")
    return wheel


if __name__ == "__main__":
    print(build_wheel(Path(sys.argv[1])))
