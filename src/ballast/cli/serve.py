"""``ballast serve``: the live runtime, API and dashboard (needs the ``live`` extra).

    ballast serve --emulate                       # demo: emulated West Texas campus
    ballast serve --emulate --scenario my.yaml --devices-per-group 50
    ballast serve --config site.yaml              # real devices

The store defaults to ``ballast.db`` in the user data folder (platformdirs
``user_data_dir("ballast")``, e.g. ``~/.local/share/ballast``); a site config's relative
``store.dsn`` resolves against the config's folder; ``--store`` overrides both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ballast.cli._common import needs_extras

TOKEN_OPTIONS = (("operator_token", "--operator-token", "BALLAST_OPERATOR_TOKEN"),
                 ("viewer_token", "--viewer-token", "BALLAST_VIEWER_TOKEN"))


def _command_line_tokens(ctx: typer.Context) -> list[str]:
    """The token options given on the command line itself (not through the environment): each
    gets a warning, since every local user sees a command line (``ps``, /proc/PID/cmdline)."""
    given = []
    for name, flag, env in TOKEN_OPTIONS:
        source = ctx.get_parameter_source(name)  # click's ParameterSource (typer may vendor it)
        if getattr(source, "name", None) == "COMMANDLINE":
            given.append(flag)
            typer.echo(f"warning: {flag} on the command line is visible to every user of this "
                       f"machine (ps); set {env} in the environment instead (or use token_env "
                       "or token_file in a site config)", err=True)
    return given


def serve(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="Site config YAML.")] = None,
    emulate: Annotated[bool, typer.Option("--emulate", help="Start emulated devices on "
                                          "loopback and run against them.")] = False,
    scenario: Annotated[str, typer.Option("--scenario", help="Scenario (path or bundled "
                                          "example) for --emulate without --config.")
                        ] = "west_texas_2024",
    devices_per_group: Annotated[int, typer.Option(help="--emulate: emulated miners per "
                                                   "group; each stands for count/N real ones.")
                                 ] = 20,
    ip_prefix: Annotated[str, typer.Option(help="--emulate: loopback prefix for miners.")
                         ] = "127.20",
    miner_port: Annotated[int, typer.Option(help="--emulate: LuxOS port.")] = 4028,
    meter_port: Annotated[int, typer.Option(help="--emulate: Modbus meter port.")] = 5020,
    dcgm_port: Annotated[int, typer.Option(help="--emulate: DCGM exporter port.")] = 9400,
    time_scale: Annotated[float, typer.Option(help="--emulate: device time runs this much "
                                              "faster than wall time (ramps, sessions).")] = 1.0,
    ai_checkpoints: Annotated[float, typer.Option(help="--emulate: every this many seconds "
                                                  "the AI load dips to 40% for 15 s (training "
                                                  "checkpoints); 0 = flat.")] = 0.0,
    store: Annotated[str | None, typer.Option(help="Store DSN or SQLite path (overrides the "
                                              "config; default: ballast.db in the user data "
                                              "folder, never the current folder).")] = None,
    host: Annotated[str | None, typer.Option(help="API listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="API port (0 = any free port).")] = None,
    tick_s: Annotated[float | None, typer.Option(help="Control tick in seconds.")] = None,
    operator_token: Annotated[str | None, typer.Option(
        envvar="BALLAST_OPERATOR_TOKEN", show_envvar=True, help="--emulate without --config: "
        "operator token (default: a random one, printed). Prefer the environment variable: "
        "a command line is visible to every local user.")] = None,
    viewer_token: Annotated[str | None, typer.Option(
        envvar="BALLAST_VIEWER_TOKEN", show_envvar=True, help="--emulate without --config: "
        "viewer token (default: a random one, printed). Prefer the environment variable.")
    ] = None,
    uvloop: Annotated[bool, typer.Option("--uvloop/--no-uvloop", help="Run on uvloop when "
                                         "it is installed (the serve extra; cheaper TCP "
                                         "connections), else asyncio's loop with a logged "
                                         "warning. --no-uvloop: asyncio's loop.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a campus live: runtime, store and API (and emulated devices with --emulate)."""
    options = {k: v for k, v in locals().items() if k != "ctx"}  # every option, by name
    options["on_command_line"] = _command_line_tokens(ctx)
    with needs_extras("serve"):
        from ballast.live.serve import serve_command

        serve_command(**options)
