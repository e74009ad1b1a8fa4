"""The built wheel works on its own, outside the checkout.

The wheel is built from a copy of the sources (``pip wheel --no-deps --no-build-isolation``,
offline) and installed with ``--no-deps`` into a fresh venv in a temporary folder. The venv
borrows only the third-party dependencies from the project's venv through a ``.pth`` line (a
plain path line: the project's editable-install hooks are not run), so ``ballast`` itself, its
examples, bundled data and dashboard assets come from the wheel alone, and the commands run
with a working folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from ballast import __version__
from tests.process_helpers import finish, start_until_ready

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_wheel.py"), str(out)],
                           check=True, capture_output=True, text=True)
    return Path(built.stdout.strip())


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin folder."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    env_python = root / "bin" / "python"
    purelib = subprocess.run([str(env_python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], check=True,
                             capture_output=True, text=True).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]  # the project venv's third-party packages
    (Path(purelib) / "_project_deps.pth").write_text(deps + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    return root / "bin"


@pytest.fixture
def outside(tmp_path) -> dict:
    """Working folder outside the checkout and an environment that cannot see ``src/``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    cwd = tmp_path / "work"
    cwd.mkdir()
    return {"cwd": cwd, "env": env}


def _run(args: list, outside: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=outside["cwd"], env=outside["env"],
                          capture_output=True, text=True, timeout=240, **kw)


def test_wheel_ships_data_examples_assets_and_licences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for repo_file in [*(ROOT / "src/ballast/examples").rglob("*.yaml"),
                      *(ROOT / "src/ballast/data/bundled").iterdir(),
                      *(ROOT / "src/ballast/live/dashboard/static").iterdir()]:
        assert repo_file.relative_to(ROOT / "src").as_posix() in names, repo_file
    licences = {n.rsplit("/", 1)[-1] for n in names if "dist-info/licenses/" in n}
    assert licences == {"LICENSE", "NOTICE"}


def test_installed_package_is_the_wheel_not_the_checkout(venv, outside):
    r = _run([venv / "python", "-c", "import ballast, ballast.examples as e; "
              "print(ballast.__file__); print(e.examples_dir())"], outside)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        assert line.startswith(str(venv.parent)), line
        assert str(ROOT) not in line


def test_scenarios_simulate_and_module_entry(venv, outside):
    r = _run([venv / "ballast", "scenarios", "--json"], outside)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    expected = {p.stem for p in (ROOT / "src/ballast/examples").glob("*.yaml")}
    assert {row["name"] for row in rows} == expected
    assert all("error" not in row for row in rows)

    r = _run([venv / "ballast", "simulate", "west_texas_2024", "--end", "2024-01-03T00:00:00Z",
              "--json"], outside)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["intervals"] == 2 * 96 and doc["kpis"]["net_margin_usd"]["unit"] == "USD"

    r = _run([venv / "python", "-m", "ballast", "--version"], outside)
    assert r.returncode == 0 and r.stdout.split() == ["ballast", __version__], r.stderr
    assert list(outside["cwd"].iterdir()) == []


def test_serve_emulate_answers_from_the_wheel(venv, outside):
    port = _free_port()
    viewer = "viewer-token-wheel"
    cmd = [str(venv / "ballast"), "serve", "--emulate", "--port", str(port), "--tick-s", "0.2",
           "--devices-per-group", "2", "--ip-prefix", "127.83", "--miner-port", str(_free_port()),
           "--meter-port", str(_free_port()), "--dcgm-port", str(_free_port()),
           "--operator-token", "operator-token-wheel", "--viewer-token", viewer]
    proc = start_until_ready(cmd, timeout_s=120, cwd=outside["cwd"], env=outside["env"])
    try:
        url = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {viewer}"}
        deadline = time.monotonic() + 30
        while True:
            state = httpx.get(f"{url}/api/v1/state", headers=auth, timeout=5)
            if state.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert state.status_code == 200, state.text
        assert state.json()["tick"] >= 0
        js = httpx.get(f"{url}/dashboard/static/dashboard.js", timeout=5)
        assert js.status_code == 200 and len(js.content) > 1000
    finally:
        proc.send_signal(signal.SIGINT)  # a graceful stop: the store is closed
        try:
            proc.wait(60)
        finally:
            finish(proc)
    store = Path(outside["env"]["XDG_DATA_HOME"]) / "ballast" / "ballast.db"
    assert f"store {store};" in "".join(proc.lines)
    assert store.exists()
    assert list(outside["cwd"].iterdir()) == []  # nothing written into the working folder
