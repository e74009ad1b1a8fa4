"""``ballast programs fourcp``: the 4CP peaks of a year in the bundled ERCOT load and how the
alert rule would have done (hits, hours curtailing) for a few thresholds."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ballast.data.errors import DataError

app = typer.Typer(help="Grid programs: 4CP and friends.", no_args_is_help=True)


def fourcp_study(year: int, source: str, column: str, shares: list[float],
                 prior_year_floor_share: float = 0.9, timezone: str = "America/Chicago") -> dict:
    """Peaks found in ``year`` and, per threshold share, peaks hit and hours alerting."""
    from ballast.data.loaders import read_series
    from ballast.programs import fourcp

    load = read_series(source, column, minimum=0.0)
    peaks = fourcp.find_monthly_peaks(load, timezone=timezone)
    peaks = peaks[peaks["year"] == year]
    if peaks.empty:
        raise DataError(source, f"no June-September data for {year}")
    rows = []
    for share in shares:
        alert = fourcp.fourcp_alert_hourly(load, timezone=timezone, threshold_share=share,
                                           prior_year_floor_share=prior_year_floor_share)
        local_year = alert.index.tz_convert(timezone).year
        hits = int(sum(bool(alert.loc[t, "alert"]) for t in peaks["peak_hour_start_utc"]))
        rows.append({"threshold_share": share, "peaks_hit": hits, "peaks": len(peaks),
                     "hours_alerting": int(alert["alert"][local_year == year].sum())})
    return {"year": year, "approximation": "hourly load: the peak hour stands in for the "
            "15-minute peak interval",
            "peaks": [{"month": int(p.month), "peak_hour_start_utc": p.peak_hour_start_utc.isoformat(),
                       "peak_load_mw": round(float(p.peak_load_mw), 1)}
                      for p in peaks.itertuples()],
            "alert": rows}


@app.command("fourcp")
def fourcp_cmd(
    year: Annotated[int, typer.Option(help="Local year (June-September).")] = 2024,
    source: Annotated[str, typer.Option(help="System load file.")] =
        "bundled:ercot_system_hourly_2023_2024",
    column: Annotated[str, typer.Option(help="Load column [MW].")] = "ercot_load_mw",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """ERCOT 4CP peaks of a year and the alert rule's hit rate and hours for a few thresholds."""
    try:
        doc = fourcp_study(year, source, column, [0.93, 0.95, 0.97, 0.98])
    except DataError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    console = Console()
    t = Table(title=f"ERCOT 4CP peaks {year} ({doc['approximation']})")
    for c in ("month", "peak hour (UTC start)", "load MW"):
        t.add_column(c)
    for p in doc["peaks"]:
        t.add_row(str(p["month"]), p["peak_hour_start_utc"], f"{p['peak_load_mw']:,.0f}")
    console.print(t)
    a = Table(title="Alert rule (no look-ahead)")
    for c in ("threshold share", "peaks hit", "hours alerting"):
        a.add_column(c)
    for r in doc["alert"]:
        a.add_row(f"{r['threshold_share']:.2f}", f"{r['peaks_hit']}/{r['peaks']}",
                  str(r["hours_alerting"]))
    console.print(a)
