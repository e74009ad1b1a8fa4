"""Self-contained HTML report of a sweep (plotly.js inlined once; opens offline): the KPI
distribution, a scatter of any two columns (menus), Pareto fronts of margin against CO2 and
against interconnect MW, a one-at-a-time sensitivity tornado, the best runs and the failures."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ballast.report.html import CSS
from ballast.report.style import ASSET_COLOURS, FONT
from ballast.sweep.analysis import pareto_mask, tornado
from ballast.sweep.document import SweepPlan, get_path

MARGIN = "net_margin_usd"
MAIN_KPIS = ("net_margin_usd", "delta.net_margin_usd", "mining_revenue_usd", "energy_cost_usd",
             "btc_mined", "peak_import_mw", "co2_t", "miner_energy_mwh", "import_energy_mwh",
             "renewable_curtailed_mwh", "flexibility_value_usd")


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, height=height, template="plotly_white", font={"family": FONT},
                      margin={"l": 70, "r": 20, "t": 60, "b": 50}, xaxis_title=x, yaxis_title=y,
                      legend={"orientation": "h", "y": -0.2})
    return fig


def _label(col: str, units: dict[str, str]) -> str:
    unit = units.get(col)
    return f"{col} [{unit}]" if unit else col


def _columns(runs: pd.DataFrame, params: list[str]) -> list[str]:
    kpis = [k for k in MAIN_KPIS if k in runs]
    return [c for c in [*params, *kpis] if c in runs and pd.api.types.is_numeric_dtype(runs[c])]


def distribution_figure(runs: pd.DataFrame, kpi: str, choices: list[str],
                        units: dict[str, str]) -> go.Figure:
    fig = go.Figure(go.Histogram(x=runs[kpi], marker={"color": ASSET_COLOURS["margin"]},
                                 nbinsx=min(40, max(5, len(runs) // 3))))
    buttons = [{"label": c, "method": "update",
                "args": [{"x": [runs[c].tolist()]}, {"xaxis.title.text": _label(c, units)}]}
               for c in choices]
    fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15,
                                    "active": choices.index(kpi) if kpi in choices else 0}])
    return _layout(fig, "Distribution over the runs", _label(kpi, units), "runs", 380)


def scatter_figure(runs: pd.DataFrame, x: str, y: str, choices: list[str],
                   units: dict[str, str]) -> go.Figure:
    text = [f"run {r}" for r in runs["run"]]
    fig = go.Figure(go.Scatter(x=runs[x], y=runs[y], mode="markers", text=text,
                               marker={"color": ASSET_COLOURS["import"], "size": 8, "opacity": 0.75}))
    menus = []
    for axis, current, pos in (("x", x, 0.0), ("y", y, 0.45)):
        buttons = [{"label": f"{axis}: {c}", "method": "update",
                    "args": [{axis: [runs[c].tolist()]}, {f"{axis}axis.title.text": _label(c, units)}]}
                   for c in choices]
        menus.append({"buttons": buttons, "x": pos, "xanchor": "left", "y": 1.15,
                      "active": choices.index(current) if current in choices else 0})
    fig.update_layout(updatemenus=menus)
    return _layout(fig, " ", _label(x, units), _label(y, units))


def pareto_figure(runs: pd.DataFrame, cost: str, units: dict[str, str]) -> go.Figure:
    mask = pareto_mask(runs[MARGIN].to_numpy(), runs[cost].to_numpy())
    front = runs[mask].sort_values(cost)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=runs[cost], y=runs[MARGIN] / 1e6, mode="markers", name="runs",
                             text=[f"run {r}" for r in runs["run"]],
                             marker={"color": ASSET_COLOURS["baseline"], "size": 7, "opacity": 0.5}))
    fig.add_trace(go.Scatter(x=front[cost], y=front[MARGIN] / 1e6, mode="lines+markers",
                             name="Pareto front", text=[f"run {r}" for r in front["run"]],
                             line={"color": ASSET_COLOURS["margin"], "width": 2},
                             marker={"size": 9}))
    return _layout(fig, f"Net margin against {cost}: the front keeps runs no other run beats on both",
                   _label(cost, units), "net margin [M USD]")


def tornado_figure(table: pd.DataFrame, kpi: str, method: str, units: dict[str, str]) -> go.Figure:
    """Bars from the base run's KPI to the KPI at each parameter's low and high value."""
    t = table.assign(swing=(table.kpi_high - table.kpi_low).abs()).sort_values("swing")
    base = float(t.kpi_base.mean())
    fig = go.Figure()
    for end, colour in (("low", ASSET_COLOURS["baseline"]), ("high", ASSET_COLOURS["margin"])):
        fig.add_trace(go.Bar(y=t.param, x=t[f"kpi_{end}"] - base, orientation="h",
                             name=f"parameter at its {end} value", marker={"color": colour},
                             text=[f"{v:,.6g}" for v in t[end]], textposition="auto"))
    fig.update_layout(barmode="overlay")
    return _layout(fig, f"Sensitivity of {kpi} ({method}); base {base:,.6g}",
                   f"change of {_label(kpi, units)} from the base", "", max(260, 60 * len(t) + 140))


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)

    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return html.escape(str(v))

    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<div style='overflow-x:auto'><table><tr>{head}</tr>{body}</table></div>"


def render_sweep_report(plan: SweepPlan, runs: pd.DataFrame, failures: pd.DataFrame,
                        units: dict[str, str]) -> str:
    sweep = plan.sweep
    params = [p for p in plan.param_columns if p in runs]
    kpi = sweep.report.kpi if sweep.report.kpi in runs else MARGIN
    choices = _columns(runs, params)
    sections: list[tuple[str, str]] = []
    cfg = {"displaylogo": False}

    def fig_html(fig: go.Figure) -> str:
        return fig.to_html(full_html=False, include_plotlyjs=False, config=cfg)

    if not runs.empty and kpi in runs:
        sections.append(("KPI distribution", fig_html(distribution_figure(runs, kpi, choices, units))))
        x, y = sweep.report.scatter or ((params[0] if params else "run"), kpi)
        sections.append(("Scatter", fig_html(scatter_figure(runs, x, y, choices, units))))
        fronts = [c for c in ("co2_t",) if c in runs]
        fronts.append("site.import_limit_mw" if "site.import_limit_mw" in runs else "peak_import_mw")
        if MARGIN in runs:
            sections.append(("Pareto fronts", "".join(fig_html(pareto_figure(runs, c, units))
                                                      for c in fronts if c in runs)))
        base = {}
        for p in params:
            try:
                base[p] = get_path(plan.base_doc, p)
            except (KeyError, IndexError, TypeError):
                pass
        table, method = tornado(runs, params, kpi, base)
        if not table.empty:
            note = ("<p class='note'>One at a time: each bar moves one parameter from its lowest "
                    "to its highest value with the others at the base scenario's value (or the "
                    "middle of the grid).</p>" if method == "one at a time" else
                    "<p class='note'>Sampled sweep: bars are a linear least-squares estimate of "
                    "the swing from each parameter's lowest to highest sampled value.</p>")
            sections.append(("Sensitivity", fig_html(tornado_figure(table, kpi, method, units)) + note))
        best = runs.sort_values(kpi, ascending=False).head(10)
        sections.append((f"Best runs by {kpi}", _table(best[["run", *params, *[
            c for c in MAIN_KPIS if c in runs and c not in params][:6]]])))
    if not failures.empty:
        sections.append((f"Failed runs ({len(failures)})", _table(failures)))
    body = "".join(f"<section><h2>{html.escape(t)}</h2>{c}</section>" for t, c in sections)
    title = html.escape(sweep.name)
    sub = (f"{len(runs):,} runs stored of {len(plan.runs):,} · {len(failures):,} failed · base "
           f"{html.escape(sweep.base)} · varied: {html.escape(', '.join(params) or '-')}")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Ballast sweep – {title}</title><style>{CSS}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            f"<header><h1>Ballast sweep – {title}</h1><p>{sub}</p>"
            f"<p>{html.escape(' '.join(sweep.description.split()))}</p></header>"
            f"<main>{body}</main></body></html>")


def write_sweep_report(plan: SweepPlan, runs: pd.DataFrame, failures: pd.DataFrame,
                       units: dict[str, str], path: Path) -> Path:
    path.write_text(render_sweep_report(plan, runs, failures, units), encoding="utf-8")
    return path
