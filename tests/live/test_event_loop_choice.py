"""``ballast serve``'s event loop (``live.drivers.aio.choose_loop``): uvloop by default when it
is installed, asyncio's loop with a logged warning when it is not, asyncio's loop on
``--no-uvloop``. The loop really run is checked from inside it."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest
from typer.testing import CliRunner

from ballast.live.drivers.aio import choose_loop, run

uvloop = pytest.importorskip("uvloop")


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_chosen_when_installed(caplog):
    factory, why = choose_loop(True)
    assert factory is uvloop.new_event_loop and why == f"uvloop {uvloop.__version__}"
    with caplog.at_level(logging.INFO, logger="ballast.live.drivers.aio"):
        assert run(loop_module()).startswith("uvloop")
    assert f"event loop: uvloop {uvloop.__version__}" in caplog.text


def test_no_uvloop_runs_asyncio_loop(caplog):
    assert choose_loop(False) == (None, "asyncio's default event loop (--no-uvloop)")
    with caplog.at_level(logging.INFO, logger="ballast.live.drivers.aio"):
        assert run(loop_module(), prefer_uvloop=False).startswith("asyncio")
    assert [r.levelname for r in caplog.records] == ["INFO"]


def test_missing_uvloop_falls_back_with_a_warning(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    factory, why = choose_loop(True)
    assert factory is None
    assert why.startswith("uvloop is not installed") and "ballast[serve]" in why
    with caplog.at_level(logging.INFO, logger="ballast.live.drivers.aio"):
        assert run(loop_module()).startswith("asyncio")
    (rec,) = caplog.records
    assert rec.levelname == "WARNING" and "uvloop is not installed" in rec.getMessage()


def test_serve_defaults_to_uvloop(monkeypatch):
    """The command line's default reaches ``serve_command`` as prefer-uvloop; the flag turns
    it off."""
    import ballast.live.serve as serve_mod

    seen: list[bool] = []
    monkeypatch.setattr(serve_mod, "serve_command", lambda **kw: seen.append(kw["uvloop"]))
    from ballast.cli import app

    for args, want in (([], True), (["--no-uvloop"], False), (["--uvloop"], True)):
        r = CliRunner().invoke(app, ["serve", "--emulate", *args])
        assert r.exit_code == 0, r.output
        assert seen[-1] is want
