"""The ``ballast`` command line.

Every command module imports only ``typer`` and the standard library at load time; a command
imports what it needs when it runs, so ``ballast --help`` is instant and ``ballast simulate``
never loads the live stack (FastAPI, uvicorn, pymodbus, psycopg, pyasic, openleadr). A command
whose optional extra is missing says which one to install (``_common.needs_extras``).

``--json`` output is stable (schemas ``ballast.results/1``, ``ballast.optimize/1``,
``ballast.market/1``, ``ballast.data/1`` and ``ballast.plan/1``; README).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ballast import __version__
from ballast.cli.backtest import market, scenarios, simulate
from ballast.cli.data import data
from ballast.cli.evidence import evidence
from ballast.cli.optimize import optimize
from ballast.cli.plan import plan
from ballast.cli.programs import app as programs_app
from ballast.cli.serve import serve
from ballast.cli.smoothing import smoothing_app
from ballast.cli.sweep import sweep
from ballast.live.emulators.cli import emulate_app
from ballast.studies.cli import study_app

app = typer.Typer(help="Ballast: run hybrid AI + Bitcoin-mining campuses.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ballast {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Ballast: run hybrid AI + Bitcoin-mining campuses."""


app.command()(simulate)
app.command()(scenarios)
app.command()(market)
app.command(name="data")(data)  # ballast data [--json]: what is bundled
app.command()(serve)
app.command()(evidence)  # ballast evidence --event ID [--method M] [--format csv]
app.command()(sweep)
app.command()(optimize)  # ballast optimize SCENARIO: the optimum beside the rules
app.command()(plan)  # ballast plan PLAN [--out DIR] [--json]
app.add_typer(programs_app, name="programs")
app.add_typer(smoothing_app, name="smoothing")
app.add_typer(emulate_app, name="emulate")  # ballast emulate miners --count N
app.add_typer(study_app, name="study")  # ballast study headroom|frequency|balancing


def main() -> None:  # pragma: no cover  (console script and python -m ballast)
    app(prog_name="ballast")
