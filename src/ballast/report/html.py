"""Self-contained HTML report of a backtest (plotly.js inlined once; opens offline).

Sections: KPI cards, stacked campus power, price against each group's breakeven, hashprice with
the halving, cumulative margin against the baseline, the gain over practice and the regret against
the optimum (``report.against``, when the results carry them), monthly table, KPI table.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ballast.models.bitcoin import HALVING_TIMES_UTC
from ballast.report.against import against_section
from ballast.report.smoothing import simulation_sections as smoothing_sections
from ballast.report.style import ASSET_COLOURS, FONT, miner_colour

CSS = f"""
body {{ font-family: {FONT}; margin: 0; background: #f8fafc; color: #0f172a; }}
header {{ background: #0f172a; color: white; padding: 18px 28px; }}
header h1 {{ margin: 0; font-size: 22px; }} header p {{ margin: 4px 0 0; color: #cbd5e1; }}
main {{ padding: 16px 28px; max-width: 1400px; }}
section {{ background: white; border: 1px solid #e2e8f0; border-radius: 8px; margin: 14px 0;
  padding: 12px 16px; }}
h2 {{ font-size: 17px; margin: 4px 0 8px; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 10px; }}
.card {{ background: white; border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 14px; }}
.card .label {{ color: #64748b; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }}
.card .value {{ font-size: 22px; font-weight: 600; margin-top: 2px; }}
.card .delta {{ font-size: 12px; margin-top: 2px; }}
.up {{ color: #15803d; }} .down {{ color: #b45309; }}
table {{ border-collapse: collapse; font-size: 13px; width: 100%; }}
th, td {{ padding: 4px 8px; border-bottom: 1px solid #e2e8f0; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.note {{ color: #64748b; font-size: 12px; }}
"""

CARD_KPIS = (
    ("net_margin_usd", "Net margin", "usd", True),
    ("net_margin_with_programs_usd", "Net margin with programs", "usd", True),
    ("mining_revenue_usd", "Mining revenue", "usd", True),
    ("energy_cost_usd", "Energy cost", "usd", False),
    ("btc_mined", "BTC mined", "btc", True),
    ("peak_import_mw", "Peak import", "mw", False),
    ("flexibility_curtailed_mwh", "Miner energy curtailed", "mwh", None),
    ("co2_t", "CO2 (location-based)", "t", False),
    ("water_m3", "Water", "m3", False),
)


def _money(x: float) -> str:
    ax = abs(x)
    if ax >= 1e9:
        return f"{x / 1e9:,.2f} B USD"
    if ax >= 1e6:
        return f"{x / 1e6:,.2f} M USD"
    if ax >= 1e3:
        return f"{x / 1e3:,.1f} k USD"
    return f"{x:,.0f} USD"


def _fmt(x: float, kind: str) -> str:
    if np.isnan(x):
        return "not settled"
    if kind == "usd":
        return _money(x)
    if kind == "btc":
        return f"{x:,.2f} BTC"
    if kind == "mw":
        return f"{x:,.1f} MW"
    if kind == "mwh":
        return f"{x:,.0f} MWh"
    if kind == "t":
        return f"{x:,.0f} t"
    return f"{x:,.0f} m³"


MARGIN_NOTE = ("Net margin = colocation lease + mining revenue − energy at real time − "
               "transmission (4CP) − supply contract − fixed costs")


def margin_note(results) -> str:
    """What the headline margin includes (every cost of the scenario's ``costs:``, the
    contract among them) and the run's notes on anything left out or not settled."""
    parts = [MARGIN_NOTE + (" (each its own row under All KPIs)."
                            if "supply_contract_usd" in results.kpis.index else ".")]
    parts += list(getattr(results, "notes", ()))
    return "".join(f'<p class="note margin-note">{html.escape(p)}</p>' for p in parts)


def kpi_cards(kpis: pd.DataFrame) -> str:
    cards = []
    for key, label, kind, higher_is_better in CARD_KPIS:
        if key not in kpis.index:
            continue
        row = kpis.loc[key]
        delta = float(row["delta"])
        cls = ""
        if higher_is_better is not None and abs(delta) > 1e-9:
            cls = "up" if (delta > 0) == higher_is_better else "down"
        sign = "+" if delta > 0 else ""
        cards.append(
            f'<div class="card"><div class="label">{html.escape(label)}</div>'
            f'<div class="value">{_fmt(float(row["ballast"]), kind)}</div>'
            f'<div class="delta {cls}">{sign}{_fmt(delta, kind)} vs baseline</div></div>')
    return '<div class="cards">' + "".join(cards) + "</div>"


def _layout(fig: go.Figure, title: str, yaxis: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, height=height, template="plotly_white",
                      font={"family": FONT}, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.15}, yaxis_title=yaxis,
                      hovermode="x unified")
    return fig


def power_figure(results) -> go.Figure:
    """Stacked campus power (hourly means): AI, each miner group; renewables; import vs limit."""
    sim = results.simulation
    f = sim.ballast.frame
    hourly = f[["ai_load_mw", "renewable_mw", "import_mw"]].resample("1h").mean()
    groups = sim.ballast.group_power_mw.resample("1h").mean()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=hourly.index, y=hourly["ai_load_mw"], name="AI / HPC load",
                             stackgroup="load", line={"width": 0},
                             fillcolor=ASSET_COLOURS["ai"], marker={"color": ASSET_COLOURS["ai"]}))
    for pos, g in enumerate(sim.config.groups.merit):
        name = sim.config.groups.names[g]
        colour = miner_colour(pos)
        fig.add_trace(go.Scatter(x=groups.index, y=groups[name], name=f"Miners {name}",
                                 stackgroup="load", line={"width": 0}, fillcolor=colour,
                                 marker={"color": colour}))
    fig.add_trace(go.Scatter(x=hourly.index, y=hourly["renewable_mw"], name="Renewables",
                             line={"color": ASSET_COLOURS["renewable"], "width": 1}))
    fig.add_trace(go.Scatter(x=hourly.index, y=hourly["import_mw"], name="Net import",
                             line={"color": ASSET_COLOURS["import"], "width": 1.2}))
    fig.add_hline(y=sim.config.import_limit_mw, line={"color": ASSET_COLOURS["limit"],
                                                      "dash": "dash"},
                  annotation_text="import limit", annotation_position="top left")
    fig = _layout(fig, "Campus power (hourly means; drag the slider or pick a span)", "MW", 500)
    if len(hourly) > 24 * 21:  # open on a readable fortnight, the whole run one click away
        # the fortnight with the most import-limit binding, else the first one
        binding = (f["binding_rule"].astype(str) == "import_limit").resample("14D").sum()
        start = binding.idxmax() if binding.max() > 0 else hourly.index[0]
        fig.update_xaxes(range=[start, start + pd.Timedelta("14D")],
                         rangeslider={"visible": True, "thickness": 0.08},
                         rangeselector={"buttons": [
                             {"count": 7, "label": "1w", "step": "day", "stepmode": "backward"},
                             {"count": 1, "label": "1m", "step": "month", "stepmode": "backward"},
                             {"step": "all", "label": "all"}]})
    return fig


def price_figure(results) -> go.Figure:
    """Real-time price against each group's breakeven (hourly mean, max and min)."""
    sim = results.simulation
    inp = sim.inputs.frame
    price = inp["price_usd_per_mwh"].resample("1h")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=price.max().index, y=price.max(), name="price (hourly max)",
                             line={"color": "#cbd5e1", "width": 0.6}))
    fig.add_trace(go.Scatter(x=price.mean().index, y=price.mean(), name="RT price (hourly mean)",
                             line={"color": ASSET_COLOURS["price"], "width": 0.8}))
    hp = inp["hashprice_usd_per_ph_day"].resample("1h").mean()
    for pos, g in enumerate(sim.config.groups.merit):
        be = hp * sim.config.groups.breakeven_per_hashprice[g]
        fig.add_trace(go.Scatter(x=be.index, y=be, name=f"breakeven {sim.config.groups.names[g]}",
                                 line={"color": miner_colour(pos), "width": 2}))
    top = float(np.nanpercentile(price.max(), 99.5)) if len(inp) else 100.0
    fig.update_yaxes(range=[min(-20.0, float(price.min().min())), max(top, 150.0)])
    return _layout(fig, "Price against each miner group's breakeven (pool fee and cooling incl.)",
                   "USD/MWh")


def hashprice_figure(results) -> go.Figure:
    inp = results.simulation.inputs.frame
    daily = inp["hashprice_usd_per_ph_day"].resample("1D").mean()
    fig = go.Figure(go.Scatter(x=daily.index, y=daily, name="hashprice",
                               line={"color": ASSET_COLOURS["hashprice"], "width": 2}))
    for t in HALVING_TIMES_UTC:
        if daily.index[0] <= t <= daily.index[-1] + pd.Timedelta("1D"):
            fig.add_vline(x=t.to_pydatetime(), line={"dash": "dot", "color": "#64748b"})
            fig.add_annotation(x=t.to_pydatetime(), y=1, yref="paper", showarrow=False,
                               text="halving", xanchor="left")
    return _layout(fig, "Hashprice (daily mean)", "USD per PH/s per day", 360)


def margin_figure(results) -> go.Figure:
    from ballast.sim.kpis import interval_money

    sim = results.simulation
    ours = interval_money(sim.ballast, sim.inputs, sim.config, sim.scenario)["net_margin_usd"]
    base = interval_money(sim.baseline, sim.inputs, sim.config, sim.scenario)["net_margin_usd"]
    delta = (ours - base).cumsum().resample("1h").last()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=delta.index, y=delta / 1e6, name="Ballast − baseline",
                             fill="tozeroy", line={"color": ASSET_COLOURS["margin"]}))
    return _layout(fig, "Cumulative net margin against the baseline", "M USD", 340)


def monthly_html(monthly: pd.DataFrame) -> str:
    cols = [("avg_price_usd_per_mwh", "avg price USD/MWh", "{:,.1f}"),
            ("avg_hashprice_usd_per_ph_day", "hashprice USD/PH/d", "{:,.1f}"),
            ("miner_mwh", "miner MWh", "{:,.0f}"), ("btc_mined", "BTC", "{:,.2f}"),
            ("mining_revenue_usd", "mining revenue USD", "{:,.0f}"),
            ("energy_cost_usd", "energy cost USD", "{:,.0f}"),
            ("net_margin_usd", "net margin USD", "{:,.0f}"),
            ("margin_delta_usd", "vs baseline USD", "{:+,.0f}")]
    head = "<tr><th>month</th>" + "".join(f"<th>{html.escape(c[1])}</th>" for c in cols) + "</tr>"
    body = "".join(
        f"<tr><td>{m}</td>" + "".join(f"<td>{fmt.format(row[k])}</td>" for k, _, fmt in cols)
        + "</tr>" for m, row in monthly.iterrows())
    return f"<table>{head}{body}</table>"


def kpi_html(kpis: pd.DataFrame) -> str:
    extra = [(c, t) for c, t in (("strike_price", "Strike price"), ("optimum", "Optimum"))
             if c in kpis.columns]
    head = ("<tr><th>KPI</th><th>Ballast</th><th>Baseline" + (" (all on)" if extra else "")
            + "</th><th>Delta</th>" + "".join(f"<th>{t}</th>" for _, t in extra)
            + "<th>unit</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{r.ballast:,.2f}</td><td>{r.baseline:,.2f}</td>"
        f"<td>{r.delta:+,.2f}</td>" + "".join(f"<td>{r[c]:,.2f}</td>" for c, _ in extra)
        + f"<td>{html.escape(r.unit)}</td></tr>"
        for k, r in kpis.iterrows())
    return f"<table>{head}{body}</table>"


def _attribution_note(results) -> str:
    """The attributions the data's licences require (carbon intensity wherever CO2 is shown,
    the Bitcoin network series wherever mining revenue depends on it)."""
    lines = results.attributions
    if not lines:
        return ""
    co2 = "CO2 is location-based. " if "co2_t" in results.kpis.index else ""
    return ('<p class="note carbon-attribution data-attribution">' + co2
            + " ".join(html.escape(line) for line in lines) + "</p>")


def render_report(results, extra_sections: list[tuple[str, str]] | None = None) -> str:
    """The report as one HTML string (plotly.js inlined, no network needed)."""
    sim = results.simulation
    idx = sim.inputs.index
    figs = [power_figure(results), price_figure(results), hashprice_figure(results),
            margin_figure(results)]
    parts = [f.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
             for f in figs]
    carbon = _attribution_note(results)
    sections = [
        ("Key figures", kpi_cards(results.kpis) + margin_note(results) + carbon),
        ("Campus power", parts[0]),
        ("Economics", parts[1] + parts[2]),
        ("Against the baseline", parts[3] + '<p class="note">Baseline: the same campus with '
         "every miner on wherever the interconnect allows.</p>"),
        *([against] if (against := against_section(results)) is not None else []),
        ("Monthly", monthly_html(results.monthly)),
        ("All KPIs", kpi_html(results.kpis) + carbon),
        *(extra_sections or []),
        *smoothing_sections(results),  # 1 s and finer runs only
    ]
    body = "".join(f"<section><h2>{html.escape(t)}</h2>{c}</section>" for t, c in sections)
    title = html.escape(sim.scenario.name)
    period = f"{idx[0]:%Y-%m-%d %H:%M} → {idx[-1] + sim.scenario.run.step:%Y-%m-%d %H:%M} UTC"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Ballast report – {title}</title><style>{CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>Ballast backtest – {title}</h1><p>{html.escape(sim.scenario.site.name)} · "
        f"{period} · {sim.scenario.run.resolution} · {len(idx):,} intervals · policy "
        f"{html.escape(getattr(sim, 'policy', 'rules'))} · prices nominal USD "
        f"of {idx[0].year}</p></header><main>{body}</main></body></html>")


def write_report(results, path: Path) -> Path:
    extra = None
    if getattr(results, "programs", None) is not None:
        from ballast.report.programs import program_sections

        extra = program_sections(results)
    path.write_text(render_report(results, extra_sections=extra), encoding="utf-8")
    return path
