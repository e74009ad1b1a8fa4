"""One emulated device on its own, for ``ballast emulate meter`` and ``ballast emulate dcgm``.

So that ``ballast serve --config`` can run against real miners with an emulated meter and AI
telemetry (or emulated miners with the real meter): the meter serves the register map of
:mod:`ballast.live.emulators.meter`, the DCGM exporter the metric of
:mod:`ballast.live.emulators.dcgm`. Values are fixed, or the AI load follows a measured trace
(``ballast.data.traces``: seconds from its start against facility MW, repeated when it ends).
There is no site physics here: the meter does not see real miners, its miner feeder shows the
value it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ballast.data.traces import read_trace, replay_mw
from ballast.live.emulators.dcgm import DcgmEmulator
from ballast.live.emulators.meter import MeterEmulator, campus_import_mw

TRACE_STEP_S = 0.05  # how often a trace is sampled into the device [s] (EmulatedSite's step)
Announce = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


async def wait_for_stop(duration_s: float | None) -> None:
    """Return on SIGINT or SIGTERM, or after ``duration_s`` [s] (None: no time limit)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if duration_s is None:
        await stop.wait()
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration_s)


@dataclass(frozen=True)
class AiTrace:
    """A measured AI facility-power trace, replayed from the moment the device is ready."""

    source: str
    t_s: np.ndarray
    power_mw: np.ndarray

    @classmethod
    def load(cls, source: str, time_column: str = "time_s", power_column: str = "power_mw") -> AiTrace:
        """Read and validate ``source`` (CSV or Parquet; ``bundled:NAME``); raises DataError."""
        t_s, power_mw = read_trace(source, time_column, power_column, None)
        return cls(source, t_s, power_mw)

    def at_mw(self, elapsed_s: float) -> float:
        return float(replay_mw(elapsed_s, self.t_s, self.power_mw))

    def describe(self) -> str:
        return f"AI load from {self.source} ({len(self.t_s)} rows over {self.t_s[-1]:g} s, repeating)"


async def _follow(trace: AiTrace, apply: Callable[[float], None]) -> None:
    """Every TRACE_STEP_S, ``apply`` the trace's value at the time since the start [MW]."""
    t0_s = time.monotonic()
    while True:
        apply(trace.at_mw(time.monotonic() - t0_s))
        await asyncio.sleep(TRACE_STEP_S)


async def _serve(
    start_line: str,
    trace: AiTrace | None,
    apply: Callable[[float], None],
    duration_s: float | None,
    announce: Announce,
) -> None:
    task = asyncio.get_running_loop().create_task(_follow(trace, apply)) if trace else None
    if task is not None:
        await asyncio.sleep(0)  # the first sample is in the device before "ready"
    announce(start_line)
    try:
        await wait_for_stop(duration_s)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass(frozen=True)
class MeterValues:
    """What the meter serves [MW]; ``import_mw`` None: AI + miners - renewables."""

    ai_mw: float = 0.0
    miners_mw: float = 0.0
    renewables_mw: float = 0.0
    import_mw: float | None = None

    def registers(self, ai_mw: float) -> dict[str, float]:
        """``MeterEmulator.set_site`` arguments with the AI feeder at ``ai_mw``."""
        import_mw = (
            campus_import_mw(ai_mw, self.miners_mw, self.renewables_mw)
            if self.import_mw is None
            else self.import_mw
        )
        return {
            "campus_import_power_mw": import_mw,
            "ai_feeder_power_mw": ai_mw,
            "miners_feeder_power_mw": self.miners_mw,
            "renewables_feeder_power_mw": self.renewables_mw,
        }


async def serve_meter(
    host: str,
    port: int,
    values: MeterValues,
    *,
    device_id: int,
    voltage_kv: float,
    frequency_hz: float,
    trace: AiTrace | None = None,
    trip_in_s: float | None = None,
    nadir_hz: float = 59.6,
    duration_s: float | None = None,
    announce: Announce = _print,
) -> None:
    """Serve the Modbus TCP meter until stopped; ``announce`` gets one ``ready: ...`` line.

    ``trip_in_s``: a loss-of-generation event that many seconds after ready (frequency falls to
    ``nadir_hz``; :meth:`MeterEmulator.step_loss_of_generation`)."""
    async with MeterEmulator(
        host, port, device_id=device_id, voltage_kv=voltage_kv, nominal_frequency_hz=frequency_hz
    ) as meter:

        def apply(ai_mw: float) -> None:
            meter.set_site(**values.registers(ai_mw))

        apply(values.ai_mw)
        if trip_in_s is not None:
            meter.step_loss_of_generation(nadir_hz, start_in_s=trip_in_s)
        source = trace.describe() if trace else f"AI {values.ai_mw:g} MW"
        regs = values.registers(values.ai_mw)
        line = (
            f"ready: Modbus TCP meter on {meter.host}:{meter.port} unit {device_id}: {source}, "
            f"miners {values.miners_mw:g} MW, renewables {values.renewables_mw:g} MW, "
            + (
                "import follows"
                if trace and values.import_mw is None
                else f"import {regs['campus_import_power_mw']:g} MW"
            )
            + f", {voltage_kv:g} kV, {frequency_hz:g} Hz"
        )
        await _serve(line, trace, apply, duration_s, announce)


async def serve_dcgm(
    host: str,
    port: int,
    *,
    gpus: int,
    it_power_mw: float = 0.0,
    trace: AiTrace | None = None,
    pue: float = 1.0,
    seed: int = 0,
    duration_s: float | None = None,
    announce: Announce = _print,
) -> None:
    """Serve the DCGM exporter until stopped; ``announce`` gets one ``ready: ...`` line. With
    a trace the GPUs report the trace's facility power divided by ``pue`` (the IT power)."""
    async with DcgmEmulator(gpus, host, port, it_power_w=it_power_mw * 1e6, seed=seed) as dcgm:

        def apply(facility_mw: float) -> None:
            dcgm.set_it_power_w(facility_mw / pue * 1e6)

        source = f"{trace.describe()}, divided by PUE {pue:g}" if trace else f"{it_power_mw:g} MW IT power"
        line = f"ready: DCGM exporter on {dcgm.url}: {gpus} GPUs, {source}"
        await _serve(line, trace, apply, duration_s, announce)
