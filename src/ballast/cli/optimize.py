"""``ballast optimize``: the perfect-foresight optimum beside the rule controller."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ballast.cli._common import fail, wide_console, write_json


def optimize(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML path, or a bundled example name.")],
    out: Annotated[
        Path | None, typer.Option(help="Write optimum.parquet, optimize.json and optimize_kpis.csv here.")
    ] = None,
    start: Annotated[datetime | None, typer.Option(help="Override run start (UTC).")] = None,
    end: Annotated[datetime | None, typer.Option(help="Override run end (UTC, exclusive).")] = None,
    resolution: Annotated[str | None, typer.Option(help="Override step, e.g. 1h, 15min.")] = None,
    horizon: Annotated[
        str, typer.Option(help="perfect: one LP over the run; rolling: 48-h windows every 24 h.")
    ] = "perfect",
    forecast: Annotated[
        str,
        typer.Option(
            help="Price each rolling window sees: perfect, dam (ERCOT day-ahead, bundled "
            "2021-2024) or persistence (the last settled day repeated). Rolling horizon only."
        ),
    ] = "perfect",
    time_limit: Annotated[float | None, typer.Option(help="HiGHS time limit [s].")] = None,
    min_times: Annotated[
        bool,
        typer.Option(
            "--min-times",
            help="Whole miners with the groups' minimum on/off times (a MILP; small runs only).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison as JSON (ballast.optimize/1).")
    ] = False,
) -> None:
    """Solve the site's perfect-foresight dispatch and show it beside the rule controller."""
    from ballast.backtest import load_scenario, with_run
    from ballast.data.errors import DataError
    from ballast.optimize import OptimizeError, compare
    from ballast.scenario import ScenarioError

    try:
        scn = with_run(load_scenario(scenario), resolution=resolution, start=start, end=end)
        result = compare(
            scn, time_limit_s=time_limit, horizon=horizon, min_times=min_times, forecast=forecast
        )
    except (ScenarioError, DataError, OptimizeError) as exc:
        fail(str(exc))
    if out is not None:
        result.write(out)
    if as_json:
        write_json(result.to_json())
        return
    from rich.markup import escape
    from rich.table import Table

    from ballast.cli.backtest import _fmt

    table = Table(title=f"Rules against the optimum ({horizon} horizon) - {scn.name}")
    for col, justify in (
        ("KPI", "left"),
        ("Rules", "right"),
        ("Strike price", "right"),
        ("Optimum", "right"),
        ("Optimum - rules", "right"),
        ("Unit", "left"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)
    for name, row in result.table.iterrows():
        table.add_row(
            escape(name),
            _fmt(row.rules, row.unit),
            _fmt(row.strike_price, row.unit),
            _fmt(row.optimum, row.unit),
            _fmt(row.delta, row.unit),
            row.unit,
        )
    console = wide_console()
    console.print(table)
    pct = result.regret_pct
    share = "" if pct != pct else f" ({pct:.1f} % of the optimum's flexibility value)"
    console.print(f"regret of the rules: {result.regret_usd:,.0f} USD{share}", highlight=False)
    console.print(
        f"gain of the rules over practice (strike price): {result.gain_over_practice_usd:,.0f} USD",
        highlight=False,
    )
    for note in result.optimum.notes:  # what this optimum models only in part
        console.print(f"note: {note}", style="yellow", highlight=False, markup=False)
    if out is not None:
        console.print(f"results: {out}/", highlight=False)
