"""Command line: ``ballast simulate``, ``ballast scenarios``, ``ballast market``.

``--json`` output is stable (schemas ``ballast.results/1`` and ``ballast.market/1``; README).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ballast.cli_errors import fail as _fail
from ballast.data.errors import DataError
from ballast.examples import bundled_examples, find_example
from ballast.live.emulators.cli import emulate_app
from ballast.scenario import ScenarioError, load_scenario

app = typer.Typer(help="Ballast: run hybrid AI + Bitcoin-mining campuses.", no_args_is_help=True,
                  add_completion=False)
app.add_typer(emulate_app, name="emulate")  # ballast emulate miners --count N
console = Console()
if not console.is_terminal:  # pipes, CI logs: do not squeeze numbers into 80 columns
    console = Console(width=140)
err = Console(stderr=True)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("USD",):
        return f"{value:,.0f}"
    if unit == "BTC":
        return f"{value:,.2f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def kpi_rich_table(results) -> Table:
    table = Table(title=f"KPIs - {results.simulation.scenario.name}", show_lines=False)
    for col, justify in (("KPI", "left"), ("Ballast", "right"), ("Baseline", "right"),
                         ("Delta", "right"), ("Unit", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    for name, row in results.kpis.iterrows():
        delta = row.delta
        style = "" if delta == 0 or delta != delta else ("green" if delta > 0 else "yellow")
        table.add_row(escape(name), _fmt(row.ballast, row.unit), _fmt(row.baseline, row.unit),
                      f"[{style}]{_fmt(delta, row.unit)}[/]" if style else _fmt(delta, row.unit),
                      row.unit)
    return table


@app.command()
def simulate(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML path, or a bundled example name.")],
    out: Annotated[Path | None, typer.Option(help="Write results and report.html here.")] = None,
    start: Annotated[datetime | None, typer.Option(help="Override run start (UTC).")] = None,
    end: Annotated[datetime | None, typer.Option(help="Override run end (UTC, exclusive).")] = None,
    resolution: Annotated[str | None, typer.Option(help="Override step, e.g. 15min, 5min, 1min.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    report: Annotated[bool, typer.Option(help="Write report.html (with --out).")] = True,
) -> None:
    """Backtest a scenario against its business-as-usual baseline."""
    from ballast.report.html import write_report
    from ballast.sim import Results
    from ballast.sim import simulate as run_sim

    path = find_example(scenario) or Path(scenario)
    try:
        scn = load_scenario(path)
        overrides = {}
        for key, value in (("start", start), ("end", end)):
            if value is not None:
                overrides[key] = value if value.tzinfo else value.replace(
                    tzinfo=__import__("datetime").timezone.utc)
        if resolution is not None:
            overrides["resolution"] = resolution
        if overrides:
            from ballast.scenario import parse_scenario
            data = scn.model_dump(mode="json")
            data["run"].update({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                for k, v in overrides.items()})
            scn = parse_scenario(data, f"{path} (with command-line overrides)")
        n = len(scn.run.index())
        if as_json or n < 50_000:
            sim = run_sim(scn, base_dir=path.parent)
        else:
            with Progress(TextColumn("[bold]simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                          TimeElapsedColumn(), console=err, transient=True) as bar:
                task = bar.add_task("sim", total=2 * n)
                sim = run_sim(scn, base_dir=path.parent,
                              progress=lambda done, total: bar.update(task, completed=done))
        results = Results.from_simulation(sim)
    except (ScenarioError, DataError) as exc:
        _fail(str(exc))
        return
    if out is not None:
        results.save(out)
        if report:
            write_report(results, out / "report.html")
    if as_json:
        sys.stdout.write(json.dumps(results.to_json(), indent=2) + "\n")
        return
    console.print(kpi_rich_table(results))
    if out is not None:
        console.print(f"results: {out}/" + ("  report: " + str(out / "report.html") if report else ""))


@app.command()
def scenarios(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the bundled example scenarios."""
    rows = []
    for path in bundled_examples():
        try:
            scn = load_scenario(path)
            rows.append({"name": path.stem, "path": str(path), "title": scn.name,
                         "description": " ".join(scn.description.split()),
                         "start_utc": scn.run.start.isoformat(), "end_utc": scn.run.end.isoformat(),
                         "resolution": scn.run.resolution})
        except ScenarioError as exc:
            rows.append({"name": path.stem, "path": str(path), "error": str(exc)})
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="Bundled scenarios")
    for col in ("name", "period", "resolution", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], f"{r.get('start_utc', '')[:10]} → {r.get('end_utc', '')[:10]}",
                      r.get("resolution", ""), r.get("description", r.get("error", "")))
    console.print(table)


@app.command()
def market(
    date_: Annotated[str, typer.Option("--date", help="UTC day, YYYY-MM-DD.")],
    fee_share: Annotated[float, typer.Option(help="Fees as a share of miner revenue.")] = 0.03,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One day's BTC price, difficulty, subsidy, hashprice, breakevens and ERCOT prices."""
    from ballast.market import market_day

    try:
        day = date.fromisoformat(date_)
    except ValueError:
        _fail(f"--date {date_!r}: expected YYYY-MM-DD")
        return
    try:
        info = market_day(day, fee_share)
    except (DataError, ValueError) as exc:
        _fail(str(exc))
        return
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    t = Table(title=f"Market on {day} (UTC)", show_header=False)
    t.add_row("BTC price", f"{info['btc_price_usd']:,.0f} USD")
    t.add_row("difficulty", f"{info['difficulty']:.4e}")
    fees = f"(+ fees {info['fee_share_of_revenue']:.0%} of revenue)"
    t.add_row("block subsidy", f"{info['block_subsidy_btc']} BTC {fees}")
    t.add_row("hashprice", f"{info['hashprice_usd_per_ph_day']:.2f} USD/PH/day")
    for name, be in info["breakeven_usd_per_mwh"].items():
        t.add_row(f"breakeven {name}", f"{be:.1f} USD/MWh")
    p = info["ercot_price_usd_per_mwh"]
    if p:
        t.add_row("ERCOT RT HB_HUBAVG", f"mean {p['mean']:.2f}, min {p['min']:.2f}, max {p['max']:.2f}, "
                  f"p95 {p['p95']:.2f} USD/MWh over {p['intervals']} intervals")
    else:
        t.add_row("ERCOT RT HB_HUBAVG", "no bundled price data for this day")
    console.print(t)


from ballast.programs.cli import app as programs_app  # noqa: E402  (grid programs sub-app)

app.add_typer(programs_app, name="programs")

from ballast.live.serve import serve as _serve  # noqa: E402  (live runtime: ballast serve)

app.command("serve")(_serve)


def main() -> None:  # pragma: no cover
    app()


from ballast.smoothing_cli import smoothing_app  # noqa: E402  (sub-app registered last)

app.add_typer(smoothing_app, name="smoothing")
