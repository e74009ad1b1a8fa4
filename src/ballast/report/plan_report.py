"""Self-contained HTML report of a plan run (plotly.js inlined once; opens offline).

Sections: the strategy table (and the optimiser's schedule), the cash-flow waterfall (present
value of each line item in the base case), the NPV fan chart across price paths (cumulative
discounted cash flow, P10-P90 and P25-P75 bands and the median), MW by use per year, the
tornado of sensitivities, CO2 and water per year, and the fleet's J/TH and margin against the
network's (ageing and repowering). ``ballast plan --out DIR`` writes it.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ballast.plan import finance
from ballast.plan.model import PlanResult, cash_flows
from ballast.plan.sensitivity import subject, tornado
from ballast.report.html import CSS
from ballast.report.style import ASSET_COLOURS, FONT, MINER_PALETTE

SECTIONS = (
    "Strategies",
    "Cash-flow waterfall",
    "NPV fan chart across price paths",
    "MW by use per year",
    "Sensitivities (tornado)",
    "CO2 and water per year",
    "The fleet against the network",
)
# (line item, label, sign in the cash flow)
WATERFALL = (
    ("mining_revenue_usd", "Mining revenue", 1.0),
    ("lease_revenue_usd", "Lease revenue", 1.0),
    ("ballast_value_usd", "Ballast grid value", 1.0),
    ("program_revenue_usd", "Grid programs (engine)", 1.0),
    ("energy_cost_usd", "Mining energy", -1.0),
    ("om_usd", "O&M", -1.0),
    ("tax_usd", "Tax", -1.0),
    ("capex_usd", "Conversion capex", -1.0),
    ("repower_capex_usd", "Repowering capex", -1.0),
    ("salvage_usd", "Salvage", 1.0),
)


def _musd(x: float | None) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x / 1e6:,.1f}"


def _layout(fig: go.Figure, title: str, yaxis: str, height: int = 430) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        template="plotly_white",
        font={"family": FONT},
        margin={"l": 70, "r": 20, "t": 80, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        yaxis_title=yaxis,
    )
    return fig


def _by_strategy(fig: go.Figure, groups: list[tuple[str, int]], shown: str) -> go.Figure:
    """A dropdown showing one strategy's traces at a time; ``groups`` = (name, trace count)."""
    total = sum(k for _, k in groups)
    buttons, start = [], 0
    for name, k in groups:
        visible = [start <= i < start + k for i in range(total)]
        buttons.append({"label": name, "method": "update", "args": [{"visible": visible}]})
        start += k
    start = 0
    for name, k in groups:
        for i in range(start, start + k):
            fig.data[i].visible = name == shown
        start += k
    fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15}])
    return fig


def present_values_usd(result: PlanResult, name: str) -> dict[str, float]:
    """Present value of each line item of strategy ``name`` in the base case [USD], signed as
    in the cash flow; they sum to its NPV."""
    plan = result.plan
    r = next(r for r in result.strategies if r.strategy.name == name)
    items = r.cases[plan.bitcoin.base_case]
    df = finance.discount_factors(plan.discount_rate, plan.horizon_years)
    return {k: sign * float(np.sum(items[k] * df)) for k, _, sign in WATERFALL}


def waterfall_figure(result: PlanResult) -> go.Figure:
    fig = go.Figure()
    for r in result.strategies:
        pv = present_values_usd(result, r.strategy.name)
        labels = [label for _, label, _ in WATERFALL] + ["NPV"]
        values = [pv[k] / 1e6 for k, _, _ in WATERFALL] + [0.0]
        fig.add_trace(
            go.Waterfall(
                x=labels,
                y=values,
                measure=["relative"] * len(WATERFALL) + ["total"],
                name=r.strategy.name,
                increasing={"marker": {"color": ASSET_COLOURS["margin"]}},
                decreasing={"marker": {"color": ASSET_COLOURS["limit"]}},
                totals={"marker": {"color": ASSET_COLOURS["import"]}},
            )
        )
    groups = [(r.strategy.name, 1) for r in result.strategies]
    _by_strategy(fig, groups, result.best)
    case = result.plan.bitcoin.base_case
    return _layout(fig, f"Present value of each line item, '{case}' case (M USD)", "M USD")


