"""Start-up: wall time of ``import ballast``, of loading the Python API, of ``ballast --help``
and ``ballast --version`` (each a fresh process; median of 7 after one warm-up), and the size of
the wheel built from this checkout. Goal: ``ballast --help`` <= 0.5 s. One JSON line each."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BALLAST = Path(sys.executable).with_name("ballast")


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 4), "unit": unit}), flush=True)


def wall_s(cmd: list[str], repeat: int = 7) -> float:
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up: page cache, .pyc files
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def wheel_mb() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        built = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_wheel.py"), tmp],
                               check=True, capture_output=True, text=True)
        return Path(built.stdout.strip()).stat().st_size / 1e6


def main() -> None:
    py = sys.executable
    emit("startup_import_ballast", wall_s([py, "-c", "import ballast"]), "s")
    emit("startup_import_python_api", wall_s([py, "-c", "import ballast; ballast.simulate"]), "s")
    emit("startup_cli_help", wall_s([str(BALLAST), "--help"]), "s")
    emit("startup_cli_version", wall_s([str(BALLAST), "--version"]), "s")
    emit("wheel_size", wheel_mb(), "MB")


if __name__ == "__main__":
    main()
