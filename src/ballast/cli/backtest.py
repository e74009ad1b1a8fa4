"""``ballast simulate``, ``ballast scenarios``, ``ballast market``: the analyst's commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ballast.cli._common import fail, wide_console, write_json


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


def kpi_rich_table(results):  # -> rich.table.Table
    """Ballast beside each baseline: all on (with the delta, as before), strike price and
    optimum when the results carry them."""
    from rich.markup import escape
    from rich.table import Table

    extra = [c for c in ("strike_price", "optimum") if c in results.kpis.columns]
    sim = results.simulation
    table = Table(title=f"KPIs - {sim.scenario.name} (policy {sim.policy})", show_lines=False)
    cols = [("KPI", "left"), ("Ballast", "right"), ("Baseline (all on)" if extra else "Baseline", "right"),
            ("Delta", "right")]
    cols += [({"strike_price": "Strike price", "optimum": "Optimum"}[c], "right") for c in extra]
    for col, justify in (*cols, ("Unit", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    for name, row in results.kpis.iterrows():
        delta = row.delta
        style = "" if delta == 0 or delta != delta else ("green" if delta > 0 else "yellow")
        table.add_row(escape(name), _fmt(row.ballast, row.unit), _fmt(row.baseline, row.unit),
                      f"[{style}]{_fmt(delta, row.unit)}[/]" if style else _fmt(delta, row.unit),
                      *(_fmt(None if row[c] != row[c] else row[c], row.unit) for c in extra),
                      row.unit)
    return table


def headline_lines(b) -> list[str]:
    """The rule controller's gain over practice and regret against the optimum, in words
    (``optimize.against.Baselines``)."""
    def usd(x: float) -> str:
        return "not settled (net margin NaN; see the notes)" if x != x else f"{x:,.0f} USD"

    gain = f"gain over practice (strike price): {usd(b.gain_over_practice_usd)}"
    if b.gain_over_practice_pct == b.gain_over_practice_pct:  # not NaN
        gain += f" ({b.gain_over_practice_pct:.2g} % of the strike-price net margin)"
    lines = [gain]
    if b.optimum is not None:
        regret = f"regret against the optimum: {usd(b.regret_usd)}"
        if b.regret_pct == b.regret_pct:
            regret += f" ({b.regret_pct:.1f} % of the optimum's flexibility value)"
        lines.append(regret)
    return lines


def simulate(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML path, or a bundled example name.")],
    out: Annotated[Path | None, typer.Option(help="Write results and report.html here.")] = None,
    start: Annotated[datetime | None, typer.Option(help="Override run start (UTC).")] = None,
    end: Annotated[datetime | None, typer.Option(help="Override run end (UTC, exclusive).")] = None,
    resolution: Annotated[str | None, typer.Option(help="Override step, e.g. 15min, 5min, 1min.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    report: Annotated[bool, typer.Option("--report/--no-report",
                                         help="Write report.html (with --out).")] = True,
    optimum: Annotated[bool, typer.Option("--optimum/--no-optimum",
                                          help="Solve the perfect-foresight optimum (HiGHS).")] = True,
    policy: Annotated[str, typer.Option(
        help="rules: the rule stack; rolling: the rules following a day-ahead schedule from the "
             "optimiser (48-h windows every 24 h), below safety and grid programs.")] = "rules",
    forecast: Annotated[str, typer.Option(
        help="Price the rolling schedule sees: perfect, dam (ERCOT day-ahead, bundled "
             "2021-2024) or persistence (the last settled day repeated). --policy rolling "
             "only.")] = "perfect",
) -> None:
    """Backtest a scenario against three baselines: all on, strike price (the fleet managers'
    practice) and the perfect-foresight optimum."""
    from ballast.backtest import load_scenario, with_run
    from ballast.backtest import simulate as run_backtest
    from ballast.data.errors import DataError
    from ballast.scenario import ScenarioError

    if policy != "rules" or forecast != "perfect":  # checked before any data is read
        from ballast.optimize import OptimizeError
        from ballast.optimize.schedule import policy_schedule

        try:
            policy_schedule(policy, forecast)
        except OptimizeError as exc:
            fail(f"--{exc}")
    try:
        scn = with_run(load_scenario(scenario), resolution=resolution, start=start, end=end)
        n = len(scn.run.index())
        run = {"optimum": optimum, "policy": policy, "forecast": forecast}
        if as_json or n < 50_000:
            results = run_backtest(scn, **run)
        else:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("[bold]simulating"), BarColumn(),
                          TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                          console=wide_console(stderr=True), transient=True) as bar:
                task = bar.add_task("sim", total=2 * n)
                results = run_backtest(scn, **run,
                                       progress=lambda done, total: bar.update(task, completed=done))
    except (ScenarioError, DataError) as exc:
        fail(str(exc))
    except Exception as exc:  # the optimiser's errors (the rolling schedule), one line too
        from ballast.optimize import OptimizeError

        if not isinstance(exc, OptimizeError):
            raise
        fail(f"policy {policy}: {exc}")
    if out is not None:
        results.write(out)
        if report:
            results.report(out / "report.html")
    if as_json:
        write_json(results.to_json())
        return
    console = wide_console()
    console.print(kpi_rich_table(results))
    for line in headline_lines(results.baselines):
        console.print(line, style="bold", highlight=False, markup=False)
    notes = [*results.notes, results.baselines.optimum_note or results.baselines.scope]
    for line in notes:  # what the margins leave out or could not settle; the optimum's scope
        console.print(f"note: {line}", style="yellow", highlight=False, markup=False)
    for note in results.attributions:
        console.print(note, style="dim", highlight=False, markup=False)
    if out is not None:
        console.print(f"results: {out}/" + ("  report: " + str(out / "report.html") if report else ""))


def scenarios(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the bundled example scenarios."""
    from ballast.examples import bundled_examples
    from ballast.scenario import ScenarioError, load_scenario

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
        write_json(rows)
        return
    from rich.table import Table

    table = Table(title="Bundled scenarios")
    for col in ("name", "period", "resolution", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], f"{r.get('start_utc', '')[:10]} → {r.get('end_utc', '')[:10]}",
                      r.get("resolution", ""), r.get("description", r.get("error", "")))
    wide_console().print(table)


