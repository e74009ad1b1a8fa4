"""``ballast plan PLAN [--out DIR] [--paths N] [--seed S] [--json] [--workers N | --scheduler
URL]``: strategies over a site's life (keep mining, convert to AI hosting, hybrid),
NPV/IRR/payback and risk over price paths. With ``--workers`` or ``--scheduler`` the operations'
backtests, the price paths (in chunks) and the tornado's points run as Dask tasks through the
sweep engine.

``--json`` prints ``ballast.plan/1`` (docs/plan.md#output). Exit 2 on bad input, with nothing
written.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from ballast.cli._common import fail, wide_console, write_json


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:,.1f}"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _table(doc: dict):  # -> rich.table.Table
    from rich.markup import escape
    from rich.table import Table

    case = doc["base_case"]
    t = Table(
        title=f"Plan {escape(doc['name'])}: {doc['start_year']}-{doc['end_year']}, "
        f"case '{escape(case)}', discount rate {doc['discount_rate']:.1%} "
        f"(M USD; IRR and payback against {escape(doc['baseline'])})"
    )
    cols = [
        "strategy",
        "NPV",
        "ΔNPV",
        "IRR",
        "payback y",
        "disc. payback y",
        "capex",
        "MW converted by year",
        "ΔNPV P10/P50/P90",
        "P(NPV<0)",
    ]
    for c in cols:
        t.add_column(c, justify="left" if c in ("strategy", "MW converted by year") else "right")
    years = doc["years"]
    for s in doc["strategies"]:
        m = s["cases"][case]
        steps = [
            f"{y}:{mw:g}"
            for i, (y, mw) in enumerate(zip(years, s["converted_mw"], strict=True))
            if mw != (s["converted_mw"][i - 1] if i else 0.0)
        ]
        risk = s["risk"]
        spread = "/".join(_money(risk["delta_npv_usd"][k]) for k in ("p10", "p50", "p90")) if risk else "-"
        name = escape(s["name"]) + (" [bold green](best)[/]" if s["best"] else "")
        t.add_row(
            name,
            _money(m["npv_usd"]),
            _money(m["delta_npv_usd"]),
            _num(m["irr"], ".1%"),
            _num(m["simple_payback_years"], ".1f"),
            _num(m["discounted_payback_years"], ".1f"),
            _money(s["capex_usd"]),
            " ".join(steps) or "-",
            spread,
            _num(risk["prob_npv_negative"], ".0%") if risk else "-",
        )
    return t


def _operations_lines(doc: dict) -> list[str]:
    ops = doc["operations"]
    if ops is None:
        return []
    lines = [f"operations: backtested on {ops['scenario']} ({ops['resolution']}) per configuration:"]
    for c in ops["configurations"]:
        lines.append(
            f"  {c['mining_mw']:g} MW miners + {c['it_mw']:g} MW IT under {c['interconnect_mw']:g} MW: "
            f"uptime {c['uptime']:.1%}, price paid {c['price_ratio']:.0%} of the mean, "
            f"curtailed {c['curtailed_mwh']:,.0f} MWh, "
            f"programs {c['program_revenue_usd'] / 1e6:,.2f} M USD/yr "
            f"(reserve offers {c['reserve_offer_mw']:,.1f} MW), "
            f"revenue formula error {c['revenue_error_pct']:+.1f} %"
        )
        if c["smoothing_window"] is not None:
            lines.append(
                f"    smoothing ({c['smoothing_window']}): "
                f"{c['smoothing_minutes_in_violation']:g} min in violation "
                f"(all-on baseline {c['smoothing_minutes_in_violation_baseline']:g}), "
                f"largest ramp {c['smoothing_max_ramp_mw_per_s']:.2f} MW/s, "
                f"0.1-20 Hz share {c['smoothing_band_energy_share']:.1%}"
            )
    return lines


def _optimum_lines(doc: dict) -> list[str]:
    """The optimiser's schedule, NPV spread and what it gives up, a few lines of text."""
    o = doc["optimize"]
    if o is None:
        return []
    years = doc["years"]
    ballast_mw = o["ballast_mw"]  # MW kept as ballast each year -> MW added each year
    kept = [b - a for a, b in zip([0.0, *ballast_mw[:-1]], ballast_mw, strict=True)]

    def steps(values: list[float]) -> str:
        return " ".join(f"{y}:{v:g}" for y, v in zip(years, values, strict=True) if v) or "none"

    npv, det, milp = o["npv_usd"], o["deterministic"], o["milp"]
    goal = "expected NPV" if o["objective"] == "expected_npv" else f"CVaR {o['cvar_level']:.0%}"
    return [
        f"optimal ({goal} over {o['scenarios']} paths, {o['block_mw']:g} MW blocks): convert MW "
        f"{steps(o['convert_mw'])}; keep as ballast {steps(kept)}",
        f"  NPV P10/P50/P90 {_money(npv['p10'])}/{_money(npv['p50'])}/{_money(npv['p90'])} M USD, "
        f"mean {_money(npv['mean'])}, CVaR {_money(npv['cvar'])}, P(NPV<0) {npv['prob_negative']:.0%}",
        f"  best deterministic plan ('{det['case']}' case): convert MW {steps(det['convert_mw'])}; "
        f"objective on the paths {_money(det['objective_usd'])} vs {_money(o['objective_usd'])} "
        f"(value of the stochastic solution {_money(o['value_of_stochastic_solution_usd'])}); "
        f"'{det['case']}' NPV given up {_money(o['case_npv_given_up_usd'])} M USD",
        f"  MILP {milp['rows']} rows x {milp['columns']} columns ({milp['integer_columns']} integer, "
        f"{milp['nonzeros']} nonzeros), {milp['status']}, gap {milp['mip_gap']:.2g}",
    ]