def fan_figure(result: PlanResult) -> go.Figure:
    plan = result.plan
    years = [int(y) for y in result.years]
    df = finance.discount_factors(plan.discount_rate, plan.horizon_years)
    fig = go.Figure()
    groups = []
    for r in result.strategies:
        cf = cash_flows(plan, r.strategy, r.schedule, result.paths)["cash_flow_usd"]
        cum = np.cumsum(cf * df, axis=1) / 1e6
        p10, p25, p50, p75, p90 = np.percentile(cum, [10, 25, 50, 75, 90], axis=0)
        name = r.strategy.name
        for lo, hi, label, alpha in ((p10, p90, "P10-P90", 0.18), (p25, p75, "P25-P75", 0.35)):
            fig.add_trace(
                go.Scatter(x=years, y=hi, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
            )
            fig.add_trace(
                go.Scatter(
                    x=years,
                    y=lo,
                    mode="lines",
                    fill="tonexty",
                    line={"width": 0},
                    fillcolor=f"rgba(37, 99, 235, {alpha})",
                    name=f"{name} {label}",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=years, y=p50, mode="lines", line={"color": ASSET_COLOURS["import"]}, name=f"{name} P50"
            )
        )
        groups.append((name, 5))
    _by_strategy(fig, groups, result.best)
    title = f"Cumulative discounted cash flow over {result.paths.btc_price_usd.shape[0]:,} price paths"
    return _layout(fig, title + " (M USD; the last year is the NPV)", "M USD")


def mw_figure(result: PlanResult) -> go.Figure:
    fig = go.Figure()
    years = [int(y) for y in result.years]
    pue = result.plan.hosting.pue
    for r in result.strategies:
        s = r.schedule
        ai_grid = s.it_mw * pue
        parts = (
            ("Mining", s.mining_mw, MINER_PALETTE[1]),
            ("Ballast miners", s.ballast_mw, MINER_PALETTE[3]),
            ("AI facility (IT x PUE)", ai_grid, ASSET_COLOURS["ai"]),
            ("Converting or idle", np.clip(s.converted_mw - ai_grid, 0.0, None), ASSET_COLOURS["baseline"]),
        )
        for label, values, colour in parts:
            fig.add_trace(go.Bar(x=years, y=values, name=f"{label}", marker_color=colour))
    _by_strategy(fig, [(r.strategy.name, 4) for r in result.strategies], result.best)
    fig.update_layout(barmode="stack")
    return _layout(fig, "Grid MW by use per year", "MW")


def tornado_figure(result: PlanResult, map_fn=None) -> tuple[go.Figure, str]:
    name = subject(result)
    base, bars = tornado(result, name, map_fn=map_fn)
    fig = go.Figure()
    labels = [b.label for b in bars][::-1]
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[(b.low_usd - base) / 1e6 for b in bars][::-1],
            orientation="h",
            name="input -20 %",
            marker_color=ASSET_COLOURS["limit"],
            base=base / 1e6,
        )
    )
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[(b.high_usd - base) / 1e6 for b in bars][::-1],
            orientation="h",
            name="input +20 %",
            marker_color=ASSET_COLOURS["margin"],
            base=base / 1e6,
        )
    )
    fig.update_layout(barmode="overlay")
    title = f"ΔNPV of {name} over {result.baseline} (M USD), each input -/+20 %"
    return _layout(fig, title, "", height=380).update_xaxes(title="M USD"), name


