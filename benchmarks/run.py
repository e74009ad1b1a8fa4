"""`make bench`: run every benchmarks/bench_*.py in its own process (so peak memory is its own)
and pass through their JSON lines: {"benchmark": name, "value": x, "unit": u}."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              check=False)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            failed += 1
            sys.stderr.write(f"{script.name} failed ({proc.returncode}):\n{proc.stderr}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
