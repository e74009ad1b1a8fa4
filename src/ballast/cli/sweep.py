"""``ballast sweep``: the command's options; the work is in ``ballast.sweep.cli`` (imported when
the command runs, with Dask only once a sweep starts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def sweep(
    sweep_file: Annotated[str, typer.Argument(help="Sweep YAML path, or a bundled sweep name.")],
    out: Annotated[Path | None, typer.Option(help="Output folder. Default out/sweeps/NAME.")] = None,
    workers: Annotated[int | None, typer.Option(
        help="LocalCluster worker processes (default: one per core).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="An existing Dask scheduler, e.g. tcp://HOST:8786.")] = None,
    resume: Annotated[bool, typer.Option(help="Skip the runs already stored in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary object as JSON.")] = False,
    report: Annotated[bool, typer.Option(help="Write report.html.")] = True,
) -> None:
    """Run many scenarios (grid, samples or cases) on Dask and collect one table."""
    from ballast.sweep.cli import run_sweep_command

    run_sweep_command(sweep_file, out, workers, scheduler, resume, as_json, report)
