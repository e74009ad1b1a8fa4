"""``ballast smoothing SCENARIO``: miners, a battery and a GPU floor on the same AI waveform,
each alone and combined; before/after table, optional JSON and an HTML page with the plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ballast.cli._common import fail, needs_extras, write_json

SCHEMA = "ballast.smoothing/1"
smoothing_app = typer.Typer(help="Smoothing studies at 1 s or finer.", no_args_is_help=True)


def _cell(value: float) -> str:
    if value != value:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.3g}"


@smoothing_app.command("compare")
def compare(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML path, or a bundled example name.")],
    out: Annotated[Path | None, typer.Option(help="Write compare.csv and smoothing.html here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
) -> None:
    """Compare none / miners / battery / floor and their combinations on one waveform."""
    from rich.console import Console
    from rich.table import Table

    from ballast.backtest import load_scenario
    from ballast.data.errors import DataError
    from ballast.scenario import ScenarioError
    from ballast.sim.smoothing import compare_cases

    try:
        scn = load_scenario(scenario)
        if scn.smoothing is None:
            raise ScenarioError(f"{scenario}: no 'smoothing' section (ramp limits) to compare against")
        table, runs = compare_cases(scn, base_dir=scn.base_dir)
    except (ScenarioError, DataError) as exc:
        fail(str(exc))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "compare.csv")
        _write_html(scn, table, runs, out / "smoothing.html")
    if as_json:
        doc = {"schema": SCHEMA, "scenario": scn.name, "resolution": scn.run.resolution,
               "cases": {c: {k: (None if v != v else float(v)) for k, v in table[c].items()}
                         for c in table.columns if c != "unit"},
               "units": table["unit"].to_dict()}
        write_json(doc)
        return
    t = Table(title=f"Smoothing cases - {scn.name} ({scn.run.resolution})")
    t.add_column("metric")
    for c in table.columns:
        t.add_column(c, justify="left" if c == "unit" else "right")
    for k, r in table.iterrows():
        t.add_row(k, *[_cell(r[c]) if c != "unit" else r[c] for c in table.columns])
    Console(width=max(200, Console().width)).print(t)


@smoothing_app.command("sweep")
def sweep(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML path, or a bundled example name.")],
    cover: Annotated[str, typer.Option(help="Reserve cover shares, comma-separated.")] = "0,0.25,0.5,0.75,1",
    workers: Annotated[int | None, typer.Option(
        help="LocalCluster worker processes (default: one per core).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="An existing Dask scheduler, e.g. tcp://HOST:8786.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON.")] = False,
) -> None:
    """Trade compliance against mining margin: vary the held share of the sized reserve (one
    run per cover on the sweep engine: a Dask LocalCluster, or --scheduler)."""
    from rich.console import Console
    from rich.table import Table

    from ballast.backtest import load_scenario
    from ballast.data.errors import DataError
    from ballast.examples import scenario_path
    from ballast.scenario import ScenarioError

    try:
        covers = [float(x) for x in cover.split(",") if x.strip()]
        if not covers or any(not 0 <= c <= 1 for c in covers):
            raise ValueError(f"--cover {cover!r}: give shares between 0 and 1, e.g. 0,0.5,1")
        if workers is not None and scheduler is not None:
            raise ValueError("give --workers (a local cluster) or --scheduler, not both")
        path = scenario_path(scenario)
        scn = load_scenario(path)
        if scn.smoothing is None:
            raise ValueError(f"{path}: the scenario has no smoothing section")
        with needs_extras("smoothing sweep"):
            from ballast.sweep.engine import open_client
        from ballast.sweep.smoothing import sweep_reserve_cover

        with open_client(workers, scheduler) as client:
            rows = sweep_reserve_cover(scn, path, covers, client)
    except (ScenarioError, DataError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        write_json({"schema": "ballast.smoothing-sweep/1", "scenario": scn.name,
                    "rows": rows.to_dict(orient="records")})
        return
    t = Table(title=f"Reserve cover sweep - {scn.name}")
    for col in rows.columns:
        t.add_column(col, justify="left" if col == "case" else "right")
    for r in rows.itertuples(index=False):
        t.add_row(*[v if isinstance(v, str) else _cell(float(v)) for v in r])
    Console(width=max(140, Console().width)).print(t)


def _write_html(scn, table, runs, path: Path) -> None:
    from plotly.offline import get_plotlyjs

    from ballast.report.html import CSS
    from ballast.report.smoothing import sections

    first = next(iter(runs.values())).run
    parts = sections({k: v.run for k, v in runs.items()}, table, runs["none"].run.ai_mw
                     if "none" in runs else first.ai_mw, first.dt_s, first.start_utc,
                     scn.site.import_limit_mw)
    body = "".join(f"<section><h2>{t}</h2>{c}</section>" for t, c in parts)
    path.write_text("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                    f"<title>Ballast smoothing - {scn.name}</title><style>{CSS}</style>"
                    f"<script>{get_plotlyjs()}</script></head><body><header><h1>Smoothing - "
                    f"{scn.name}</h1></header><main>{body}</main></body></html>", encoding="utf-8")
