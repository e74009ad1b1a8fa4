"""The live host refuses, at start and loudly, every scenario field it cannot run (the grid
programs' backtest-only schedules; issue 17), and a battery that would sit idle (no smoothing
section): ``ballast serve`` exits 2 with one line naming each field and the scenario file, and
the ``LiveSite`` and ``Runtime`` constructors raise. Nothing is dropped silently. Nothing here
starts a device: the refusal comes first. Smoothing, the battery and the rest of ``programs``
run live (test_live_smoothing.py, test_parity.py, test_live_battery.py,
test_live_programs.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_helpers import CAMPUS, write_campus
from typer.testing import CliRunner

from ballast.cli import app
from ballast.examples import scenario_path
from ballast.live.emulated_site import emulated_site_config, plan_emulation
from ballast.live.runtime import Runtime
from ballast.live.serve import LiveSite
from ballast.live.site_model import LiveUnsupportedError, live_unsupported, refuse_unsupported
from ballast.live.store import open_store
from ballast.scenario import load_scenario, parse_scenario

SMOOTHING = {"ramp_up_mw_per_s": 1.0, "ramp_down_mw_per_s": 1.0}
BATTERY = {"power_mw": 20, "energy_mwh": 10}
PROGRAMS = {"emergency": {}}  # runs live: EEA levels come from the API
WINDOWS = {"emergency": {"windows": [{"start": "2024-05-01T10:00:00Z",
                                      "end": "2024-05-01T12:00:00Z", "level": 3}]}}
WINDOWS_REFUSED = ("not run by the live host: programs.emergency.windows (historic EEA windows "
                   "are backtest inputs; live takes the EEA level from POST "
                   "/api/v1/programs/eea); remove it or use a scenario without it")

# sections added to the test campus -> what the live host says (None = accepted)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("none", {}, None),
    ("smoothing", {"smoothing": SMOOTHING}, None),  # runs live since issue 17 item 1
    ("battery", {"battery": BATTERY}, None),  # runs live; without smoothing: refuse_idle
    ("programs", {"programs": PROGRAMS}, None),  # runs live since issue 17 item 1
    ("programs with EEA windows", {"programs": WINDOWS}, WINDOWS_REFUSED),
    ("smoothing disabled", {"smoothing": {**SMOOTHING, "enabled": False}}, None),
    ("all three", {"smoothing": SMOOTHING, "battery": BATTERY, "programs": PROGRAMS}, None),
    ("all three, EEA windows", {"smoothing": SMOOTHING, "battery": BATTERY,
                                "programs": WINDOWS}, WINDOWS_REFUSED),
]


def _campus(extra: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(CAMPUS), **copy.deepcopy(extra)}


@pytest.mark.parametrize(("label", "extra", "message"), CASES, ids=[c[0] for c in CASES])
def test_refuse_table(label: str, extra: dict[str, Any], message: str | None) -> None:
    scen = parse_scenario(_campus(extra))
    if message is None:
        assert live_unsupported(scen) == []
        refuse_unsupported(scen, "campus.yaml")  # accepted: no error
        return
    with pytest.raises(LiveUnsupportedError) as err:
        refuse_unsupported(scen, "campus.yaml")
    assert str(err.value) == f"scenario campus.yaml: {message}"
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("name", "features"), [
    ("west_texas_2024", []),  # the --emulate demo's default: it must still start
    ("solar_inference_2024", []),
    ("training_campus", []),
    ("uri_2021", ["programs.emergency.windows", "programs.responsive_reserve.frequency_events",
                  "programs.ers.deployments"]),
    ("west_texas_2024_programs", ["programs.responsive_reserve.frequency_events",
                                  "programs.ecrs.deployments",
                                  "programs.demand_response.events"]),
])
def test_bundled_examples(name: str, features: list[str]) -> None:
    assert live_unsupported(load_scenario(scenario_path(name))) == features


def _site_for(path: Path, tmp_path: Path):
    scen = load_scenario(path)
    plan = plan_emulation(scen, 2, "127.61")
    cfg = emulated_site_config(str(path), plan, meter_port=1, dcgm_port=None,
                               store={"dsn": str(tmp_path / "ballast.db")})
    return scen, cfg


def test_constructors_raise(tmp_path: Path) -> None:
    path = write_campus(tmp_path, _campus({"battery": BATTERY}))
    scen, cfg = _site_for(path, tmp_path)
    idle = rf"scenario {path}: battery without a smoothing section would sit idle"
    with pytest.raises(LiveUnsupportedError, match=idle):
        LiveSite(scen, cfg)
    store = open_store(cfg.store_dsn)
    try:
        with pytest.raises(LiveUnsupportedError, match=idle):
            Runtime(scen, cfg, fleet=object(), meter=object(), store=store)  # type: ignore[arg-type]
    finally:
        store.close()


def test_constructors_accept_plain_campus(tmp_path: Path) -> None:
    path = write_campus(tmp_path)
    scen, cfg = _site_for(path, tmp_path)
    live = LiveSite(scen, cfg)  # constructing starts nothing
    assert live.runtime is None


def test_serve_emulate_refuses_bundled_training_campus_on_coarse_devices() -> None:
    """Its smoothing and battery run live, but 20 emulated devices per group are ~0.8 MW each,
    more than the 0.3 MW the plan may rise per 1-s tick."""
    result = CliRunner().invoke(app, ["serve", "--emulate", "--scenario", "training_campus"])
    assert result.exit_code == 2, result.output
    assert "error: site config tick_s=1 s: the smoothing plan rises at most 0.3 MW" in (
        result.output)
    assert "--devices-per-group" in result.output


def test_serve_config_refuses_programs(tmp_path: Path) -> None:
    scen = write_campus(tmp_path, _campus({"programs": WINDOWS}))
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"scenario": scen.name,
                                    "meter": {"host": "127.0.0.1", "port": 1},
                                    "store": {"dsn": str(tmp_path / "ballast.db")}}))
    result = CliRunner().invoke(app, ["serve", "--config", str(site)])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert lines == [f"error: scenario {scen}: {WINDOWS_REFUSED}"]
    assert not (tmp_path / "ballast.db").exists()  # refused before the store opened


def test_serve_config_refuses_missing_ercot_credentials_before_starting(tmp_path: Path, monkeypatch) -> None:
    """An ERCOT price feed without its user name, password or subscription key stops ``serve``
    at start, naming the field and the variable, before the store is opened."""
    for var in ("ERCOT_API_USERNAME", "ERCOT_API_PASSWORD", "ERCOT_SUBSCRIPTION_KEY"):
        monkeypatch.delenv(var, raising=False)
    scen = write_campus(tmp_path)
    feed = {"source": "ercot", "settlement_point": "HB_WEST"}
    site = tmp_path / "site.yaml"

    def serve(price_feed: dict) -> list[str]:
        site.write_text(
            yaml.safe_dump(
                {
                    "scenario": scen.name,
                    "meter": {"host": "127.0.0.1", "port": 1},
                    "store": {"dsn": str(tmp_path / "ballast.db")},
                    "market": {"price_feed": price_feed},
                }
            )
        )
        result = CliRunner().invoke(app, ["serve", "--config", str(site)])
        assert result.exit_code == 2, result.output
        return [ln for ln in result.output.splitlines() if ln.startswith("error:")]

    assert serve(feed) == [
        "error: ERCOT API user name: market.price_feed.username is not set in the site config "
        "and environment variable ERCOT_API_USERNAME (username_env) is unset"
    ]
    assert serve(feed | {"username": "ops@example.com"}) == [
        "error: environment variable ERCOT_API_PASSWORD (ERCOT API password) is unset"
    ]
    monkeypatch.setenv("ERCOT_API_PASSWORD", "pw")
    assert serve(feed | {"username": "ops@example.com"}) == [
        "error: environment variable ERCOT_SUBSCRIPTION_KEY (ERCOT subscription key) is unset"
    ]
    assert not (tmp_path / "ballast.db").exists()  # refused before the store opened
