"""Report section "Grid programs": revenue and performance per program, miner power against
the baseline with every program event shaded, the 4CP peaks, and the event log."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ballast.report.style import ASSET_COLOURS, FONT

EVENT_COLOURS = {"emergency": "#dc2626", "coincident_peak": "#f59e0b",
                 "responsive_reserve": "#7c3aed", "ecrs": "#2563eb", "ers": "#0f766e",
                 "non_spin": "#0369a1",
                 "demand_response": "#db2777"}
MAX_LOG_ROWS = 300


def _num(x, fmt: str = "{:,.0f}") -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else fmt.format(x)


def program_table_html(summary: pd.DataFrame) -> str:
    """One row per program: revenue, penalty, net, baseline, deployments, performance."""
    cols = [("revenue_usd", "revenue USD"), ("penalty_usd", "penalty USD"), ("net_usd", "net USD"),
            ("baseline_net_usd", "baseline USD"), ("value_usd", "marginal value USD"),
            ("deployments", "events"),
            ("shortfall_mwh", "shortfall MWh"), ("sold_mw_h", "sold MW-h"),
            ("hit_rate_pct", "4CP hit rate %"), ("hours_curtailing", "hours curtailing")]
    cols = [c for c in cols if c[0] in summary.columns]
    head = "<tr><th>program</th>" + "".join(f"<th>{html.escape(t)}</th>" for _, t in cols) + "</tr>"
    body = "".join(
        f"<tr><td>{html.escape(str(p))}</td>" + "".join(f"<td>{_num(r.get(k))}</td>"
                                                        for k, _ in cols) + "</tr>"
        for p, r in summary.iterrows())
    return f"<table>{head}{body}</table>"


def program_figure(results) -> go.Figure:
    """Miner power, Ballast vs baseline, with program events shaded; price on the right axis."""
    sim = results.simulation
    f = sim.ballast.frame
    base = sim.baseline.frame
    step = "1h" if len(f) > 4 * 24 * 62 else None
    ours = f["miner_mw"].resample(step).mean() if step else f["miner_mw"]
    theirs = base["miner_mw"].resample(step).mean() if step else base["miner_mw"]
    price = sim.inputs.frame["price_usd_per_mwh"]
    price = price.resample(step).mean() if step else price
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=theirs.index, y=theirs, name="Baseline miners",
                             line={"color": ASSET_COLOURS["baseline"], "width": 1.5,
                                   "dash": "dash"}))
    fig.add_trace(go.Scatter(x=ours.index, y=ours, name="Ballast miners",
                             line={"color": "#15803d", "width": 1.4}))
    fig.add_trace(go.Scatter(x=price.index, y=price, name="Real-time price", yaxis="y2",
                             line={"color": ASSET_COLOURS["hashprice"], "width": 0.8},
                             opacity=0.6))
    ev = results.programs.events
    shown = set()
    for _, row in ev[ev["opted_in"].astype(bool)].iterrows():
        if row["end_utc"] <= row["start_utc"]:
            continue
        colour = EVENT_COLOURS.get(row["program"], "#94a3b8")
        fig.add_vrect(x0=row["start_utc"], x1=row["end_utc"], fillcolor=colour, opacity=0.18,
                      line_width=0, layer="below")
        if row["program"] not in shown:  # legend entry per program
            shown.add(row["program"])
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=row["program"],
                                     marker={"color": colour, "symbol": "square", "size": 10}))
    fig.update_layout(title="Miner power against the baseline, program events shaded",
                      height=460, template="plotly_white", font={"family": FONT},
                      yaxis={"title": "MW"},
                      yaxis2={"title": "USD/MWh", "overlaying": "y", "side": "right"},
                      legend={"orientation": "h", "y": -0.15}, hovermode="x unified",
                      margin={"l": 60, "r": 60, "t": 50, "b": 40})
    return fig


def fourcp_figure(results) -> go.Figure | None:
    """ERCOT load over the run's 4CP months: the no-look-ahead threshold, the hours the rule
    alerted (site curtailing) and the monthly peaks it had to catch."""
    plan = results.simulation.programs
    hourly, peaks = plan.fourcp_hourly, results.programs.fourcp_peaks
    if hourly is None or peaks is None or peaks.empty:
        return None
    idx = results.simulation.inputs.index
    h = hourly[(hourly.index >= idx[0]) & (hourly.index <= idx[-1])]
    months = h.index.tz_convert(results.simulation.scenario.site.timezone).month
    h = h[np.isin(months, results.simulation.scenario.programs.coincident_peak.months)]
    alert = h[h["alert"]]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=h.index, y=h["load_mw"], name="ERCOT load (hourly)",
                             line={"color": ASSET_COLOURS["import"], "width": 1}))
    fig.add_trace(go.Scatter(x=h.index, y=h["threshold_mw"], name="alert threshold",
                             line={"color": ASSET_COLOURS["baseline"], "width": 1,
                                   "dash": "dot"}))
    fig.add_trace(go.Scatter(x=alert.index, y=alert["load_mw"], mode="markers",
                             name="hours curtailing", marker={"color": EVENT_COLOURS[
                                 "coincident_peak"], "size": 4}))
    fig.add_trace(go.Scatter(x=peaks["peak_hour_start_utc"], y=peaks["peak_load_mw"],
                             mode="markers", name="monthly peak (4CP)",
                             marker={"color": ASSET_COLOURS["limit"], "size": 12,
                                     "symbol": "star"}))
    fig.update_layout(title="4CP: system load, the alert rule and the four peaks", height=420,
                      template="plotly_white", font={"family": FONT}, yaxis={"title": "MW"},
                      legend={"orientation": "h", "y": -0.15}, hovermode="x unified",
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def ufr_figure(results) -> go.Figure | None:
    """Each replayed frequency event: frequency against time, the relay pickup and the trip."""
    plan = results.simulation.programs
    rrs = results.simulation.scenario.programs.responsive_reserve
    if rrs is None or not plan.frequency_traces:
        return None
    fig = go.Figure()
    palette = ("#7c3aed", "#0f766e", "#db2777", "#2563eb", "#b45309")
    for i, (label, at, t_s, f_hz, trip_s) in enumerate(plan.frequency_traces):
        colour = palette[i % len(palette)]
        fig.add_trace(go.Scatter(x=t_s, y=f_hz, name=f"{at:%Y-%m-%d %H:%M} {label}",
                                 line={"color": colour, "width": 1.2}))
        if not np.isnan(trip_s):
            fig.add_trace(go.Scatter(x=[trip_s], y=[rrs.trip_hz], mode="markers",
                                     name=f"trip at {trip_s:.1f} s",
                                     marker={"color": colour, "size": 10, "symbol": "x"}))
    fig.add_hline(y=rrs.trip_hz, line={"color": ASSET_COLOURS["limit"], "dash": "dash"},
                  annotation_text=f"UFR pickup {rrs.trip_hz} Hz", annotation_position="top right")
    fig.update_layout(title="Frequency events replayed (SYNTHETIC shapes unless a file is given)",
                      height=380, template="plotly_white", font={"family": FONT},
                      xaxis={"title": "seconds after event start"}, yaxis={"title": "Hz"},
                      legend={"orientation": "h", "y": -0.25},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def fourcp_html(peaks: pd.DataFrame | None) -> str:
    if peaks is None or peaks.empty:
        return ""
    rows = "".join(
        f"<tr><td>{int(r.year)}-{int(r.month):02d}</td><td>{r.peak_hour_start_utc:%Y-%m-%d %H:%M}"
        f"</td><td>{r.peak_load_mw:,.0f}</td><td>{r.site_demand_mw:,.1f}</td>"
        f"<td>{r.baseline_site_demand_mw:,.1f}</td><td>{'yes' if r.hit else 'no'}</td></tr>"
        for r in peaks.itertuples())
    return ("<h3>4CP peaks</h3><table><tr><th>month</th><th>peak hour (UTC start)</th>"
            "<th>ERCOT load MW</th><th>site MW</th><th>baseline site MW</th><th>hit</th></tr>"
            f"{rows}</table><p class='note'>ERCOT load is hourly here: the peak hour's four "
            "15-minute intervals stand in for the 15-minute peak (approximation); the site is "
            "settled at its highest 15-minute import among them.</p>")


def event_log_html(events: pd.DataFrame) -> str:
    cols = ["program", "kind", "signal_time_utc", "start_utc", "end_utc", "command", "opted_in",
            "reason", "committed_mw", "reference_mw", "achieved_reduction_mw", "shortfall_mw",
            "vs_baseline_reduction_mw"]
    shown = events.head(MAX_LOG_ROWS)
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"

    def cell(v) -> str:
        if isinstance(v, float):
            return _num(v, "{:,.2f}")
        if isinstance(v, pd.Timestamp):
            return f"{v:%Y-%m-%d %H:%M:%S}"
        return html.escape(str(v))

    body = "".join("<tr>" + "".join(f"<td>{cell(r[c])}</td>" for c in cols) + "</tr>"
                   for _, r in shown.iterrows())
    more = (f"<p class='note'>{len(events) - MAX_LOG_ROWS} more rows in program_events.csv</p>"
            if len(events) > MAX_LOG_ROWS else "")
    return f"<div style='overflow-x:auto'><table>{head}{body}</table></div>{more}"


def program_sections(results) -> list[tuple[str, str]]:
    """(title, HTML) sections for ``render_report(extra_sections=...)``."""
    out = results.programs
    fig = program_figure(results).to_html(full_html=False, include_plotlyjs=False,
                                          config={"displaylogo": False})
    note = ("<p class='note'>Frequency events are SYNTHETIC shapes (no measured ERCOT frequency "
            "data); ancillary-service prices are scenario assumptions.</p>")
    lead = ""
    if "programs_value_usd" in results.kpis.index:
        value = float(results.kpis.loc["programs_value_usd", "ballast"])
        lead = (f"<p>Answering these programs is worth <b>{value:,.0f} USD</b> against the same "
                "controller answering none (its mining margin, its own 4CP charge and the same "
                "contract included).</p>")
    cp = ""
    for extra in (fourcp_figure(results), ufr_figure(results)):
        if extra is not None:
            cp += extra.to_html(full_html=False, include_plotlyjs=False,
                                config={"displaylogo": False})
    return [("Grid programs", lead + program_table_html(out.summary) + fig + cp + fourcp_html(
        out.fourcp_peaks) + note), ("Program event log", event_log_html(out.events))]