def fleet_figure(doc: dict) -> go.Figure:
    """The fleet's J/TH (and the network's, when given) and its margin per year in the base
    case (docs/plan.md#fleet)."""
    from plotly.subplots import make_subplots

    f, years = doc["fleet"], doc["years"]
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Efficiency (J/TH)", "Fleet margin (1 - energy / revenue)")
    )
    fig.add_trace(
        go.Scatter(x=years, y=f["efficiency_j_per_th"], name="fleet", line={"color": MINER_PALETTE[0]}), 1, 1
    )
    if f["network_efficiency_j_per_th"] is not None:
        fig.add_trace(
            go.Scatter(
                x=years,
                y=f["network_efficiency_j_per_th"],
                name="network",
                line={"color": ASSET_COLOURS["import"]},
            ),
            1,
            1,
        )
    fig.add_trace(
        go.Scatter(
            x=years, y=f["margin"], name="fleet margin", line={"color": MINER_PALETTE[0], "dash": "dot"}
        ),
        1,
        2,
    )
    for k, md in enumerate(f["models"] if len(f["models"]) > 1 else []):  # a mixed fleet's models
        colour = MINER_PALETTE[(k + 1) % len(MINER_PALETTE)]
        label = f"{md['name']} margin"
        fig.add_trace(go.Scatter(x=years, y=md["margin"], name=label, line={"color": colour}), 1, 2)
    title = "The fleet against the network" + (
        f" (repowered {f['repower_year']} to {f['repower_efficiency_j_per_th']:g} J/TH)"
        if f["repower_year"]
        else ""
    )
    return _layout(fig, title, "", height=380)


def environment_figure(result: PlanResult) -> go.Figure:
    from plotly.subplots import make_subplots

    years = [int(y) for y in result.years]
    case = result.plan.bitcoin.base_case
    fig = make_subplots(rows=1, cols=2, subplot_titles=("CO2 (t, location-based)", "Water (m³)"))
    for i, r in enumerate(result.strategies):
        items = r.cases[case]
        colour = (ASSET_COLOURS["import"], ASSET_COLOURS["ai"], *MINER_PALETTE)[i % 10]
        kw = {
            "x": years,
            "mode": "lines",
            "name": r.strategy.name,
            "legendgroup": r.strategy.name,
            "line": {"color": colour},
        }
        fig.add_trace(go.Scatter(y=items["co2_t"], **kw), row=1, col=1)
        fig.add_trace(go.Scatter(y=items["water_m3"], showlegend=False, **kw), row=1, col=2)
    return _layout(fig, f"CO2 and water per year, '{case}' case", "")


