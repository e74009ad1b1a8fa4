"""``ballast programs fourcp``: the 4CP peaks of a year in the bundled ERCOT load and how the
alert rule would have done (hits, hours curtailing) for a few thresholds.
``ballast programs ven``: run the OpenADR VEN against a VTN and print what it decides; it reports
the live runtime's metered import (``--site``) to the VTN, or fixed test values for a link check."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ballast.cli._common import fail, needs_extras, write_json
from ballast.data.errors import DataError

app = typer.Typer(help="Grid programs: 4CP and friends.", no_args_is_help=True)


def fourcp_study(
    year: int,
    source: str,
    column: str,
    shares: list[float],
    prior_year_floor_share: float = 0.9,
    timezone: str = "America/Chicago",
) -> dict:
    """Peaks found in ``year`` and, per threshold share, peaks hit and hours alerting."""
    from ballast.coincident_peak import find_monthly_peaks
    from ballast.data.loaders import read_series
    from ballast.programs import fourcp

    load = read_series(source, column, minimum=0.0)
    peaks = find_monthly_peaks(load, timezone=timezone)
    peaks = peaks[peaks["year"] == year]
    if peaks.empty:
        raise DataError(source, f"no June-September data for {year}")
    rows = []
    for share in shares:
        alert = fourcp.fourcp_alert_hourly(
            load, timezone=timezone, threshold_share=share, prior_year_floor_share=prior_year_floor_share
        )
        local_year = alert.index.tz_convert(timezone).year
        hits = int(sum(bool(alert.loc[t, "alert"]) for t in peaks["peak_hour_start_utc"]))
        rows.append(
            {
                "threshold_share": share,
                "peaks_hit": hits,
                "peaks": len(peaks),
                "hours_alerting": int(alert["alert"][local_year == year].sum()),
            }
        )
    return {
        "year": year,
        "approximation": "hourly load: the peak hour stands in for the 15-minute peak interval",
        "peaks": [
            {
                "month": int(p.month),
                "peak_hour_start_utc": p.peak_hour_start_utc.isoformat(),
                "peak_load_mw": round(float(p.peak_load_mw), 1),
            }
            for p in peaks.itertuples()
        ],
        "alert": rows,
    }


@app.command("fourcp")
def fourcp_cmd(
    year: Annotated[int, typer.Option(help="Local year (June-September).")] = 2024,
    source: Annotated[str, typer.Option(help="System load file.")] = "bundled:ercot_system_hourly_2023_2024",
    column: Annotated[str, typer.Option(help="Load column [MW].")] = "ercot_load_mw",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """ERCOT 4CP peaks of a year and the alert rule's hit rate and hours for a few thresholds."""
    try:
        doc = fourcp_study(year, source, column, [0.93, 0.95, 0.97, 0.98])
    except DataError as exc:
        fail(str(exc))
    if as_json:
        write_json(doc)
        return
    from rich.console import Console
    from rich.table import Table

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
        a.add_row(f"{r['threshold_share']:.2f}", f"{r['peaks_hit']}/{r['peaks']}", str(r["hours_alerting"]))
    console.print(a)


def _ven_telemetry(
    site: str | None,
    site_token_file: Path | None,
    site_max_age_s: float,
    test_site_import_mw: float | None,
    test_miner_mw: float | None,
    forward_events: bool = False,
):
    """The VEN's telemetry source: the live API (``--site``) or fixed test values, and the
    ``SiteDrForwarder`` posting its events to the site (``--site`` and ``forward_events``)."""
    import os

    from ballast.programs.openadr.site import (
        LiveSiteReader,
        SiteDrForwarder,
        SiteTokenError,
        read_token_file,
    )

    tests = (test_site_import_mw, test_miner_mw)
    if site is not None:
        if any(v is not None for v in tests):
            fail(
                "--site reads the live runtime; --test-site-import-mw/--test-miner-mw are "
                "fixed test values for a link check without a site: give one or the other"
            )
        try:
            env = "BALLAST_OPERATOR_TOKEN" if forward_events else "BALLAST_VIEWER_TOKEN"
            token = (
                read_token_file(site_token_file) if site_token_file is not None else os.environ.get(env, "")
            )
        except SiteTokenError as exc:
            fail(str(exc))
        if not token:
            role = "an operator" if forward_events else "a viewer (or operator)"
            fail(
                f"--site needs {role} token of the site's API: "
                f"--site-token-file PATH or {env} in the environment"
            )
        forwarder = SiteDrForwarder(site, token) if forward_events else None
        return LiveSiteReader(site, token, max_age_s=site_max_age_s).read, forwarder
    if any(v is None for v in tests):
        fail(
            "give --site URL (the live runtime's API: its metered import is reported to the "
            "VTN), or both --test-site-import-mw and --test-miner-mw (fixed test values for a "
            "link check)"
        )
    fixed = {"site_import_mw": test_site_import_mw, "miner_mw": test_miner_mw}
    return (lambda: fixed), None


