"""What every command shares: the consoles, one-line errors, and the optional-extra check.

Only ``typer`` and the standard library are imported here: ``ballast --help`` must stay fast.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import NoReturn

import typer

# Import names of the optional extras (pyproject.toml [project.optional-dependencies]); the
# first import that fails names the extra to install.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "live": ("fastapi", "starlette", "uvicorn", "pymodbus", "pyasic", "pyasic_rs", "aiohttp",
             "prometheus_client", "platformdirs", "swagger_ui_bundle"),
    "postgres": ("psycopg",),
    "openadr": ("openleadr",),
    "dask": ("dask", "distributed"),
}


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr (one line, no traceback) and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def extra_for(module: str | None) -> str | None:
    """The optional extra that provides top-level import ``module``, or None."""
    top = (module or "").split(".")[0]
    return next((extra for extra, mods in EXTRA_MODULES.items() if top in mods), None)


@contextlib.contextmanager
def needs_extras(command: str) -> Iterator[None]:
    """Turn a missing optional dependency into one line naming the extra to install (exit 2)."""
    try:
        yield
    except ModuleNotFoundError as exc:
        extra = extra_for(exc.name)
        if extra is None:
            raise
        fail(f"`ballast {command}` needs the optional '{extra}' dependencies ({exc.name} is "
             f"not installed): pip install 'ballast[{extra}]'")


def wide_console(stderr: bool = False):  # -> rich.console.Console (imported lazily)
    """A rich console; 140 columns when not a terminal (pipes, CI logs)."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal and not stderr:
        console = Console(width=140)
    return console


def write_json(doc: object) -> None:
    import json

    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
