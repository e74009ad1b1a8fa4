"""Command-line entry for the emulators; the main CLI mounts ``emulate_app`` as ``emulate``.

ballast emulate miners --count 1000 --model s19jpro --model s21
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Sequence

import typer

from ballast.live.emulators.catalog import CATALOG, DEFAULT_MODELS, LUXOS_PORT

_MODEL_HELP = f"Catalog model(s), assigned in turn: {', '.join(sorted(CATALOG))}"
emulate_app = typer.Typer(help="Run emulated site devices on loopback.", no_args_is_help=True)


@emulate_app.callback()
def _group() -> None:
    """Emulated LuxOS miners (more devices to come: meter, DCGM)."""


async def _serve_miners(
    count: int, base_ip: str, models: Sequence[str], port: int, duration_s: float | None
) -> None:
    import asyncio

    from ballast.live.emulators.luxos import MinerEmulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with MinerEmulator(count, base_ip, models, port=port) as emu:
        print(
            f"ready: {count} emulated LuxOS miners {emu.ips[0]}..{emu.ips[-1]} port {port}",
            flush=True,
        )
        if duration_s is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration_s)


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
    try:
        run_miner_emulator(
            count, base_ip, model, port=port, duration_s=duration_s or None, prefer_uvloop=uvloop
        )
    except (ValueError, KeyError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(2) from None


def main() -> None:  # ``python -m ballast.live.emulators.cli``
    emulate_app(prog_name="ballast emulate")


if __name__ == "__main__":
    main()
    sys.exit(0)