def strategy_table(doc: dict) -> str:
    case = doc["base_case"]
    head = ["strategy", "NPV", "ΔNPV", "IRR", "payback y", "capex", "P(NPV<0)", "kWh per USD"]
    rows = []
    for s in doc["strategies"]:
        m, risk = s["cases"][case], s["risk"]
        irr = "-" if m["irr"] is None else f"{m['irr']:.1%}"
        pay = "-" if m["simple_payback_years"] is None else f"{m['simple_payback_years']:.1f}"
        kwh = s["environment"]["kwh_per_usd_earned"]
        cells = [
            html.escape(s["name"]) + (" (best)" if s["best"] else ""),
            _musd(m["npv_usd"]),
            _musd(m["delta_npv_usd"]),
            irr,
            pay,
            _musd(s["capex_usd"]),
            "-" if not risk else f"{risk['prob_npv_negative']:.0%}",
            "-" if kwh is None else f"{kwh:.2f}",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
    note = (
        f"<p class='note'>M USD, '{html.escape(case)}' price case, discount rate "
        f"{doc['discount_rate']:.1%}; ΔNPV, IRR and payback against {html.escape(doc['baseline'])}.</p>"
    )
    return f"<table>{header}{''.join(rows)}</table>{note}{_optimum_html(doc)}"


def _optimum_html(doc: dict) -> str:
    o = doc.get("optimize")
    if o is None:
        return ""
    steps = ", ".join(f"{y}: {mw:g} MW" for y, mw in zip(doc["years"], o["convert_mw"], strict=True) if mw)
    npv, milp = o["npv_usd"], o["milp"]
    return (
        f"<p><b>Optimal schedule</b> ({html.escape(o['objective'])}, {o['scenarios']} paths, "
        f"{o['block_mw']:g} MW blocks): {steps or 'convert nothing'}; ballast kept "
        f"{o['ballast_mw'][-1]:g} MW. NPV P10/P50/P90 {_musd(npv['p10'])}/{_musd(npv['p50'])}/"
        f"{_musd(npv['p90'])} M USD, CVaR {_musd(npv['cvar'])}. Against the best deterministic "
        f"plan: value of the stochastic solution {_musd(o['value_of_stochastic_solution_usd'])} M USD, "
        f"'{html.escape(o['deterministic']['case'])}' NPV given up {_musd(o['case_npv_given_up_usd'])} "
        f"M USD. MILP {milp['rows']} x {milp['columns']} ({milp['integer_columns']} integer), "
        f"{html.escape(milp['status'])}, gap {milp['mip_gap']:.2g}.</p>"
    )


def _models_html(doc: dict) -> str:
    """A line on a mixed fleet's models in the baseline (and the best strategy): MW at the
    start, revenue over the plan and the years each is idled, base case."""
    models = doc["fleet"]["models"]
    if len(models) < 2:
        return ""
    names = dict.fromkeys([doc["baseline"], doc["best"]])
    parts = []
    for name in names:
        items = []
        for md in models:
            s = md["strategies"][name]
            idle = s["idle_years"]
            items.append(
                f"{html.escape(md['name'])} ({md['efficiency_j_per_th']:g} J/TH, {md['mw']:g} MW): "
                f"{_musd(sum(s['mining_revenue_usd']))} M USD, "
                + (f"idled in {', '.join(map(str, idle))}" if idle else "never idled")
            )
        parts.append(f"in {html.escape(name)}: " + "; ".join(items))
    return (
        "<p class='note'>Miner models, least efficient first (each idles on its own when its "
        "hashprice no longer covers its energy; conversion takes the least efficient first), "
        f"'{html.escape(doc['base_case'])}' case, " + " — ".join(parts) + ".</p>"
    )


def render_plan_report(result: PlanResult, doc: dict, map_fn=None) -> str:
    """The report as one HTML string (plotly.js inlined, no network needed); the tornado's
    points run through ``map_fn`` when given (``ballast.plan.parallel``)."""

    def part(fig: go.Figure) -> str:
        return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})

    tornado_fig, about = tornado_figure(result, map_fn)
    fan = (
        part(fan_figure(result))
        if result.paths is not None
        else "<p class='note'>This run has no price paths.</p>"
    )
    bodies = (
        strategy_table(doc),
        part(waterfall_figure(result)),
        fan,
        part(mw_figure(result)),
        part(tornado_fig)
        + f"<p class='note'>One input at a time, the others held, '{doc['base_case']}' case; "
        f"the strategies keep their MW schedules. Subject: {html.escape(about)}.</p>",
        part(environment_figure(result)),
        part(fleet_figure(doc))
        + f"<p class='note'>Difficulty grows {doc['fleet']['difficulty_growth_per_yr']:.1%} a year; "
        "the fleet keeps its J/TH as hashprice falls (docs/plan.md#fleet).</p>" + _models_html(doc),
    )
    body = "".join(
        f"<section><h2>{html.escape(t)}</h2>{c}</section>" for t, c in zip(SECTIONS, bodies, strict=True)
    )
    title = html.escape(doc["name"])
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Ballast plan – {title}</title><style>{CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>Ballast plan – {title}</h1><p>{doc['start_year']}–{doc['end_year']} · "
        f"best: {html.escape(doc['best'])} · money nominal USD, NPV at the start of "
        f"{doc['start_year']}</p></header><main>{body}</main></body></html>"
    )
