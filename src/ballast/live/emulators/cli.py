"""Command-line entry for the emulators; the main CLI mounts ``emulate_app`` as ``emulate``.

ballast emulate miners --count 1000 --model s19jpro --model s21
ballast emulate meter --port 5020 --ai-mw 60 --miners-mw 25
ballast emulate dcgm --port 9400 --gpus 64 --ai-trace job.csv --pue 1.2
ballast emulate battery --port 5021 --power-mw 20 --energy-mwh 40

Each prints one ``ready: ...`` line with its address, then serves until SIGINT/SIGTERM or
``--duration-s``. Bad options exit 2 with one ``error: ...`` line. Only typer, the standard
library and import-light modules load here: ``ballast --help`` must stay fast.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Sequence

import typer

from ballast.live.emulators.catalog import CATALOG, DEFAULT_MODELS, LUXOS_PORT
from ballast.live.emulators.meter_map import (
    DEVICE_ID,
    DEVICE_ID_MAX,
    NOMINAL_FREQUENCY_HZ,
    REGISTER_MAP,
    VOLTAGE_KV,
)

_MODEL_HELP = f"Catalog model(s), assigned in turn: {', '.join(sorted(CATALOG))}"
emulate_app = typer.Typer(help="Run emulated site devices on loopback.", no_args_is_help=True)


@emulate_app.callback()
def _group() -> None:
    """Emulated LuxOS miners, the site's Modbus TCP meter, a DCGM exporter and a SunSpec
    battery inverter."""


@contextlib.contextmanager
def _exit_2_on_error() -> Iterator[None]:
    """A bad value, a missing file, a busy port or a missing ``live`` extra: one ``error:`` line
    on stderr, exit 2."""
    # here, not at the top: importing ballast.cli first would import this module half-made
    from ballast.cli._common import fail, needs_extras

    try:
        with needs_extras("emulate"):
            yield
    except (ValueError, KeyError, OSError) as e:
        fail(str(e.args[0] if isinstance(e, KeyError) and e.args else e))


def _check(
    option: str, value: float | None, *, minimum: float | None = None, above: float | None = None
) -> None:
    """Raise ValueError naming ``option`` when ``value`` is not finite or out of range."""
    if value is None:
        return
    if not math.isfinite(value):
        raise ValueError(f"{option} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{option} must be >= {minimum:g}, got {value:g}")
    if above is not None and value <= above:
        raise ValueError(f"{option} must be > {above:g}, got {value:g}")


def _load_trace(path: str | None, time_column: str, power_column: str, *conflicts: str):
    """The ``--ai-trace`` (None without one); ``conflicts``: fixed-value options also given."""
    if path is None:
        return None
    if conflicts:
        raise ValueError(
            f"--ai-trace and {' and '.join(conflicts)} conflict: with a trace the "
            "AI load (and what follows from it) comes from the trace"
        )
    from ballast.live.emulators.standalone import AiTrace

    return AiTrace.load(path, time_column, power_column)


# Assumption: small next to a campus's own second-to-second swings (an AI job swings by tens
# of MW, docs/sources.md#ai-power-swings), and far above a float32 step at 1,000 MW (6e-5 MW),
# so no two readings are the same number.
NOISE_MW = 0.05
_REGISTER_HELP = "; ".join(f"{r.address} {r.name} [{r.unit}]" for r in REGISTER_MAP)
_TRACE_HELP = (
    "Measured AI facility-power trace, CSV or Parquet (seconds from its start, MW), "
    "replayed from ready, interpolated and repeated."
)
_HOST_HELP = "Listen address."
_DURATION_HELP = "Stop after this [s]; 0 = never (until SIGINT/SIGTERM)."


async def _serve_miners(
    count: int, base_ip: str, models: Sequence[str], port: int, duration_s: float | None
) -> None:
    from ballast.live.emulators.luxos import MinerEmulator
    from ballast.live.emulators.standalone import wait_for_stop

    async with MinerEmulator(count, base_ip, models, port=port) as emu:
        print(
            f"ready: {count} emulated LuxOS miners {emu.ips[0]}..{emu.ips[-1]} port {port}",
            flush=True,
        )
        await wait_for_stop(duration_s)


def run_miner_emulator(
    count: int,
    base_ip: str = "127.0.0.2",
    models: Sequence[str] = DEFAULT_MODELS,
    *,
    port: int = LUXOS_PORT,
    duration_s: float | None = None,
    prefer_uvloop: bool = True,
) -> None:
    """Serve ``count`` emulated miners until SIGINT/SIGTERM (or ``duration_s`` [s]); blocks.

    Prints one ``ready: ...`` line on stdout once every miner listens.
    """
    from ballast.live.drivers.aio import run as aio_run

    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    aio_run(
        _serve_miners(count, base_ip, list(models), port, duration_s),
        prefer_uvloop=prefer_uvloop,
    )


@emulate_app.command("miners")
def miners(
    count: int = typer.Option(..., "--count", min=1, help="Number of miners."),
    base_ip: str = typer.Option("127.0.0.2", "--base-ip", help="First loopback address."),
    model: list[str] = typer.Option(  # noqa: B008
        list(DEFAULT_MODELS), "--model", help=_MODEL_HELP
    ),
    port: int = typer.Option(LUXOS_PORT, "--port"),
    duration_s: float = typer.Option(0.0, "--duration-s", help="Stop after this; 0 = never."),
    uvloop: bool = typer.Option(True, "--uvloop/--no-uvloop", help="Use uvloop if installed."),
) -> None:
    """Serve N emulated LuxOS miners on 127.0.0.x:4028 until interrupted."""
    with _exit_2_on_error():
        run_miner_emulator(
            count, base_ip, model, port=port, duration_s=duration_s or None, prefer_uvloop=uvloop
        )


@emulate_app.command(
    "meter",
    epilog=f"Register map (float32, big-endian words, function code "
    f"3 or 4, address [unit]): {_REGISTER_HELP}.",
)
def meter(
    host: str = typer.Option("127.0.0.1", "--host", help=_HOST_HELP),
    port: int = typer.Option(
        5020,
        "--port",
        min=0,
        max=65535,
        help="Modbus TCP port; 0 = any free port (the ready line says which).",
    ),
    unit_id: int = typer.Option(
        DEVICE_ID,
        "--unit-id",
        min=0,
        max=DEVICE_ID_MAX,
        help="Modbus unit (device) id the meter answers; 0 answers any.",
    ),
    ai_mw: float | None = typer.Option(None, "--ai-mw", help="AI feeder load [MW]. Default 0."),
    miners_mw: float = typer.Option(0.0, "--miners-mw", help="Miner feeder load [MW]."),
    renewables_mw: float = typer.Option(0.0, "--renewables-mw", help="On-site renewable generation [MW]."),
    import_mw: float | None = typer.Option(
        None,
        "--import-mw",
        help="Campus import [MW], + import / - export. Default: AI + miners - renewables.",
    ),
    voltage_kv: float = typer.Option(VOLTAGE_KV, "--voltage-kv", help="POI voltage [kV]."),
    frequency_hz: float = typer.Option(
        NOMINAL_FREQUENCY_HZ, "--frequency-hz", help="Grid frequency outside an event [Hz]."
    ),
    trip_in_s: float | None = typer.Option(
        None,
        "--trip-in-s",
        help="A loss-of-generation event this long after ready [s]: the "
        "frequency falls to --nadir-hz in 4 s, holds 10 s, recovers over 60 s.",
    ),
    nadir_hz: float = typer.Option(59.6, "--nadir-hz", help="Lowest frequency of --trip-in-s."),
    ai_trace: str | None = typer.Option(
        None, "--ai-trace", help=f"AI feeder load from a {_TRACE_HELP[0].lower()}{_TRACE_HELP[1:]}"
    ),
    trace_time_column: str = typer.Option("time_s", "--trace-time-column"),
    trace_power_column: str = typer.Option("power_mw", "--trace-power-column"),
    noise_mw: float = typer.Option(
        NOISE_MW,
        "--noise-mw",
        help="Standard deviation of a fresh error on each power reading [MW], so the values "
        "move as a live meter's do (the runtime rejects a meter whose values stay identical as "
        "frozen); 0 = exact values.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise."),
    duration_s: float = typer.Option(0.0, "--duration-s", min=0, help=_DURATION_HELP),
) -> None:
    """Serve the site meter over Modbus TCP (the register map the runtime reads)."""
    with _exit_2_on_error():
        for option, value in (
            ("--ai-mw", ai_mw),
            ("--miners-mw", miners_mw),
            ("--renewables-mw", renewables_mw),
        ):
            _check(option, value, minimum=0.0)
        _check("--import-mw", import_mw)
        _check("--voltage-kv", voltage_kv, above=0.0)
        _check("--frequency-hz", frequency_hz, above=0.0)
        _check("--trip-in-s", trip_in_s, minimum=0.0)
        _check("--nadir-hz", nadir_hz, above=0.0)
        _check("--noise-mw", noise_mw, minimum=0.0)
        if trip_in_s is not None and not nadir_hz < frequency_hz:
            raise ValueError(f"--nadir-hz ({nadir_hz:g}) must be below --frequency-hz ({frequency_hz:g})")
        given = [name for name, v in (("--ai-mw", ai_mw), ("--import-mw", import_mw)) if v is not None]
        trace = _load_trace(ai_trace, trace_time_column, trace_power_column, *given)
        import asyncio

        from ballast.live.emulators.standalone import MeterValues, serve_meter

        values = MeterValues(ai_mw or 0.0, miners_mw, renewables_mw, import_mw, noise_mw)
        asyncio.run(
            serve_meter(
                host,
                port,
                values,
                device_id=unit_id,
                voltage_kv=voltage_kv,
                frequency_hz=frequency_hz,
                trace=trace,
                trip_in_s=trip_in_s,
                nadir_hz=nadir_hz,
                seed=seed,
                duration_s=duration_s or None,
            )
        )


@emulate_app.command(
    "dcgm",
    epilog="Metric: DCGM_FI_DEV_POWER_USAGE [W], one gauge per GPU "
    "with dcgm-exporter's labels (gpu, UUID, device, modelName, Hostname); the "
    "runtime sums them.",
)
def dcgm(
    host: str = typer.Option("127.0.0.1", "--host", help=_HOST_HELP),
    port: int = typer.Option(
        9400, "--port", min=0, max=65535, help="HTTP port; 0 = any free port (the ready line says which)."
    ),
    gpus: int = typer.Option(8, "--gpus", min=1, help="Number of GPUs reporting."),
    it_power_mw: float | None = typer.Option(
        None, "--it-power-mw", help="Total GPU (IT) power [MW], split over the GPUs. Default 0."
    ),
    ai_trace: str | None = typer.Option(
        None, "--ai-trace", help=f"{_TRACE_HELP} The GPUs report it divided by --pue."
    ),
    pue: float = typer.Option(
        1.0, "--pue", min=1.0, max=3.0, help="Facility/IT factor that turns --ai-trace into IT power [-]."
    ),
    trace_time_column: str = typer.Option("time_s", "--trace-time-column"),
    trace_power_column: str = typer.Option("power_mw", "--trace-power-column"),
    seed: int = typer.Option(0, "--seed", help="Seed of the per-GPU spread and UUIDs."),
    duration_s: float = typer.Option(0.0, "--duration-s", min=0, help=_DURATION_HELP),
) -> None:
    """Serve a dcgm-exporter endpoint: per-GPU power as Prometheus text on GET /metrics."""
    with _exit_2_on_error():
        _check("--it-power-mw", it_power_mw, minimum=0.0)
        _check("--pue", pue)
        given = ["--it-power-mw"] if it_power_mw is not None else []
        trace = _load_trace(ai_trace, trace_time_column, trace_power_column, *given)
        import asyncio

        from ballast.live.emulators.standalone import serve_dcgm

        asyncio.run(
            serve_dcgm(
                host,
                port,
                gpus=gpus,
                it_power_mw=it_power_mw or 0.0,
                trace=trace,
                pue=pue,
                seed=seed,
                duration_s=duration_s or None,
            )
        )


@emulate_app.command(
    "battery",
    epilog="SunSpec holding registers from 40000: 'SunS', model 1 (common), model 124 "
    "(storage controls: StorCtl_Mod, OutWRte/InWRte in % of WChaMax, InOutWRte_RvrtTms), "
    "model 802 (battery base: SoC, W discharge positive, State, Hb), end 0xFFFF. See "
    "ballast.live.emulators.battery_map.",
)
def battery(
    host: str = typer.Option("127.0.0.1", "--host", help=_HOST_HELP),
    port: int = typer.Option(
        5021, "--port", min=0, max=65535, help="Modbus TCP port; 0 = any free port (see the ready line)."
    ),
    unit_id: int = typer.Option(
        DEVICE_ID, "--unit-id", min=0, max=DEVICE_ID_MAX, help="Modbus unit (device) id; 0 answers any."
    ),
    power_mw: float = typer.Option(..., "--power-mw", help="Inverter power, both directions [MW]."),
    energy_mwh: float = typer.Option(..., "--energy-mwh", help="Usable energy [MWh]."),
    round_trip_efficiency: float = typer.Option(
        0.88, "--round-trip-efficiency", help="Round-trip efficiency [-] (the scenario battery's default)."
    ),
    soc: float = typer.Option(0.5, "--soc", help="Initial state of charge [-], 0-1."),
    duration_s: float = typer.Option(0.0, "--duration-s", min=0, help=_DURATION_HELP),
) -> None:
    """Serve a battery inverter over SunSpec Modbus TCP; its charge follows its setpoints."""
    with _exit_2_on_error():
        _check("--power-mw", power_mw, above=0.0)
        _check("--energy-mwh", energy_mwh, above=0.0)
        _check("--round-trip-efficiency", round_trip_efficiency, above=0.0)
        if round_trip_efficiency > 1:
            raise ValueError(f"--round-trip-efficiency must be <= 1, got {round_trip_efficiency:g}")
        _check("--soc", soc, minimum=0.0)
        if soc > 1:
            raise ValueError(f"--soc must be <= 1, got {soc:g}")
        import asyncio

        from ballast.live.emulators.standalone import serve_battery

        asyncio.run(
            serve_battery(
                host,
                port,
                power_mw=power_mw,
                energy_mwh=energy_mwh,
                round_trip_efficiency=round_trip_efficiency,
                initial_soc_share=soc,
                device_id=unit_id,
                duration_s=duration_s or None,
            )
        )


def main() -> None:  # ``python -m ballast.live.emulators.cli``
    emulate_app(prog_name="ballast emulate")


if __name__ == "__main__":
    main()
    sys.exit(0)
