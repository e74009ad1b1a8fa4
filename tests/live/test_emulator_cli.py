"""The ``emulate miners`` sub-app that the main CLI mounts."""

from __future__ import annotations

from typer.testing import CliRunner

from ballast.live.emulators.cli import emulate_app


def test_miners_command_serves_then_stops(base_ip: str) -> None:
    result = CliRunner().invoke(
        emulate_app,
        ["miners", "--count", "3", "--base-ip", base_ip, "--duration-s", "0.05", "--no-uvloop"],
    )
    assert result.exit_code == 0, result.output
    assert f"ready: 3 emulated LuxOS miners {base_ip}" in result.output


def test_unknown_model_is_a_clear_error(base_ip: str) -> None:
    result = CliRunner().invoke(
        emulate_app, ["miners", "--count", "1", "--base-ip", base_ip, "--model", "s99"]
    )
    assert result.exit_code == 2
    assert "unknown miner model 's99'" in result.output