@app.command("ven")
def ven_cmd(
    vtn_url: Annotated[str, typer.Option(help="VTN base URL, e.g. https://vtn:8080/OpenADR2/Simple/2.0b")],
    ven_name: Annotated[str, typer.Option(help="This VEN's name.")] = "ballast",
    site: Annotated[
        str | None,
        typer.Option(
            help="The live runtime's API base URL (ballast "
            "serve), e.g. http://127.0.0.1:8480: its metered "
            "import and miner power are reported to the VTN "
            "and size every reduction."
        ),
    ] = None,
    site_token_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the site API's token: operator to forward events (else "
            "BALLAST_OPERATOR_TOKEN), viewer enough with --no-forward-events (else BALLAST_VIEWER_TOKEN)."
        ),
    ] = None,
    forward_events: Annotated[
        bool,
        typer.Option(
            help="With --site: post each event the VEN opts in to to the site's DR events API "
            "(POST /api/v1/dr-events) so the runtime acts on it; an event the site refuses is "
            "declined to the VTN."
        ),
    ] = True,
    site_max_age_s: Annotated[
        float,
        typer.Option(min=0.0, help="Report nothing when the site's last tick or meter reading is older [s]."),
    ] = 10.0,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="Scenario (path or bundled name) with "
            "the site's miner groups: price events are "
            "judged per group against its breakeven."
        ),
    ] = None,
    hashprice_usd_per_ph_day: Annotated[
        float | None,
        typer.Option(min=0.0, help="Hashprice for price events (default: the live runtime's, with --site)."),
    ] = None,
    price_all_off_override_usd_per_mwh: Annotated[
        float | None,
        typer.Option(help="Override: all miners off at or above this price, whatever the breakevens."),
    ] = None,
    test_site_import_mw: Annotated[
        float | None, typer.Option(help="TEST VALUE, without --site: a fixed site import to report [MW].")
    ] = None,
    test_miner_mw: Annotated[
        float | None, typer.Option(help="TEST VALUE, without --site: a fixed miner power [MW].")
    ] = None,
    cert: Annotated[str | None, typer.Option(help="VEN certificate (PEM) for TLS and signing.")] = None,
    key: Annotated[str | None, typer.Option(help="VEN private key (PEM).")] = None,
    ca_file: Annotated[str | None, typer.Option(help="CA bundle that signed the VTN.")] = None,
    vtn_fingerprint: Annotated[str | None, typer.Option(help="VTN certificate fingerprint.")] = None,
    min_notice_s: Annotated[float, typer.Option(help="Decline events with less notice [s].")] = 0.0,
    reserve_context: Annotated[
        list[str] | None,
        typer.Option(
            help="MARKET_CONTEXT=RESERVE: an event in this OpenADR market context is a deployment "
            "of the site's reserve (responsive_reserve, ecrs or ers); repeatable."
        ),
    ] = None,
    max_reduction_mw: Annotated[float | None, typer.Option(help="Decline larger asks [MW].")] = None,
    report_period_s: Annotated[float, typer.Option(min=1.0, help="Telemetry sampling period [s].")] = 10.0,
    register_timeout_s: Annotated[float, typer.Option(min=1.0, help="Give up registering after [s].")] = 60.0,
    events: Annotated[int, typer.Option(help="Stop after this many event decisions (0 = never).")] = 0,
    seconds: Annotated[float, typer.Option(help="Stop after this long [s].")] = 3600.0,
) -> None:
    """Register with a VTN, answer its events by site policy and print one JSON line each.

    Telemetry is the live runtime's (``--site``), or fixed test values for a link check.
    With ``--site``, each event the VEN opts in to is posted to the site's DR events API
    (operator token) so the runtime acts on it, and an event the site refuses is declined to
    the VTN; ``--no-forward-events`` only reports. Price events are judged per miner group
    (``--scenario``; hashprice from
    ``--hashprice-usd-per-ph-day`` or the live runtime); without the groups the VEN opts out
    of them. Exits with code 1 when the VTN refuses the registration or cannot be reached
    (connection refused, unknown host, TLS failure, no answer).
    """
    import asyncio

    with needs_extras("programs ven"):
        import openleadr  # noqa: F401  (the extra, checked before anything starts)

        from ballast.programs.openadr.ven import BallastVen, VenPolicy, VenRegistrationError

    contexts: dict[str, str] = {}
    for item in reserve_context or []:
        ctx, _, reserve = item.rpartition("=")
        if not ctx or reserve not in ("responsive_reserve", "ecrs", "ers"):
            fail(f"--reserve-context {item!r}: give MARKET_CONTEXT=RESERVE with RESERVE one of "
                 "responsive_reserve, ecrs, ers")
        contexts[ctx] = reserve
    telemetry, to_site = _ven_telemetry(
        site, site_token_file, site_max_age_s, test_site_import_mw, test_miner_mw, forward_events
    )
    groups = None
    if scenario is not None:
        from ballast.backtest import load_scenario
        from ballast.control import ControllerConfig
        from ballast.scenario import ScenarioError

        try:
            groups = ControllerConfig.from_scenario(load_scenario(scenario)).groups
        except (ScenarioError, DataError) as exc:
            fail(str(exc))
        if hashprice_usd_per_ph_day is None and site is None:
            fail("--scenario without --site needs --hashprice-usd-per-ph-day (the breakevens scale with it)")

    async def main() -> None:
        done = asyncio.Event()
        seen: list = []

        def show(decision) -> None:
            seen.append(decision)
            sys.stdout.write(
                json.dumps(
                    {
                        "event_id": decision.event_id,
                        "opt": decision.opt,
                        "reason": decision.reason,
                        "site_dr_events": None
                        if to_site is None
                        else to_site.created.get(decision.event_id, []),
                        "commands": [
                            {
                                "signal": c.signal,
                                "start_utc": c.start_utc.isoformat(),
                                "end_utc": c.end_utc.isoformat(),
                                "cap_mw": None if c.cap_mw == float("inf") else c.cap_mw,
                                "groups": [v.to_json() for v in c.groups],
                            }
                            for c in decision.commands
                        ],
                    }
                )
                + "\n"
            )
            sys.stdout.flush()
            if events and len(seen) >= events:
                done.set()

        policy = VenPolicy(
            reserve_market_contexts=contexts,
            min_notice_s=min_notice_s,
            max_reduction_mw=max_reduction_mw,
            price_all_off_override_usd_per_mwh=price_all_off_override_usd_per_mwh,
        )
        ven = BallastVen(
            ven_name,
            vtn_url,
            policy,
            telemetry=telemetry,
            on_decision=show,
            to_site=to_site,
            report_period_s=report_period_s,
            groups=groups,
            hashprice_usd_per_ph_day=hashprice_usd_per_ph_day,
            register_timeout_s=register_timeout_s,
            cert=cert,
            key=key,
            ca_file=ca_file,
            vtn_fingerprint=vtn_fingerprint,
        )
        await ven.start()
        try:
            await asyncio.wait_for(done.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            await ven.stop()

    try:
        asyncio.run(main())
    except VenRegistrationError as exc:
        fail(str(exc), code=1)
