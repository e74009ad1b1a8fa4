"""`make bench` entry for the live fan-out: runs fanout.py (pyasic comparison at 1,000 only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

if __name__ == "__main__":
    script = Path(__file__).resolve().parent / "fanout.py"
    args = ["--sizes", "1000", "10000", "--pyasic-max", "1000"]
    sys.exit(subprocess.run([sys.executable, str(script), *args], check=False).returncode)
