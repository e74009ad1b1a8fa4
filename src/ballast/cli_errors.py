"""The one way a command reports bad input: ``error: MESSAGE`` on one stderr line, exit code 2."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape


def fail(message: str) -> NoReturn:
    """Print the message and exit with code 2. The message is escaped (it quotes user text such
    as ``renewables[wind]`` or ``[/tmp/x]``, which rich would read as markup) and not wrapped,
    so a one-line message stays one line at any terminal width."""
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                               soft_wrap=True)
    raise typer.Exit(code=2)
