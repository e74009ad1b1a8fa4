"""One emulated device on its own, for ``ballast emulate meter``, ``ballast emulate dcgm`` and
``ballast emulate battery``.

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

STEP_S = 0.05  # how often a trace and noise are sampled into the device [s] (EmulatedSite's step)
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


async def _every_step(update: Callable[[float], None]) -> None:
    """Every STEP_S, ``update`` the device with the time since the start [s]."""
    t0_s = time.monotonic()
    while True:
        update(time.monotonic() - t0_s)
        await asyncio.sleep(STEP_S)


async def _serve(
    start_line: str,
    update: Callable[[float], None] | None,
    duration_s: float | None,
    announce: Announce,
) -> None:
    task = asyncio.get_running_loop().create_task(_every_step(update)) if update else None
    if task is not None:
        await asyncio.sleep(0)  # the first step is in the device before "ready"
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
    """What the meter serves [MW]; ``import_mw`` None: AI + miners - renewables.

    ``noise_mw``: standard deviation of a fresh Gaussian error on each power channel at every
    step (a feeder given as 0 stays 0; a load never goes below 0)."""

    ai_mw: float = 0.0
    miners_mw: float = 0.0
    renewables_mw: float = 0.0
    import_mw: float | None = None
    noise_mw: float = 0.0

    def registers(self, ai_mw: float, rng: np.random.Generator | None = None) -> dict[str, float]:
        """``MeterEmulator.set_site`` arguments with the AI feeder at ``ai_mw`` (and noise when
        ``rng`` is given)."""
        sigma = self.noise_mw if rng is not None else 0.0
        ai, miners, renewables = (
            max(0.0, v + rng.normal(0.0, sigma)) if sigma > 0 and v > 0 else v
            for v in (ai_mw, self.miners_mw, self.renewables_mw)
        )
        if self.import_mw is None:
            import_mw = campus_import_mw(ai, miners, renewables)
        else:
            import_mw = self.import_mw + (rng.normal(0.0, sigma) if sigma > 0 else 0.0)
        return {
            "campus_import_power_mw": import_mw,
            "ai_feeder_power_mw": ai,
            "miners_feeder_power_mw": miners,
            "renewables_feeder_power_mw": renewables,
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
    seed: int = 0,
    duration_s: float | None = None,
    announce: Announce = _print,
) -> None:
    """Serve the Modbus TCP meter until stopped; ``announce`` gets one ``ready: ...`` line.

    ``trip_in_s``: a loss-of-generation event that many seconds after ready (frequency falls to
    ``nadir_hz``; :meth:`MeterEmulator.step_loss_of_generation`)."""
    rng = np.random.default_rng(seed) if values.noise_mw > 0 else None
    async with MeterEmulator(
        host, port, device_id=device_id, voltage_kv=voltage_kv, nominal_frequency_hz=frequency_hz
    ) as meter:

        def update(elapsed_s: float) -> None:
            ai_mw = trace.at_mw(elapsed_s) if trace else values.ai_mw
            meter.set_site(**values.registers(ai_mw, rng))

        update(0.0)
        if trip_in_s is not None:
            meter.step_loss_of_generation(nadir_hz, start_in_s=trip_in_s)
        source = trace.describe() if trace else f"AI {values.ai_mw:g} MW"
        import_mw = values.registers(values.ai_mw)["campus_import_power_mw"]
        line = (
            f"ready: Modbus TCP meter on {meter.host}:{meter.port} unit {device_id}: {source}, "
            f"miners {values.miners_mw:g} MW, renewables {values.renewables_mw:g} MW, "
            + ("import follows" if trace and values.import_mw is None else f"import {import_mw:g} MW")
            + (f", noise {values.noise_mw:g} MW" if rng is not None else "")
            + f", {voltage_kv:g} kV, {frequency_hz:g} Hz"
        )
        await _serve(line, update if trace or rng is not None else None, duration_s, announce)


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

        def update(elapsed_s: float) -> None:
            dcgm.set_it_power_w(trace.at_mw(elapsed_s) / pue * 1e6)

        source = f"{trace.describe()}, divided by PUE {pue:g}" if trace else f"{it_power_mw:g} MW IT power"
        line = f"ready: DCGM exporter on {dcgm.url}: {gpus} GPUs, {source}"
        await _serve(line, update if trace else None, duration_s, announce)


async def serve_battery(
    host: str,
    port: int,
    *,
    power_mw: float,
    energy_mwh: float,
    round_trip_efficiency: float,
    initial_soc_share: float,
    device_id: int,
    duration_s: float | None = None,
    announce: Announce = _print,
) -> None:
    """Serve the SunSpec battery inverter (:mod:`ballast.live.emulators.battery`) until
    stopped; its state of charge follows the setpoints it is sent."""
    from ballast.live.emulators.battery import BatteryEmulator

    async with BatteryEmulator(
        host,
        port,
        power_mw=power_mw,
        energy_mwh=energy_mwh,
        round_trip_efficiency=round_trip_efficiency,
        initial_soc_share=initial_soc_share,
        device_id=device_id,
    ) as battery:
        line = (
            f"ready: SunSpec battery inverter on {battery.host}:{battery.port} unit "
            f"{device_id}: {power_mw:g} MW, {energy_mwh:g} MWh, round trip "
            f"{round_trip_efficiency:g}, state of charge {initial_soc_share:.0%}"
        )
        await _serve(line, lambda _elapsed_s: battery.advance(), duration_s, announce)
