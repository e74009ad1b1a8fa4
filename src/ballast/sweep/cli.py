"""``ballast sweep SWEEP.yaml [--out DIR] [--workers N | --scheduler tcp://HOST:8786] [--resume]
[--json]``: many backtests on Dask, one table. Dask is imported only when the sweep runs.

Exit codes: 0 every run stored; 1 some runs failed (see failures.csv); 2 bad input (sweep
document, options, output folder); 130 interrupted (finished runs are kept: ``--resume``).
``--json`` prints a summary object (schema ``ballast.sweep/1``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ballast.sweep.document import SweepError, find_sweep, load_sweep

SUMMARY_SCHEMA = "ballast.sweep/1"
SUMMARY_KPIS = ("net_margin_usd", "delta.net_margin_usd", "btc_mined", "peak_import_mw", "co2_t")


def _fail(message: str, code: int = 2) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=code)


def summary(plan, outcome, out: Path, client_info: dict, report_path: Path | None) -> dict:
    runs = outcome.runs
    kpis = {}
    for k in dict.fromkeys((plan.sweep.report.kpi, *SUMMARY_KPIS)):
        if k in runs and len(runs):
            col = runs[k].astype("float64")
            kpis[k] = {"min": float(col.min()), "median": float(col.median()),
                       "max": float(col.max()), "unit": outcome.units.get(k, "")}
    walls = outcome.run_wall_s
    return {
        "schema": SUMMARY_SCHEMA, "name": plan.sweep.name, "sweep": str(plan.path),
        "base": str(plan.base_path), "out": str(out), "runs_total": outcome.total,
        "runs_stored": len(runs), "runs_ran": outcome.ran, "runs_resumed": outcome.skipped,
        "runs_failed": len(outcome.failures), "tasks": outcome.tasks,
        "wall_s": round(outcome.wall_s, 3),
        "mean_run_s": round(sum(walls) / len(walls), 4) if walls else None,
        **client_info,
        "files": {"runs": str(out / "runs.parquet"), "failures": str(out / "failures.csv"),
                  "report": str(report_path) if report_path else None},
        "kpis": kpis,
    }


def run_sweep_command(sweep_file: str, out: Path | None, workers: int | None,
                      scheduler: str | None, resume: bool, as_json: bool, report: bool) -> None:
    """``ballast sweep`` (options in ``ballast.cli.sweep``)."""
    err = Console(stderr=True, soft_wrap=True)
    if workers is not None and scheduler is not None:
        _fail("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if workers is not None and workers < 1:
        _fail(f"--workers {workers}: need at least 1")
    path = find_sweep(sweep_file) or Path(sweep_file)
    try:
        plan = load_sweep(path)
    except SweepError as exc:
        _fail(str(exc))
        return
    out = out or Path("out") / "sweeps" / path.stem
    from ballast.sweep.store import check_out_dir

    try:
        check_out_dir(out, plan, resume=resume)
    except SweepError as exc:
        _fail(str(exc))
    from ballast.cli._common import needs_extras

    with needs_extras("sweep"):
        import distributed  # noqa: F401  (the 'dask' extra; a missing one is named)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ballast.sweep.engine import open_client, run_sweep

    try:
        with open_client(workers, scheduler) as client:
            info = {"scheduler": client.scheduler.address,
                    "workers": len(client.nthreads()),
                    "dashboard": client.dashboard_link}
            err.print(f"sweep [bold]{plan.sweep.name}[/]: {len(plan.runs)} runs on "
                      f"{info['workers']} worker(s) at {info['scheduler']}", highlight=False)
            err.print(f"Dask dashboard: {info['dashboard']}", highlight=False)
            with Progress(TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                          console=err) as bar:
                task = bar.add_task("runs", total=None, failed=0)
                failed = 0

                def step(done: int, total: int, result) -> None:
                    nonlocal failed
                    failed += len(result.failures) if result is not None else 0
                    bar.update(task, completed=done, total=total, failed=failed)

                outcome = run_sweep(plan, client, out, resume=resume, on_result=step)
    except SweepError as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        err.print(f"interrupted: the finished runs are stored in {out}/; continue with --resume")
        raise typer.Exit(code=130) from None
    except OSError as exc:
        _fail(f"cannot reach the Dask scheduler {scheduler or '(local)'}: {exc}")
        return
    report_path = None
    if report and len(outcome.runs):
        from ballast.sweep.report import write_sweep_report

        report_path = write_sweep_report(plan, outcome.runs, outcome.failures, outcome.units,
                                         out / "report.html")
    doc = summary(plan, outcome, out, info, report_path)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        _print_summary(doc)
    if len(outcome.failures):
        err.print(f"{len(outcome.failures)} run(s) failed: {out / 'failures.csv'}", highlight=False)
        raise typer.Exit(code=1)


def _print_summary(doc: dict) -> None:
    console = Console()
    t = Table(title=f"Sweep {doc['name']}: {doc['runs_stored']}/{doc['runs_total']} runs stored, "
              f"{doc['runs_failed']} failed, {doc['runs_resumed']} resumed, {doc['wall_s']:.1f} s")
    for col in ("KPI", "min", "median", "max", "unit"):
        t.add_column(col, justify="left" if col in ("KPI", "unit") else "right")
    for k, v in doc["kpis"].items():
        t.add_row(k, *(f"{v[s]:,.2f}" if abs(v[s]) < 1e3 else f"{v[s]:,.0f}"
                       for s in ("min", "median", "max")), v["unit"])
    console.print(t)
    files = doc["files"]
    console.print(f"runs: {files['runs']}  failures: {files['failures']}"
                  + (f"  report: {files['report']}" if files["report"] else ""), highlight=False,
                  soft_wrap=True)
