"""``ballast emulate meter`` and ``ballast emulate dcgm`` as real processes, read by the runtime's
own clients: the Modbus meter driver (pymodbus) and the DCGM scraper (aiohttp + the
prometheus_client parser). Ports are chosen by the OS (``--port 0``) and read off the
``ready:`` line.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ballast
from ballast.live.drivers.dcgm import DcgmScraper
from ballast.live.drivers.meter import MeterError, MeterReading, ModbusMeter
from tests.process_helpers import finish, start_until_ready

SRC = str(Path(ballast.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
ADDRESS = re.compile(r"on (?:http://)?([\d.]+):(\d+)")


def _emulate(*args: str) -> list[str]:
    return [sys.executable, "-m", "ballast", "emulate", *args]


def _address(proc: subprocess.Popen) -> tuple[str, int]:
    ready = next(line for line in proc.lines if line.startswith("ready:"))  # type: ignore[attr-defined]
    match = ADDRESS.search(ready)
    assert match, ready
    return match[1], int(match[2])


def _stop(proc: subprocess.Popen, sig: signal.Signals) -> int:
    """Send ``sig`` and return the exit code (the pipe is closed either way)."""
    proc.send_signal(sig)
    try:
        return proc.wait(30)
    finally:
        finish(proc)


def _read_meter(host: str, port: int, unit: int, *, input_registers: bool = False) -> MeterReading:
    async def read() -> MeterReading:
        async with ModbusMeter(host, port, device_id=unit, input_registers=input_registers) as m:
            return await m.read()

    return asyncio.run(read())


def _write_trace(path: Path, rows: list[tuple[float, float]]) -> str:
    path.write_text("time_s,power_mw\n" + "".join(f"{t},{p}\n" for t, p in rows))
    return str(path)


def test_meter_serves_the_given_site_on_its_unit_id_until_sigterm() -> None:
    proc = start_until_ready(
        _emulate(
            *"meter --port 0 --noise-mw 0 --unit-id 17 --ai-mw 62.5 --miners-mw 30.25 --renewables-mw 12 "
            "--voltage-kv 345 --frequency-hz 59.9".split()
        ),
        env=ENV,
    )
    try:
        host, port = _address(proc)
        for input_registers in (False, True):  # function codes 3 and 4 serve the same map
            r = _read_meter(host, port, 17, input_registers=input_registers)
            assert r.ai_feeder_power_mw == 62.5
            assert r.miners_feeder_power_mw == 30.25
            assert r.renewables_feeder_power_mw == 12.0
            assert r.campus_import_power_mw == 80.75  # 62.5 + 30.25 - 12: import = loads - generation
            assert r.voltage_kv == 345.0
            assert r.frequency_hz == pytest.approx(59.9, abs=1e-5)  # float32
        with pytest.raises(MeterError, match="error"):  # another unit id is not this meter
            _read_meter(host, port, 1)
    finally:
        code = _stop(proc, signal.SIGTERM)
    assert code == 0, "".join(proc.lines)  # type: ignore[attr-defined]


def test_meter_import_override_reports_export_and_stops_on_sigint() -> None:
    proc = start_until_ready(
        _emulate(*"meter --port 0 --noise-mw 0 --ai-mw 20 --renewables-mw 30 --import-mw -4.5".split()),
        env=ENV,
    )
    try:
        r = _read_meter(*_address(proc), 1)
        assert r.campus_import_power_mw == -4.5  # as given, not 20 - 30
        assert r.ai_feeder_power_mw == 20.0
        assert r.frequency_hz == 60.0 and r.voltage_kv == 138.0  # defaults: ERCOT, 138 kV
    finally:
        code = _stop(proc, signal.SIGINT)
    assert code == 0, "".join(proc.lines)  # type: ignore[attr-defined]


def test_meter_ai_load_follows_a_trace_from_ready(tmp_path: Path) -> None:
    trace = _write_trace(tmp_path / "job.csv", [(0, 10.0), (100, 30.0)])  # +0.2 MW/s
    spawned_s = time.monotonic()
    proc = start_until_ready(
        _emulate(*"meter --port 0 --noise-mw 0 --miners-mw 5 --renewables-mw 2 --ai-trace".split(), trace),
        env=ENV,
    )
    try:
        host, port = _address(proc)
        first = _read_meter(host, port, 1)
        since_spawn_s = time.monotonic() - spawned_s  # the trace started later than this
        time.sleep(0.5)
        second = _read_meter(host, port, 1)
    finally:
        code = _stop(proc, signal.SIGTERM)
    assert code == 0
    assert 10.0 <= first.ai_feeder_power_mw <= 10.0 + 0.2 * since_spawn_s + 1e-4
    assert second.ai_feeder_power_mw > first.ai_feeder_power_mw  # it moves along the ramp
    for r in (first, second):
        assert r.miners_feeder_power_mw == 5.0
        assert r.campus_import_power_mw == pytest.approx(r.ai_feeder_power_mw + 5 - 2, abs=1e-4)


def test_meter_values_move_by_default_so_the_runtime_does_not_see_a_frozen_meter() -> None:
    """Fixed values with the default noise: every reading differs, stays near what was given,
    and the import still adds up from the feeders read with it."""
    proc = start_until_ready(
        _emulate(*"meter --port 0 --ai-mw 100 --miners-mw 40 --renewables-mw 0".split()), env=ENV
    )
    try:
        host, port = _address(proc)
        readings = [_read_meter(host, port, 1)]
        for _ in range(100):  # until the emulator has stepped (it does every 0.05 s)
            time.sleep(0.1)
            readings.append(_read_meter(host, port, 1))
            if readings[-1].ai_feeder_power_mw != readings[0].ai_feeder_power_mw:
                break
    finally:
        _stop(proc, signal.SIGTERM)
    first, last = readings[0], readings[-1]
    assert last.ai_feeder_power_mw != first.ai_feeder_power_mw
    assert last.miners_feeder_power_mw != first.miners_feeder_power_mw
    for r in (first, last):
        assert r.ai_feeder_power_mw == pytest.approx(100, abs=0.5)  # 10 sigma of 0.05 MW
        assert r.miners_feeder_power_mw == pytest.approx(40, abs=0.5)
        assert r.renewables_feeder_power_mw == 0.0  # a feeder given as 0 stays 0
        assert r.campus_import_power_mw == pytest.approx(
            r.ai_feeder_power_mw + r.miners_feeder_power_mw, abs=1e-4
        )


def test_meter_trip_drops_the_frequency() -> None:
    proc = start_until_ready(
        _emulate("meter", "--port", "0", "--trip-in-s", "0", "--nadir-hz", "59.5"), env=ENV
    )
    try:
        host, port = _address(proc)
        time.sleep(0.3)  # any time into the 4-s fall
        r = _read_meter(host, port, 1)
    finally:
        _stop(proc, signal.SIGTERM)
    assert 59.5 <= r.frequency_hz < 60.0


def test_meter_stops_by_itself_after_duration() -> None:
    proc = start_until_ready(_emulate("meter", "--port", "0", "--duration-s", "0.2"), env=ENV)
    try:
        assert proc.wait(30) == 0
    finally:
        finish(proc)


def _scrape(url: str):
    async def read():
        async with DcgmScraper([url]) as s:
            return await s.read()

    return asyncio.run(read())


def test_dcgm_serves_it_power_over_gpus_to_the_runtime_scraper() -> None:
    proc = start_until_ready(
        _emulate("dcgm", "--port", "0", "--gpus", "16", "--it-power-mw", "12.5", "--seed", "3"),
        env=ENV,
    )
    try:
        host, port = _address(proc)
        reading = _scrape(f"http://{host}:{port}/metrics")
    finally:
        code = _stop(proc, signal.SIGTERM)
    assert code == 0
    assert reading.gpu_count == 16
    assert reading.it_power_w == pytest.approx(12.5e6, rel=1e-9)


def test_dcgm_trace_is_facility_power_divided_by_pue(tmp_path: Path) -> None:
    trace = _write_trace(tmp_path / "flat.csv", [(0, 12.0), (60, 12.0)])
    proc = start_until_ready(_emulate("dcgm", "--port", "0", "--ai-trace", trace, "--pue", "1.2"), env=ENV)
    try:
        reading = _scrape("http://{}:{}/metrics".format(*_address(proc)))
    finally:
        _stop(proc, signal.SIGTERM)
    assert reading.gpu_count == 8  # one host by default
    assert reading.it_power_w == pytest.approx(10e6, rel=1e-9)  # 12 MW facility / 1.2


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_emulate(*args), env=ENV, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["meter", "--port", "70000"], ["--port", "65535"]),
        (["meter", "--unit-id", "300"], ["--unit-id", "247"]),
        (["meter", "--ai-mw", "nan"], ["--ai-mw", "finite"]),
        (["meter", "--miners-mw", "-1"], ["--miners-mw", ">= 0"]),
        (["meter", "--noise-mw", "-0.1"], ["--noise-mw", ">= 0"]),
        (["meter", "--trip-in-s", "5", "--nadir-hz", "60.2"], ["--nadir-hz", "--frequency-hz"]),
        (["meter", "--ai-trace", "no_such_trace.csv"], ["no_such_trace.csv", "not found"]),
        (["meter", "--ai-trace", "{trace}", "--import-mw", "3"], ["--ai-trace", "--import-mw"]),
        (["dcgm", "--port", "-1"], ["--port"]),
        (["dcgm", "--gpus", "0"], ["--gpus"]),
    ],
)
def test_bad_options_exit_2_naming_the_option(tmp_path: Path, args: list[str], names: list[str]) -> None:
    trace = _write_trace(tmp_path / "ok.csv", [(0, 1.0), (10, 2.0)])
    result = _run(*(a.format(trace=trace) for a in args))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ready:" not in result.stdout
    for name in names:
        assert name in result.stderr


def test_a_bad_trace_names_its_file_and_row(tmp_path: Path) -> None:
    trace = _write_trace(tmp_path / "backwards.csv", [(0, 1.0), (10, 2.0), (5, 3.0)])
    result = _run("dcgm", "--ai-trace", trace)
    assert result.returncode == 2
    assert "backwards.csv" in result.stderr and "row 3" in result.stderr


@pytest.mark.parametrize("device", ["meter", "dcgm"])
def test_a_busy_port_is_a_clear_error(device: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = _run(device, "--port", port)
    assert result.returncode == 2
    assert "ready:" not in result.stdout
    assert port in result.stderr and "error:" in result.stderr


@pytest.mark.parametrize(("device", "missing"), [("meter", "pymodbus"), ("dcgm", "aiohttp")])
def test_a_missing_live_extra_is_named(device: str, missing: str) -> None:
    """The import is made to fail as if the package were not installed."""
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "from ballast.cli import app\n"
        f"app(['emulate', {device!r}, '--port', '0', '--duration-s', '0.1'])"
    )
    result = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "ready:" not in result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert missing in line and "pip install 'ballast[live]'" in line
