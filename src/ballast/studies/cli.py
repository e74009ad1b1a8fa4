"""``ballast study ...``: grid studies for planners (a typer sub-app; heavy imports are lazy)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ballast.cli._common import fail, wide_console
from ballast.studies.errors import StudyError

RATES = "0.25,0.5,1,5"
study_app = typer.Typer(help="Grid studies: flexible-load headroom, frequency events, balancing.",
                        no_args_is_help=True)


def _write(out: Path, stem: str, doc: dict, tables: dict[str, object], page: str) -> None:
    """STEM.json, one CSV per table and STEM.html in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    for name, frame in tables.items():
        frame.to_csv(out / f"{name}.csv", index=False)
    (out / f"{stem}.html").write_text(page, encoding="utf-8")


def _rates(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise StudyError(f"--rates {text!r}: expected numbers in %, e.g. 0.25,0.5,1,5") from None


@study_app.command("headroom")
def headroom(
    ba: Annotated[str, typer.Option("--ba", help="Balancing authority: ERCO, PJM, MISO, SWPP, CISO.")],
    rates: Annotated[str, typer.Option(help="Curtailment rates [% of the new load's energy].")] = RATES,
    years: Annotated[str, typer.Option(help="Local years, FIRST-LAST (data: 2016-2024).")] = "2016-2024",
    ai_share: Annotated[float, typer.Option(help="Hybrid campus: AI share never curtailed [%].")] = 50.0,
    out: Annotated[Path | None, typer.Option(help="Write headroom.json/.csv and headroom.html here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Curtailment-enabled headroom of a BA (Norris et al. 2025, Duke) and a hybrid AI+miner campus."""
    from ballast.studies.demand import parse_years
    from ballast.studies.headroom_study import headroom_study

    try:
        study = headroom_study(ba, _rates(rates), parse_years(years), ai_share)
    except StudyError as exc:
        fail(str(exc))
    doc = study.to_json()
    if out is not None:
        from ballast.studies.report import headroom_html

        _write(out, "headroom", doc, {"headroom": study.table(),
                                      "headroom_hybrid": study.hybrid_table()},
               headroom_html(study))
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    from rich.table import Table

    t = Table(title=f"Curtailment-enabled headroom - {study.ba} {years} (Norris et al. 2025)")
    for col in ("rate %", "headroom MW", "% of peak", "curtailed h/yr", "mean event h",
                "max event h", ">=50 % kept", ">=75 % kept", ">=90 % kept"):
        t.add_column(col, justify="right")
    for r in study.rates:
        s = r.retained_share_pct
        t.add_row(f"{r.rate_pct:g}", f"{r.headroom_mw:,.0f}", f"{r.load_factor_pct:.1f}",
                  f"{r.curtailed_hours_per_year:,.1f}", f"{r.mean_event_h:.1f}", str(r.max_event_h),
                  f"{s['50']:.0f} %", f"{s['75']:.0f} %", f"{s['90']:.0f} %")
    console = wide_console()
    console.print(t)
    h = doc["hybrid"]
    console.print(f"hybrid campus, AI share {ai_share:g} % never curtailed: firm headroom "
                  f"{h['firm_headroom_mw']:,.0f} MW; " + "; ".join(
                      f"{r['rate_pct']:g} %: {r['total_mw']:,.0f} MW ({r['limited_by']})"
                      for r in h["rates"]))
    if out is not None:
        console.print(f"written: {out}/headroom.json, headroom.csv, headroom_hybrid.csv, headroom.html")


@study_app.command("frequency")
def frequency(
    study: Annotated[str, typer.Argument(help="Study YAML path, or 'ercot' for the bundled study.")],
    out: Annotated[Path | None, typer.Option(
        help="Write frequency.json/.csv and frequency.html here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    monte_carlo: Annotated[int | None, typer.Option(
        "--monte-carlo", help="Instead: N random generation trips (size, inertia, fleet MW).")] = None,
    seed: Annotated[int, typer.Option(help="Monte Carlo seed; each event's is spawned from it.")] = 0,
    workers: Annotated[int | None, typer.Option(
        help="Run the events on a LocalCluster of this many worker processes when more than 1 "
             "(default: in-process).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Run the events on a running Dask scheduler, tcp://HOST:8786.")] = None,
) -> None:
    """Frequency events (SFR model) with and without a miner fleet on under-frequency relays."""
    from ballast.studies.frequency_doc import bundled_study_path, load_study
    from ballast.studies.frequency_study import run_study

    path = bundled_study_path() if study.lower() == "ercot" else Path(study)
    try:
        doc_study = load_study(path)
        if monte_carlo is not None:
            _monte_carlo(doc_study, monte_carlo, seed, workers, scheduler, out, as_json)
            return
        with _engine_client(workers, scheduler) as client:
            results = run_study(doc_study, client=client)
    except StudyError as exc:
        fail(str(exc))
    doc = results.to_json()
    if out is not None:
        from ballast.studies.report import frequency_html

        _write(out, "frequency", doc, {"frequency": results.table(),
                                       "frequency_fleet_sweep": results.sweep_table()},
               frequency_html(results))
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    from rich.table import Table

    t = Table(title=f"Frequency events - {results.study.name}")
    for col in ("event", "case", "nadir Hz", "peak Hz", "RoCoF Hz/s", "settling Hz",
                *(f"s < {x:g} Hz" for x in results.study.run.report_thresholds_hz),
                "UFLS MW", "miners MW"):
        t.add_column(col, justify="left" if col in ("event", "case") else "right")
    for r in doc["events"]:
        label = r["event"] + (f" @ {r['forcing_hz']:g} Hz" if r.get("forcing_hz") else "")
        t.add_row(label, r["case"], f"{r['nadir_hz']:.3f}", f"{r['peak_hz']:.3f}",
                  f"{r['rocof_hz_per_s']:.3f}", f"{r['settling_hz']:.3f}",
                  *(f"{r[f'seconds_below_{x:g}_hz']:.2f}" for x in results.study.run.report_thresholds_hz),
                  f"{r['ufls_shed_mw']:,.0f}", f"{r['miners_tripped_mw']:,.0f}")
    console = wide_console()
    console.print(t)
    for r in doc["events"]:
        if "published_nadir_hz" in r and r["case"] == "without miners":
            console.print(f"{r['event']}: nadir {r['nadir_hz']:.3f} Hz (published "
                          f"{r['published_nadir_hz']:.3f}), "
                          + ", ".join(f"{r[k.replace('published_', '')]:.0f} s below "
                                      f"{k.split('_')[-2]} Hz (published {r[k]:.0f})"
                                      for k in r if k.startswith("published_seconds_below_")))
    if out is not None:
        console.print(f"written: {out}/frequency.json, frequency.csv, frequency_fleet_sweep.csv, "
                      "frequency.html")


@contextmanager
def _engine_client(workers: int | None, scheduler: str | None) -> Iterator:
    """The sweep engine's Dask client for ``--scheduler`` or ``--workers`` > 1 (a LocalCluster),
    else None: in-process, where a handful of short events do not pay for starting workers."""
    if workers is not None and workers < 1:
        raise StudyError(f"--workers {workers}: give at least 1 worker process")
    if workers is not None and scheduler is not None:
        raise StudyError("--workers, --scheduler: give one (a local cluster of N workers, or a "
                         "running scheduler)")
    if scheduler is None and (workers or 1) == 1:
        yield None
        return
    from ballast.sweep.engine import open_client

    with ExitStack() as stack:
        try:
            client = stack.enter_context(open_client(workers, scheduler))
        except OSError as exc:  # no scheduler at that address
            raise StudyError(f"--scheduler {scheduler}: {exc}") from exc
        yield client


def _monte_carlo(study, n_events: int, seed: int, workers: int | None, scheduler: str | None,
                 out: Path | None, as_json: bool) -> None:
    """``--monte-carlo N``: the table to frequency_monte_carlo.csv, a percentile summary."""
    import time

    from ballast.studies.frequency_mc import McRanges, monte_carlo

    if not 1 <= n_events <= 1_000_000:
        raise StudyError(f"--monte-carlo {n_events}: give between 1 and 1,000,000 events")
    if seed < 0:
        raise StudyError(f"--seed {seed}: must be >= 0")
    t0 = time.perf_counter()
    with _engine_client(workers, scheduler) as client:
        table = monte_carlo(study, n_events, seed, client=client)
    wall_s = time.perf_counter() - t0
    cols = ["nadir_hz", "rocof_hz_per_s", "settling_hz",
            *(f"seconds_below_{x:g}_hz" for x in study.run.report_thresholds_hz),
            "ufls_shed_mw", "miners_tripped_mw"]
    pct = table[cols].quantile([0.01, 0.05, 0.5, 0.95, 0.99])
    r = McRanges()
    doc = {"schema": "ballast.study.frequency-monte-carlo/1", "study": study.name,
           "events": n_events, "seed": seed, "wall_s": wall_s,
           "ranges": {"trip_mw": r.trip_mw, "inertia_h_s": r.inertia_h_s, "fleet_mw": r.fleet_mw},
           "percentiles": {f"p{round(q * 100)}": pct.loc[q].to_dict() for q in pct.index},
           "share_with_ufls": float((table.ufls_shed_mw > 0).mean())}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "frequency_monte_carlo.csv", index=False)
        (out / "frequency_monte_carlo.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    from rich.table import Table

    t = Table(title=f"Monte Carlo of {n_events:,} generation trips - {study.name} (seed {seed})")
    t.add_column("percentile")
    for c in ("nadir Hz", "RoCoF Hz/s", "settling Hz",
              *(f"s < {x:g} Hz" for x in study.run.report_thresholds_hz), "UFLS MW", "miners MW"):
        t.add_column(c, justify="right")
    for q in pct.index:
        t.add_row(f"p{round(q * 100)}", *(f"{pct.loc[q, c]:.3f}" for c in cols))
    console = wide_console()
    console.print(t)
    console.print(f"events with UFLS: {doc['share_with_ufls']:.1%}; wall {wall_s:.1f} s")
    if out is not None:
        console.print(f"written: {out}/frequency_monte_carlo.csv, frequency_monte_carlo.json")


@study_app.command("balancing")
def balancing(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML (1 s or finer), or a bundled example name.")],
    hours: Annotated[float, typer.Option(help="Simulated hours per map cell.")] = 1.0,
    miners_mw: Annotated[float, typer.Option(
        help="System level: MW of miners in the interconnection.")] = 2000.0,
    limit_mhz: Annotated[float, typer.Option(help="System level: allowed frequency swing [+/- mHz].")] = 10.0,
    out: Annotated[Path | None, typer.Option(
        help="Write balancing.json/.csv and balancing.html here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Capability map of a campus's miners (period x amplitude -> residual, mining energy and
    mining margin [USD] lost)."""
    from ballast.data.errors import DataError
    from ballast.examples import find_example
    from ballast.scenario import ScenarioError, load_scenario
    from ballast.studies.balancing import balancing_map, system_table
    from ballast.studies.frequency_doc import bundled_study_path, load_study

    path = find_example(scenario) or Path(scenario)
    try:
        if not (hours > 0 and miners_mw >= 0 and limit_mhz > 0):
            raise StudyError("--hours and --limit-mhz must be > 0 and --miners-mw >= 0")
        scn = load_scenario(path)
        if scn.ai is None or not scn.miners:
            raise StudyError(f"{path}: the scenario needs an 'ai' section and miners")
        bmap = balancing_map(scn, hours=hours, base_dir=path.parent)
        system = system_table(bmap, load_study(bundled_study_path()), miners_mw, limit_mhz)
    except (StudyError, ScenarioError, DataError) as exc:
        fail(str(exc))
    note = (f"Interconnection: the bundled ERCOT frequency study (SFR model); limit +/- "
            f"{limit_mhz:g} mHz (a stated choice, not a published standard); {miners_mw:,.0f} MW "
            "of miners spread like this campus's fleet.")
    doc = {"schema": "ballast.study.balancing/1", "scenario": bmap.scenario,
           "fleet_mw": bmap.fleet_mw, "sentence": bmap.sentence(), "hours_per_cell": hours,
           "cells": bmap.table().to_dict(orient="records"),
           "system": {"miners_mw": miners_mw, "limit_mhz": limit_mhz,
                      "rows": system.to_dict(orient="records")}}
    if out is not None:
        from ballast.studies.report import balancing_html

        _write(out, "balancing", doc, {"balancing": bmap.table(), "balancing_system": system},
               balancing_html(bmap, system, note))
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    from rich.table import Table

    t = Table(title=f"Residual share of the AI swing - {bmap.scenario} ({bmap.fleet_mw:,.0f} MW miners)")
    t.add_column("period s \\ amplitude MW")
    for a in bmap.amplitudes_mw:
        t.add_column(f"{a:.3g}", justify="right")
    for i, p in enumerate(bmap.periods_s):
        t.add_row(f"{p:.3g}", *(f"{v:.2f}" for v in bmap.residual[i]))
    console = wide_console()
    console.print(t)
    console.print(bmap.sentence())
    if out is not None:
        console.print(f"written: {out}/balancing.json, balancing.csv, balancing_system.csv, balancing.html")
