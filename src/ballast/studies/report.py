"""Self-contained HTML pages for the studies (plotly.js inlined, no network needed)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ballast.report.style import ASSET_COLOURS, FONT

CSS = ("body{font-family:" + FONT + ";margin:0;color:#111827}header{padding:16px 24px;background:#f1f5f9}"
       "main{padding:8px 24px}section{margin:18px 0}table{border-collapse:collapse;font-size:13px}"
       "td,th{border:1px solid #e5e7eb;padding:3px 8px;text-align:right}"
       "th:first-child,td:first-child{text-align:left}.note{color:#4b5563;font-size:13px}")


def page(title: str, subtitle: str, sections: list[tuple[str, str]]) -> str:
    """One HTML document from (heading, html) sections."""
    body = "".join(f"<section><h2>{html.escape(t)}</h2>{c}</section>" for t, c in sections)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
            f"<main>{body}</main></body></html>")


def fig_html(fig: go.Figure) -> str:
    fig.update_layout(template="plotly_white", font={"family": FONT},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def table_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:,.2f}", na_rep="-",
                         border=0)


def headroom_figures(study) -> list[go.Figure]:
    """Demand against the seasonal thresholds; headroom per rate; curtailment duration curve."""
    d = study.clean.demand_mw
    daily = d.resample("1D").max()
    thr = study.threshold_mw.resample("1D").max()
    f1 = go.Figure()
    f1.add_trace(go.Scatter(x=daily.index, y=daily, name="daily peak demand (cleaned)",
                            line={"color": ASSET_COLOURS["import"], "width": 1}))
    f1.add_trace(go.Scatter(x=thr.index, y=thr, name="seasonal peak threshold",
                            line={"color": ASSET_COLOURS["limit"], "dash": "dash"}))
    bad = study.clean.flags[study.clean.flags > 1]
    if len(bad):
        raw_peak = float(np.nanmax(d))
        f1.add_trace(go.Scatter(x=bad.index, y=np.full(len(bad), raw_peak * 1.02), mode="markers",
                                name="hours screened out (absurd/spike/drop)",
                                marker={"color": "#f59e0b", "symbol": "x"}))
    f1.update_layout(title=f"{study.ba}: demand and seasonal thresholds", yaxis_title="MW",
                     height=380)
    t = study.table()
    f2 = go.Figure(go.Bar(x=[f"{r:g} %" for r in t.rate_pct], y=t.headroom_mw / 1000,
                          marker_color=ASSET_COLOURS["margin"],
                          text=[f"{v / 1000:.1f} GW" for v in t.headroom_mw]))
    f2.update_layout(title="Curtailment-enabled headroom", xaxis_title="curtailment rate",
                     yaxis_title="GW", height=340)
    f3 = go.Figure()
    gap = (study.threshold_mw - d).to_numpy()
    gap = np.sort(gap[np.isfinite(gap)])
    for r in study.rates:
        curt = np.clip(r.headroom_mw - gap, 0, None)
        curt = curt[curt > 0]
        f3.add_trace(go.Scatter(x=np.arange(1, len(curt) + 1) / (study.years[1] - study.years[0] + 1),
                                y=100 * curt / r.headroom_mw, name=f"{r.rate_pct:g} %"))
    f3.update_layout(title="Curtailment duration curve (share of new load curtailed)",
                     xaxis_title="hours per year", yaxis_title="% of new load", height=340)
    return [f1, f2, f3]


def headroom_html(study) -> str:
    doc = study.to_json()
    figs = [fig_html(f) for f in headroom_figures(study)]
    c = doc["cleaning"]
    clean_note = (f"<p class='note'>Screening: {c['missing']} missing, {c['absurd']} absurd, "
                  f"{c['spike']} spike/false-peak and {c['drop']} drop hours; {c['imputed_hours']} "
                  f"filled from the bundled MICE imputation, {c['interpolated_hours']} interpolated, "
                  f"{c['excluded_hours']} left out. {doc['hours_studied']:,} hours studied.</p>")
    h = doc["hybrid"]
    hyb_note = ("<p class='note'>Beyond the paper: a campus whose AI share is never curtailed and "
                "whose miners take every curtailment. The AI must fit below the threshold in "
                f"every hour; the firm headroom (smallest gap below the threshold) is "
                f"{h['firm_headroom_mw']:,.0f} MW. With thresholds at the historical seasonal "
                "peak it is zero: in the peak hour every MW of new load is curtailed, so a "
                "never-curtailed AI share needs new firm capacity and the hosting capacity "
                "the paper finds is miner (fully flexible) capacity.</p>")
    return page(f"Ballast study - flexible-load headroom, {study.ba}",
                f"EIA-930 hourly demand {study.years[0]}-{study.years[1]} · method: Norris et al. "
                "2025, 'Rethinking Load Growth' (Duke Nicholas Institute)",
                [("Headroom per curtailment rate", table_html(study.table()) + figs[1]),
                 ("Demand and thresholds", figs[0] + clean_note),
                 ("How the curtailment looks", figs[2]),
                 (f"Hybrid campus (AI share {study.ai_share_pct:g} %)",
                  table_html(study.hybrid_table()) + hyb_note)])


MAX_TRACE_POINTS = 6000  # per plotted trace; longer ones are thinned


def frequency_figures(results) -> list[go.Figure]:
    """Frequency after each non-oscillation event, with and without miners; the fleet sweep."""
    colours = {"without miners": ASSET_COLOURS["baseline"], "with miners": "#15803d"}
    figs = []
    for event in results.study.events:
        if event.kind == "oscillation":
            continue
        fig = go.Figure()
        for case in ("without miners", "with miners"):
            tr = results.traces.get((event.name, case))
            if tr is not None:
                k = max(1, len(tr.t_s) // MAX_TRACE_POINTS)  # a 16-min replay has 96,000 steps
                fig.add_trace(go.Scatter(x=tr.t_s[::k], y=tr.freq_hz[::k], name=case,
                                         line={"color": colours[case], "width": 1.5}))
        for thr in results.study.run.report_thresholds_hz:
            fig.add_hline(y=thr, line={"dash": "dot", "color": "#9ca3af"},
                          annotation_text=f"{thr:g} Hz")
        if event.published is not None and event.published.nadir_hz is not None:
            fig.add_hline(y=event.published.nadir_hz, line={"dash": "dash", "color": "#b91c1c"},
                          annotation_text=f"published nadir {event.published.nadir_hz:g} Hz",
                          annotation_position="bottom right")
        fig.update_layout(title=event.name, xaxis_title="s", yaxis_title="Hz", height=360)
        figs.append(fig)
    sweep = results.sweep_table()
    if len(sweep):
        fig = go.Figure()
        for col, name in (("nadir_hz", "nadir"), ("peak_hz", "peak after the event"),
                          ("settling_hz", "settling")):
            fig.add_trace(go.Scatter(x=sweep.fleet_mw, y=sweep[col], name=name, mode="lines+markers"))
        fig.update_layout(title="Generation trip against miner fleet size", xaxis_title="fleet MW",
                          yaxis_title="Hz", height=360)
        figs.append(fig)
    osc = results.table()
    if "forcing_hz" in osc:
        osc = osc.dropna(subset=["forcing_hz"])
        fig = go.Figure()
        for case, part in osc.groupby("case"):
            fig.add_trace(go.Scatter(x=part.forcing_hz, y=part.oscillation_mhz_peak_to_peak,
                                     name=case, mode="lines+markers"))
        fig.update_layout(title="Frequency oscillation under AI power forcing",
                          xaxis_title="forcing Hz", yaxis_title="mHz peak to peak",
                          xaxis_type="log", height=340)
        figs.append(fig)
    return figs


def frequency_html(results) -> str:
    doc = results.to_json()
    timing = doc["miner_timing_s"]
    note = ("<p class='note'>Reduced system-frequency-response model (Anderson &amp; Mirheydar "
            "1990). Miners act after their relay delay plus command latency "
            f"({timing['relay_plus_command_latency']:g} s) and reach sleep after a further "
            f"{timing['sleep_ramp']:g} s (Ballast's miner dynamics).</p>")
    first = [c for c in ("event", "forcing_hz", "case") if c in results.table().columns]
    table = results.table()[[*first, *(c for c in results.table().columns if c not in first)]]
    return page(f"Ballast study - frequency events, {results.study.name}",
                "nadir, RoCoF, settling frequency, seconds below thresholds, relief by kind",
                [("Events", table_html(table) + note),
                 ("Traces and fleet size", "".join(fig_html(f) for f in frequency_figures(results)))])


def balancing_figures(bmap, system: pd.DataFrame) -> list[go.Figure]:
    """Heat maps period x amplitude -> residual, mining energy lost and mining margin lost
    [USD]; the system-level MW."""
    figs = []
    x = [f"{p:.3g}" for p in bmap.periods_s]
    y = [f"{a:.3g}" for a in bmap.amplitudes_mw]
    for z, title, scale, zmin, zmax, digits in (
            (bmap.residual, "Residual share of the AI swing at the grid (1 = untouched)", "RdYlGn_r",
             0, 1.5, 2),
            (bmap.mining_energy_lost, "Mining energy lost to balancing [-]", "Oranges", 0, None, 2),
            (bmap.mining_margin_lost_usd, f"Mining margin lost to balancing [USD per {bmap.hours:g} h]",
             "Oranges", None, None, 0)):
        fig = go.Figure(go.Heatmap(z=z.T, x=x, y=y, colorscale=scale, zmin=zmin, zmax=zmax,
                                   text=np.round(z.T, digits), texttemplate="%{text}"))
        fig.update_layout(title=title, xaxis_title="swing period [s]",
                          yaxis_title="swing amplitude [MW]", height=420)
        figs.append(fig)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=system.period_s, y=system.without_miners_mw, name="without miners",
                             mode="lines+markers", line={"color": ASSET_COLOURS["baseline"]}))
    fig.add_trace(go.Scatter(x=system.period_s, y=system.with_miners_mw, name="with miners",
                             mode="lines+markers", line={"color": "#15803d"}))
    fig.update_layout(title="AI oscillation the interconnection carries within the limit",
                      xaxis_title="period [s]", xaxis_type="log", yaxis_title="MW amplitude",
                      height=360)
    figs.append(fig)
    return figs


def balancing_html(bmap, system: pd.DataFrame, note: str) -> str:
    figs = [fig_html(f) for f in balancing_figures(bmap, system)]
    return page(f"Ballast study - limits of miner balancing, {bmap.scenario}",
                f"{bmap.fleet_mw:,.0f} MW of miners; fine engine, rule controller, miner plant",
                [("The sentence", f"<p><b>{html.escape(bmap.sentence())}</b></p>"),
                 ("Capability map", figs[0] + figs[1] + figs[2]),
                 ("Interconnection", table_html(system) + figs[3] + f"<p class='note'>{note}</p>")])
