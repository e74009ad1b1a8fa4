"""Smoothing section of the report: time-series zoom, PSD, ramp histogram, before/after table.

Returns plotly figures and HTML fragments; ``report.html`` adds them when the run was at 1 s or
finer (``Simulation.fine``); ``ballast smoothing`` writes them for the case comparison.
"""

from __future__ import annotations

import html
import itertools

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import signal

from ballast.report.style import ASSET_COLOURS, FONT
from ballast.sim.compliance import RAMP_BINS_MW_PER_S, window_ramp_mw_per_s

CASE_COLOURS = {"none": "#94a3b8", "baseline": "#94a3b8", "miners": "#f59e0b",
                "ballast": "#f59e0b", "battery": "#6366f1", "floor": "#ef4444",
                "miners+battery": "#0ea5e9", "miners+floor": "#a855f7",
                "battery+floor": "#14b8a6", "miners+battery+floor": "#15803d"}


def _layout(fig: go.Figure, title: str, xaxis: str, yaxis: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, height=height, template="plotly_white",
                      font={"family": FONT}, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.2}, xaxis_title=xaxis,
                      yaxis_title=yaxis)
    return fig


def busiest_window(ai_mw: np.ndarray, dt_s: float, span_s: float = 1800.0) -> slice:
    """A ``span_s`` window around the AI's longest dip below half its peak (a job crash, else a
    checkpoint), or the start of the run when there is none."""
    n = len(ai_mw)
    k = max(1, int(span_s / dt_s))
    if n <= k:
        return slice(0, n)
    low = np.asarray(ai_mw) < 0.5 * float(np.max(ai_mw))
    if not low.any():
        return slice(0, k)
    edges = np.flatnonzero(np.diff(np.r_[0, low.astype(np.int8), 0]))
    starts, ends = edges[::2], edges[1::2]
    i = int(np.argmax(ends - starts))
    start = min(max(0, int(starts[i]) - k // 5), n - k)
    return slice(start, start + k)


def zoom_figure(runs: dict[str, object], ai_mw: np.ndarray, dt_s: float,
                start_utc: pd.Timestamp, limit_mw: float | None = None) -> go.Figure:
    """Campus import of each case around the AI's largest drop, with the AI load itself."""
    w = busiest_window(ai_mw, dt_s)
    t = start_utc + pd.to_timedelta(np.arange(w.start, w.stop) * dt_s, unit="s")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=ai_mw[w], name="AI load", line={
        "color": ASSET_COLOURS.get("ai", "#334155"), "width": 1}))
    for name, run in runs.items():
        fig.add_trace(go.Scatter(x=t, y=run.import_mw[w], name=f"import: {name}",
                                 line={"color": CASE_COLOURS.get(name), "width": 1.3}))
    if limit_mw is not None:
        fig.add_hline(y=limit_mw, line={"dash": "dash", "color": "#b91c1c"},
                      annotation_text="import limit")
    return _layout(fig, "Campus import around the largest AI drop", "UTC", "MW", 420)


def psd_figure(runs: dict[str, object], dt_s: float) -> go.Figure:
    """Welch PSD of campus import per case; the 0.1-20 Hz band shaded up to Nyquist."""
    fig = go.Figure()
    fs = 1.0 / dt_s
    for name, run in runs.items():
        x = np.asarray(run.import_mw[: min(len(run.import_mw), int(6 * 3600 * fs))],
                       dtype="float64")
        nper = min(len(x), int(1024 * fs))
        f, p = signal.welch(x, fs=fs, nperseg=nper, detrend="linear")
        fig.add_trace(go.Scatter(x=f[1:], y=p[1:], name=name,
                                 line={"color": CASE_COLOURS.get(name), "width": 1}))
    fig.add_vrect(x0=0.1, x1=min(20.0, fs / 2), fillcolor="#fde68a", opacity=0.3, line_width=0,
                  annotation_text="0.1-20 Hz band (to Nyquist)")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return _layout(fig, "Power spectral density of campus import", "Hz", "MW²/Hz")


def ramp_histogram_figure(runs: dict[str, object], dt_s: float) -> go.Figure:
    """Share of 1-s ramps per magnitude bin, per case."""
    labels = [f"{a:g}-{b:g}" if b < 1e8 else f">{a:g}"
              for a, b in itertools.pairwise(RAMP_BINS_MW_PER_S)]
    fig = go.Figure()
    for name, run in runs.items():
        r = np.abs(window_ramp_mw_per_s(run.import_mw, dt_s, max(dt_s, 1.0)))
        counts = np.histogram(r, RAMP_BINS_MW_PER_S)[0]
        fig.add_trace(go.Bar(x=labels, y=counts / max(1, counts.sum()), name=name,
                             marker={"color": CASE_COLOURS.get(name)}))
    fig.update_yaxes(type="log")
    return _layout(fig, "1-s ramps of campus import", "|ramp| [MW/s]", "share of seconds")


def table_html(table: pd.DataFrame) -> str:
    """A metrics x cases table."""
    cols = [c for c in table.columns if c != "unit"]
    head = "<tr><th>metric</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + \
        "<th>unit</th></tr>"
    rows = []
    for k, r in table.iterrows():
        cells = "".join(f"<td>{r[c]:,.3g}</td>" if abs(r[c]) < 1000 else f"<td>{r[c]:,.0f}</td>"
                        for c in cols)
        rows.append(f"<tr><td>{html.escape(str(k))}</td>{cells}<td>{html.escape(r.unit)}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


NOTE = ("<p class='note'>Ramps over 1 s and over the spec window (change of the window's moving "
        "average across one window). Band share: Welch PSD of import, 0.1-20 Hz or up to the "
        "Nyquist frequency of the run, over all power above 0 Hz. Peak-to-peak: max - min per "
        "5/15-min interval. Miners act after their command latency and sleep/wake ramps, so "
        "they cannot follow swings faster than that; a battery or GPU floor acts there.</p>")


def sections(runs: dict[str, object], table: pd.DataFrame, ai_mw: np.ndarray, dt_s: float,
             start_utc: pd.Timestamp, limit_mw: float | None = None) -> list[tuple[str, str]]:
    """(title, html) sections for the report."""
    figs = [zoom_figure(runs, ai_mw, dt_s, start_utc, limit_mw), psd_figure(runs, dt_s),
            ramp_histogram_figure(runs, dt_s)]
    parts = [f.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
             for f in figs]
    return [("Smoothing: before and after", table_html(table) + NOTE),
            ("Smoothing: zoom, spectrum, ramps", "".join(parts))]


def simulation_sections(results) -> list[tuple[str, str]]:
    """Sections for a ``simulate`` run at 1 s or finer (Ballast against the baseline)."""
    fine = getattr(results.simulation, "fine", None)
    if fine is None:
        return []
    kpis = results.kpis
    smooth = kpis[kpis.index.str.startswith("smoothing.")][["ballast", "baseline", "unit"]]
    smooth.index = smooth.index.str.removeprefix("smoothing.")
    runs = {"baseline": fine.baseline.run, "ballast": fine.ballast.run}
    return sections(runs, smooth, fine.ballast.run.ai_mw, fine.setup.dt_s,
                    fine.ballast.run.start_utc, results.simulation.config.import_limit_mw)
