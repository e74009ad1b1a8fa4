"""The report's "Against practice and the optimum" section: the rule controller's gain over the
strike-price baseline and its regret against the perfect-foresight optimum
(``optimize.against.Baselines``), with their monthly split."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ballast.report.style import ASSET_COLOURS, FONT
from ballast.sim.kpis import interval_money

SECTION_TITLE = "Against practice and the optimum"
STRIKE_NOTE = (
    "Strike price: each miner group curtailed while the real-time price is above its "
    "breakeven, with no foresight, hysteresis or minimum times: how Foreman, Braiins "
    "Manager and Foundry OptiFleet run fleets (docs/sources.md#merit-order-practice)."
)


def _usd(x: float) -> str:
    if np.isnan(x):
        return "not settled"
    ax = abs(x)
    if ax >= 1e6:
        return f"{x / 1e6:,.2f} M USD"
    if ax >= 1e3:
        return f"{x / 1e3:,.1f} k USD"
    return f"{x:,.0f} USD"


def _card(label: str, value: float, pct: float, of: str, higher_is_better: bool) -> str:
    cls = (
        "" if np.isnan(value) or abs(value) < 1e-9 else ("up" if (value > 0) == higher_is_better else "down")
    )
    share = "" if np.isnan(pct) else f"{pct:+.1f} % of {of}"
    return (
        f'<div class="card against-card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value {cls}">{_usd(value)}</div>'
        f'<div class="delta">{html.escape(share)}</div></div>'
    )


def monthly_figure(baselines) -> go.Figure:
    """Per UTC month [USD]: the rules' gain over the strike price and, with an optimum, their
    regret against it."""
    m = baselines.monthly
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=list(m.index),
            y=m["gain_over_practice_usd"],
            name="gain over practice (rules − strike price)",
            marker={"color": ASSET_COLOURS["margin"]},
        )
    )
    if "regret_usd" in m:
        fig.add_trace(
            go.Bar(
                x=list(m.index),
                y=m["regret_usd"],
                name="regret (optimum − rules)",
                marker={"color": ASSET_COLOURS["limit"]},
            )
        )
    fig.update_layout(
        title="Monthly gain over practice and regret against the optimum",
        height=340,
        template="plotly_white",
        font={"family": FONT},
        barmode="group",
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        yaxis_title="USD",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def _layout(fig: go.Figure, title: str, yaxis: str) -> go.Figure:
    fig.update_layout(title=title, height=340, template="plotly_white", font={"family": FONT},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, yaxis_title=yaxis,
                      legend={"orientation": "h", "y": -0.2})
    return fig


def cumulative_figure(results) -> go.Figure:
    """Cumulative net margin [USD] of the rules, the strike price and (when solved) the optimum,
    each priced by ``sim.kpis.interval_money`` (the KPIs' own arithmetic), one point per UTC day
    so a year stays a few hundred points."""
    sim, b = results.simulation, results.baselines
    runs = [("rules", sim.ballast, ASSET_COLOURS["margin"]),
            ("strike price", b.strike_price, ASSET_COLOURS["baseline"])]
    if b.optimum is not None:
        runs.append(("optimum", b.optimum.run, ASSET_COLOURS["limit"]))
    fig = go.Figure()
    for name, run, colour in runs:
        margin = interval_money(run, sim.inputs, sim.config, sim.scenario)["net_margin_usd"]
        daily = margin.cumsum(skipna=False).resample("1D").last()
        fig.add_trace(go.Scatter(x=daily.index, y=daily.to_numpy(), name=name, mode="lines",
                                 line={"color": colour}))
    return _layout(fig, "Cumulative net margin (end of each UTC day)", "USD")


def regret_by_rule_figure(baselines) -> go.Figure:
    """The regret [USD] summed over the intervals where each rule bound the rule controller."""
    r = baselines.regret_by_rule_usd
    fig = go.Figure(go.Bar(x=list(r.index), y=r.to_numpy(), marker={"color": ASSET_COLOURS["limit"]},
                           name="regret"))
    return _layout(fig, "Regret by the rule that bound the controller", "USD")


def soc_figure(optimum_run_frame: pd.DataFrame) -> go.Figure:
    """The optimum's battery state of charge [MWh], hourly means past 5,000 points."""
    soc = optimum_run_frame["battery_soc_mwh"]
    if len(soc) > 5000:
        soc = soc.resample("1h").mean()
    fig = go.Figure(go.Scatter(x=soc.index, y=soc.to_numpy(), mode="lines", name="state of charge",
                               line={"color": ASSET_COLOURS["import"]}))
    return _layout(fig, "The optimum's battery state of charge", "MWh")


def against_section(results) -> tuple[str, str] | None:
    """(title, html) of the section, or None when the results carry no baselines."""
    b = getattr(results, "baselines", None)
    if b is None:
        return None
    cards = [
        _card(
            "Gain over practice",
            b.gain_over_practice_usd,
            b.gain_over_practice_pct,
            "the strike-price net margin",
            True,
        )
    ]
    if b.optimum is not None:
        cards.append(
            _card(
                "Regret against the optimum",
                b.regret_usd,
                b.regret_pct,
                "the optimum's flexibility value",
                False,
            )
        )
    figures = [monthly_figure(b), cumulative_figure(results)]
    if b.optimum is not None and len(b.regret_by_rule_usd):
        figures.append(regret_by_rule_figure(b))
    if b.optimum is not None and results.simulation.scenario.battery is not None \
            and "battery_soc_mwh" in b.optimum.run.frame:
        figures.append(soc_figure(b.optimum.run.frame))
    fig = "".join(f.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
                  for f in figures)
    notes = [STRIKE_NOTE, b.optimum_note or b.scope]
    policy = getattr(results.simulation, "policy", "rules")
    if policy != "rules":  # "rules" in the figure is what ran as Ballast
        notes.insert(
            0,
            f"Policy {policy}: the rule controller following the day-ahead schedule; its gain and "
            "regret here, against the same baselines as the rules alone.",
        )
    body = (
        '<div class="cards">'
        + "".join(cards)
        + "</div>"
        + fig
        + "".join(f'<p class="note against-note">{html.escape(n)}</p>' for n in notes)
    )
    return SECTION_TITLE, body