def _dask_mapper(client):
    """A ``ballast.plan.parallel.Mapper`` on a Dask client: one task per group through the
    sweep engine's ``stream_batches`` (one retry if a worker is lost), results in order; a
    task that still fails raises its error here."""
    import uuid

    from ballast.sweep.engine import stream_batches

    def run(fn, groups, *args) -> list:
        out: list = [None] * len(groups)
        key = f"ballast-plan-{fn.__name__}-{uuid.uuid4().hex[:8]}"

        def take(i: int, result) -> None:
            if isinstance(result, BaseException):
                raise result  # the outstanding tasks are cancelled (stream_batches)
            out[i] = result

        stream_batches(client, fn, list(groups), *args, key_prefix=key, take=take)
        return out

    return run


def plan(
    plan_file: Annotated[str, typer.Argument(help="Plan YAML path, or a bundled plan name.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Write plan.json, cashflows.csv, paths.parquet and report.html here."),
    ] = None,
    paths: Annotated[
        int | None, typer.Option(help="Number of BTC price paths (default: the plan's bitcoin.paths.n).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the price paths (default: the plan's bitcoin.paths.seed).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print ballast.plan/1 as JSON.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="Run the backtests, price paths and tornado on a local Dask cluster of N workers."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="...or on a running Dask scheduler (tcp://HOST:8786)."),
    ] = None,
) -> None:
    """Compare keeping the miners, converting MW to AI hosting, and a hybrid, over the site's life."""
    from ballast.data.errors import DataError
    from ballast.plan.document import MAX_PATHS, PlanError, load_plan

    if paths is not None and not 1 <= paths <= MAX_PATHS:
        fail(f"--paths {paths}: give 1 to {MAX_PATHS:,} price paths")
    if seed is not None and seed < 0:
        fail(f"--seed {seed}: must be >= 0")
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
    if workers is not None and workers < 1:
        fail(f"--workers {workers}: give at least 1 worker process")
    if workers is not None and scheduler is not None:
        fail("--workers, --scheduler: give one (a local cluster of N workers, or a running scheduler)")
    try:
        doc_plan = load_plan(plan_file)
    except PlanError as exc:
        fail(str(exc))
    from ballast.documents import format_problems
    from ballast.plan.model import run_plan
    from ballast.plan.optimizer import OptimizeInfeasible
    from ballast.plan.output import plan_document, write_outputs
    from ballast.scenario import ScenarioError

    with ExitStack() as stack:
        map_fn, parts = None, 1
        if workers is not None or scheduler is not None:  # the sweep engine's Dask path
            from ballast.sweep.engine import open_client

            try:
                client = stack.enter_context(open_client(workers, scheduler))
            except OSError as exc:  # no scheduler at that address
                fail(f"--scheduler {scheduler}: {exc}")
            map_fn = _dask_mapper(client)
            parts = 4 * max(len(client.scheduler_info()["workers"]), 1)  # a few chunks per worker
        try:
            if as_json:
                result = run_plan(doc_plan, n_paths=paths, seed=seed, map_fn=map_fn, parts=parts)
            else:  # a spinner on stderr naming each long step (backtests, optimiser, paths)
                with wide_console(stderr=True).status("planning") as status:
                    result = run_plan(
                        doc_plan, n_paths=paths, seed=seed, progress=status.update, map_fn=map_fn, parts=parts
                    )
        except DataError as exc:
            fail(str(exc))
        except OptimizeInfeasible as exc:
            fail(format_problems(str(plan_file), "plan", [str(exc)]))
        except ScenarioError as exc:  # the operations scenario
            fail(format_problems(str(plan_file), "plan", [f"operations.scenario: {exc}"]))
        doc = plan_document(result, source=str(plan_file))
        if out is not None:
            from ballast.report.plan_report import render_plan_report

            report_html = render_plan_report(result, doc, map_fn)  # before anything is written
            doc["files"] = write_outputs(result, out, doc, report_html)
    if as_json:
        write_json(doc)
        return
    console = wide_console()
    console.print(_table(doc))
    for line in _operations_lines(doc) + _optimum_lines(doc):
        console.print(line, highlight=False, soft_wrap=True, markup=False)
    if out is not None:
        console.print(
            f"wrote {', '.join(v for v in doc['files'].values() if v)}", highlight=False, soft_wrap=True
        )
