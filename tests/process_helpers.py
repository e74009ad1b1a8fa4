"""A command-line server in a subprocess: start it, wait for its ``ready:`` line, stop it."""

from __future__ import annotations

import subprocess
import threading


def start_until_ready(cmd: list[str], timeout_s: float = 60.0, **popen) -> subprocess.Popen:
    """Start ``cmd`` (stdout and stderr merged); its lines collect in ``proc.lines``.

    Returns once a line starts with ``ready:``; kills it and fails with its output otherwise.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **popen)
    ready = threading.Event()
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("ready:"):
                ready.set()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    proc.lines = lines  # type: ignore[attr-defined]
    proc.pump = thread  # type: ignore[attr-defined]
    if not ready.wait(timeout_s):
        finish(proc)
        raise AssertionError("the server did not get ready:\n" + "".join(lines))
    return proc


def finish(proc: subprocess.Popen) -> None:
    """Kill if still running, reap, and close the pipe."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    proc.pump.join(10)  # type: ignore[attr-defined]
    assert proc.stdout is not None
    proc.stdout.close()
