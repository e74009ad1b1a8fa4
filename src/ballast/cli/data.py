"""``ballast data``: what is bundled, for which dates, from whom, under which licence."""

from __future__ import annotations

from typing import Annotated

import typer

from ballast.cli._common import wide_console, write_json


def _minute(iso: str | None) -> str:
    return "-" if iso is None else iso[:16].replace("T", " ")


def data(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List each bundled series: quantity and unit, resolution, first and last instant, gaps,
    source and licence."""
    from ballast.data.catalog import describe

    rows = describe()
    if as_json:
        write_json({"schema": "ballast.data/1", "series": rows})
        return
    from rich.table import Table

    console = wide_console()
    console.print("Bundled data (times UTC, interval starts; "
                  "gaps = missing intervals)")
    for file in dict.fromkeys(r["file"] for r in rows):  # one table per file, in catalog order
        mine = [r for r in rows if r["file"] == file]
        t = Table(title=file, title_justify="left", caption_justify="left",
                  caption=f"source: {mine[0]['source']}; licence: {mine[0]['licence']}")
        for col in ("column", "quantity", "unit", "resolution", "first", "last", "gaps"):
            t.add_column(col, overflow="fold")
        for r in mine:
            t.add_row(r["column"], r["quantity"], r["unit"], r["resolution"] or "-",
                      _minute(r["first_utc"]), _minute(r["last_utc"]),
                      "-" if r["gaps"] is None else f"{r['gaps']:,}")
        console.print(t)