def market(
    date_: Annotated[str, typer.Option("--date", help="UTC day, YYYY-MM-DD.")],
    fees: Annotated[str, typer.Option(help="series: the day's real fees (Coin Metrics); "
                                           "share: a flat share of revenue.")] = "series",
    fee_share: Annotated[float, typer.Option(help="With --fees share: fees as a share of "
                                                  "miner revenue.")] = 0.03,
    as_json: Annotated[bool, typer.Option("--json", help="Print the day as JSON.")] = False,
) -> None:
    """One day's BTC price, difficulty, subsidy, fees, hashprice, breakevens and ERCOT prices,
    as a backtest uses them that day (each daily Bitcoin row once published: the previous
    day's)."""
    from datetime import date

    from ballast.data.errors import DataError
    from ballast.market import market_day

    try:
        day = date.fromisoformat(date_)
    except ValueError:
        fail(f"--date {date_!r}: expected YYYY-MM-DD")
    if fees not in ("series", "share"):
        fail(f"--fees {fees!r}: expected series or share")
    try:
        info = market_day(day, fees, fee_share)  # type: ignore[arg-type]
    except (DataError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        write_json(info)
        return
    from rich.table import Table

    def num(key: str, fmt: str, unit: str = "") -> str:
        value = info[key]
        return "none (null in --json)" if value is None else f"{value:{fmt}}{unit}"

    t = Table(title=f"Market on {day} (UTC)", show_header=False)
    if fees == "series":
        t.add_row("Bitcoin data", "none published yet" if info["bitcoin_day_utc"] is None else
                  f"day {info['bitcoin_day_utc']}, published {info['published_utc']}")
    t.add_row("BTC price", num("btc_price_usd", ",.0f", " USD"))
    t.add_row("difficulty", num("difficulty", ".4e"))
    t.add_row("block subsidy", num("block_subsidy_btc", ".4f", " BTC per block"))
    share = info["fee_share_of_revenue"]
    t.add_row("fees", num("fees_btc_per_block", ".4f", " BTC per block") + (
        "" if share is None else f" ({share:.1%} of revenue)"))
    t.add_row("hashprice", num("hashprice_usd_per_ph_day", ".2f", " USD/PH/day"))
    for name, be in info["breakeven_usd_per_mwh"].items():
        t.add_row(f"breakeven {name}", "none" if be is None else f"{be:.1f} USD/MWh")
    for hub, key in (("HB_HUBAVG", "ercot_price_usd_per_mwh"),
                     ("HB_WEST", "ercot_hb_west_price_usd_per_mwh")):
        p = info[key]
        t.add_row(f"ERCOT RT {hub}", "none: no bundled price covers this day (null in --json)"
                  if not p else f"mean {p['mean']:.2f}, min {p['min']:.2f}, max {p['max']:.2f}, "
                  f"p95 {p['p95']:.2f} USD/MWh over {p['intervals']} intervals")
    console = wide_console()
    console.print(t)
    if info["attribution"]:
        console.print(info["attribution"], style="dim", highlight=False, markup=False)
