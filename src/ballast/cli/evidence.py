"""``ballast evidence --event ID``: the settlement evidence of a live DR event, reserve
deployment, posted 4CP alert or EEA episode from the store (``ballast.live.evidence``), as JSON
(``ballast.evidence/1``) or CSV on stdout.

    ballast evidence --event 3f2a --store site.db --method middle_8_of_10 --format csv

The store is ``--store`` (DSN or SQLite path), else the site config's (``--config``), else the
default ``ballast.db`` in the user data folder, as ``ballast serve`` opens it. Like days are
in ``--tz``, else the config's scenario ``site.timezone``, else UTC.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ballast.cli._common import fail, needs_extras

METHODS = ("meter_before_event", "middle_8_of_10", "regression")  # programs/baselines.py


def evidence(
    event: Annotated[
        str, typer.Option("--event", help="DR event, deployment, 4CP alert or EEA id (the API's answer).")
    ],
    method: Annotated[str, typer.Option(help="Baseline: " + ", ".join(METHODS) + ".")] = "meter_before_event",
    store: Annotated[
        str | None, typer.Option(help="Store DSN or SQLite path (overrides the config).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Site config YAML (its store).")] = None,
    format: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    interval_s: Annotated[float, typer.Option(help="Settlement interval [s].")] = 900.0,
    tz: Annotated[
        str | None,
        typer.Option(help="Time zone of like days (default: the config's scenario site.timezone, else UTC)."),
    ] = None,
) -> None:
    """Evidence of one DR event, reserve deployment, 4CP alert or EEA: metered import, commanded and
    verified miners, baseline, reduction achieved and shortfall per interval."""
    if method not in METHODS:
        fail(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if format not in ("json", "csv"):
        fail(f"--format must be json or csv, got {format!r}")
    with needs_extras("evidence"):
        import json

        from ballast.live.evidence import EvidenceNotFound, build_evidence, evidence_csv
        from ballast.live.site_config import default_store_path, load_site_config
        from ballast.live.store import open_store

        dsn = store
        site = None
        if config is not None:
            try:
                site = load_site_config(config)
                if tz is None:
                    from ballast.scenario import load_scenario

                    tz = load_scenario(site.path(site.scenario)).site.timezone
            except (OSError, ValueError) as e:
                fail(str(e))
        if store is None:
            dsn = site.store_dsn if site is not None else str(default_store_path())
        if "=" not in dsn and "://" not in dsn and not Path(dsn).is_file():
            fail(f"no store at {dsn} (give --store or --config)")
        s = open_store(dsn)
        try:
            doc = build_evidence(s, event, method, interval_s, tz or "UTC")
        except EvidenceNotFound as e:
            fail(f"{e} ({dsn})")
        except ValueError as e:
            fail(f"event {event}: {e}")
        finally:
            s.close()
    sys.stdout.write(evidence_csv(doc) if format == "csv" else json.dumps(doc, indent=2) + "\n")
