"""Settlement evidence of a live DR event (live/evidence.py), read from a real store with the
ticks of an event recorded (SQLite, and PostgreSQL when BALLAST_TEST_PG_DSN is set), through
the command line, and through the API of a running emulated campus. Expected values are worked
out by hand in the comments."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest
from live_helpers import INSTANT_WAKE, OPERATOR_TOKEN, VIEWER_TOKEN, emulated_campus, until
from typer.testing import CliRunner

from ballast.cli import app
from ballast.cli.evidence import METHODS
from ballast.live.evidence import INTERVAL_COLUMNS, EvidenceNotFound, build_evidence, evidence_csv
from ballast.live.obligations import utc_iso
from ballast.live.store import (
    MEASUREMENT_COLUMNS,
    CommandRecord,
    EventRecord,
    Store,
    TickRecord,
    open_store,
)
from ballast.programs.baselines import BASELINE_METHODS, BaselineError

T0 = 1795615200.0  # 2026-11-25T14:00:00Z, a Wednesday
DAY = 86400.0
WEEKDAYS_BACK = [1, 2, 5, 6, 7, 8, 9, 12, 13, 14]  # the 10 weekdays before it [days]
AT_14 = [100.0, 110.0, 90.0, 105.0, 95.0, 300.0, 5.0, 100.0, 100.0, 100.0]  # [MW]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    dsn = str(tmp_path / "s.db") if request.param == "sqlite" else request.getfixturevalue("pg_dsn")
    s = open_store(dsn)
    yield s
    s.close()


def _tick(
    n: int, time_s: float, import_mw: float | None, target: int, commands=(), events=(), safe_mode: int = 0
) -> TickRecord:
    """A tick of group s21 (10 miners): ``target`` commanded to run, the other ``10 - target``
    verified asleep."""
    m = dict.fromkeys(MEASUREMENT_COLUMNS, 1.0)
    m.update(
        tick=n,
        time_s=time_s,
        import_mw=import_mw,
        miners_mw=40.0,
        miners_planned_mw=39.0,
        cap_mw=float("inf"),
        binding_rule="obligation_cap",
        safe_mode=safe_mode,
    )
    return TickRecord(n, m, [("s21", target, 10, "auto", 10 - target)], list(commands), list(events), {})


def record_event(store: Store, *, like_days: list[int] = WEEKDAYS_BACK) -> None:
    """DR event "e1" (30 MW for 30 min from T0), its ticks every 60 s and a history.

    History: on each day ``like_days`` back, import ``AT_14[k]`` at 14:00 and one more at 14:15;
    on the Saturday before, 1,000 MW; 200 then 201 MW in the two minutes before the event.
    Event, first interval (14:00-14:15): 201 MW at 14:00 (not reduced yet), then 14 ticks at
    180 MW; the runtime latched 201 MW as the baseline (dr_start). Second interval: 14 ticks at
    170 MW and one stale tick (no meter, safe mode)."""
    store.add_dr_event("e1", T0, T0 + 1800.0, 30.0, None, T0 - 600.0, "alice")
    ticks: list[tuple[float, float | None, int, list, list, int]] = []
    for k, back in enumerate(like_days):
        day = T0 - back * DAY
        ticks += [(day, AT_14[k], 10, [], [], 0), (day + 900.0, AT_14[k] + 1.0, 10, [], [], 0)]
    sat = T0 - 4 * DAY  # 2026-11-21
    ticks += [(sat, 1000.0, 10, [], [], 0), (sat + 900.0, 1000.0, 10, [], [], 0)]
    ticks += [(T0 - 120.0, 200.0, 10, [], [], 0), (T0 - 60.0, 201.0, 10, [], [], 0)]
    start = EventRecord(
        T0,
        "dr_start",
        "DR event e1 started",
        {"id": "e1", "baseline_import_mw": 201.0, "baseline_miners_mw": 40.0},
    )
    sleep = CommandRecord(
        T0 + 1.0, "s21", "sleep", 6, 5, 0.2, {"ok": 5, "timeout": 1}, [("10.0.0.9", "timeout")]
    )
    ticks.append((T0, 201.0, 4, [sleep], [start], 0))
    ticks += [(T0 + 60.0 * i, 180.0, 4, [], [], 0) for i in range(1, 15)]
    again = CommandRecord(T0 + 950.0, "s21", "sleep", 1, 1, 0.1, {"ok": 1}, [])
    woke = CommandRecord(
        T0 + 1010.0, None, "wake", 3, 2, 6.0, {"ok": 2, "ramping": 1}, [("10.0.0.7", "ramping")]
    )
    ticks.append((T0 + 900.0, None, 3, [], [], 1))  # stale meter
    extra = {1: [again], 2: [woke]}
    ticks += [(T0 + 900.0 + 60.0 * i, 170.0, 3, extra.get(i, []), [], 0) for i in range(1, 15)]
    ticks.append((T0 + 1800.0, 200.0, 10, [], [EventRecord(T0 + 1800.0, "dr_end", "ended", {"id": "e1"})], 0))
    for n, (t, mw, target, cmds, evs, safe) in enumerate(sorted(ticks, key=lambda x: x[0]), 1):
        store.write_tick(_tick(n, t, mw, target, cmds, evs, safe))
    assert store.flush()


def test_evidence_meter_before_event(store):
    record_event(store)
    doc = build_evidence(store, "e1")
    assert doc["schema"] == "ballast.evidence/1"
    assert doc["event"]["start"] == "2026-11-25T14:00:00Z"
    assert doc["baseline"]["latched_import_mw"] == 201.0
    first, second = doc["intervals"]
    assert (first["interval_start_utc"], second["interval_end_utc"]) == (
        "2026-11-25T14:00:00Z",
        "2026-11-25T14:30:00Z",
    )
    # first: (201 + 14 * 180) / 15 = 181.4 MW; 201 - 181.4 = 19.6 achieved, 30 - 19.6 = 10.4
    # short; over a quarter hour 4.9 MWh reduced and 2.6 MWh short
    assert (first["ticks"], first["ticks_without_meter"]) == (15, 0)
    assert first["baseline_import_mw"] == 201.0 and first["reduction_asked_mw"] == 30.0
    assert first["metered_import_mw"] == pytest.approx(181.4)
    assert first["achieved_reduction_mw"] == pytest.approx(19.6)
    assert first["shortfall_mw"] == pytest.approx(10.4)
    assert (first["reduced_mwh"], first["shortfall_mwh"]) == pytest.approx((4.9, 2.6))
    # the sleep sent in it: 6 miners, 5 verified by read-back, one timed out
    assert (
        first["commands"],
        first["miners_commanded"],
        first["miners_verified"],
        first["miners_not_verified"],
    ) == (1, 6, 5, 1)
    assert first["running_target"] == {"s21": 4}
    assert first["verified_asleep"] == {"s21": 6}  # 10 - 4 at its last tick (14:14)
    # verified states by kind and status: 5 of 6 verified asleep; no wake in it
    assert (first["sleep_commanded"], first["sleep_verified"]) == (6, 5)
    assert (first["wake_commanded"], first["wake_verified"]) == (0, 0)
    assert first["outcomes"] == {"ok": 5, "timeout": 1}
    # second: the stale tick is counted, not used: 170 MW, 31 achieved, nothing short
    assert (second["ticks"], second["ticks_without_meter"]) == (15, 1)
    assert second["metered_import_mw"] == pytest.approx(170.0)
    assert (second["achieved_reduction_mw"], second["shortfall_mw"]) == pytest.approx((31.0, 0))
    assert second["running_target"] == {"s21": 3}
    assert second["verified_asleep"] == {"s21": 7}
    # the second interval: one more sleep verified, and a wake after its ramp whose read-back
    # found 2 of 3 running (one still ramping)
    assert (second["sleep_commanded"], second["sleep_verified"]) == (1, 1)
    assert (second["wake_commanded"], second["wake_verified"]) == (3, 2)
    assert second["outcomes"] == {"ok": 3, "ramping": 1}
    assert doc["totals"]["reduced_mwh"] == pytest.approx(4.9 + 31.0 / 4)
    assert doc["totals"]["shortfall_mwh"] == pytest.approx(2.6)
    assert doc["commands"][0]["failures"] == [["10.0.0.9", "timeout"]]
    assert [m["kind"] for m in doc["markers"]] == ["dr_start", "dr_end"]
    json.dumps(doc, allow_nan=False)  # strict JSON


def test_evidence_like_days_and_regression(store):
    record_event(store)
    doc = build_evidence(store, "e1", "middle_8_of_10", tz="America/Chicago")
    # 14:00 UTC is 08:00 CST on every day here (no daylight change in the fortnight): the 10
    # weekdays give 100 and 101 MW (drop 300 and 5, the mean of the other 8 is 100)
    first, second = doc["intervals"]
    assert (first["baseline_import_mw"], second["baseline_import_mw"]) == (100.0, 101.0)
    assert first["achieved_reduction_mw"] == pytest.approx(100.0 - 181.4)  # import rose
    assert first["shortfall_mw"] == pytest.approx(30.0 + 81.4)
    assert second["achieved_reduction_mw"] == pytest.approx(101.0 - 170.0)
    reg = build_evidence(store, "e1", "regression")
    assert reg["baseline"]["method"] == "regression"
    assert len(reg["intervals"]) == 2


def test_evidence_refuses_short_history_and_unknown_events(store):
    record_event(store, like_days=WEEKDAYS_BACK[:9])
    with pytest.raises(BaselineError, match=r"needs 10 like days .* the history has 9"):
        build_evidence(store, "e1", "middle_8_of_10")
    with pytest.raises(EvidenceNotFound, match="no DR event, grid program window or EEA 'nope' in the store"):
        build_evidence(store, "nope")
    with pytest.raises(ValueError, match="unknown baseline method 'avg'"):
        build_evidence(store, "e1", "avg")


def test_meter_before_event_without_a_latched_baseline(store):
    record_event(store)
    # an event the runtime never started: the last fresh tick in the 900 s before it, if any
    store.add_dr_event("late", T0 + 1860.0, T0 + 2400.0, None, 0.1, T0, "alice")
    store.add_dr_event("next_day", T0 + DAY, T0 + DAY + 600.0, 5.0, None, T0, "alice")
    doc = build_evidence(store, "late")
    assert doc["baseline"]["source"].startswith("last fresh tick before the start")
    (only,) = doc["intervals"]
    # the tick at 14:30 (200 MW); a tenth of it asked; no tick in the window
    assert (only["baseline_import_mw"], only["reduction_asked_mw"]) == (200.0, 20.0)
    assert only["ticks"] == 0 and only["metered_import_mw"] is None
    assert only["achieved_reduction_mw"] is None and only["shortfall_mw"] is None
    with pytest.raises(
        BaselineError,
        match=r"latched no baseline for event next_day .* no "
        r"fresh tick was recorded in the 900 s before its start",
    ):
        build_evidence(store, "next_day")


def test_cancelled_event_ends_at_the_cancellation(store):
    record_event(store)
    store.cancel_dr_event("e1", T0 + 600.0)
    (only,) = build_evidence(store, "e1")["intervals"]
    assert only["interval_end_utc"] == "2026-11-25T14:10:00Z"
    assert only["ticks"] == 10  # 14:00 .. 14:09
    assert only["metered_import_mw"] == pytest.approx((201.0 + 9 * 180.0) / 10)


def _window(kind: str, wid: str, start_s: float, end_s: float, **terms) -> dict:
    """A program window's document as ``live/program_windows.Window.document`` records it."""
    iso = {t: utc_iso(t) for t in (start_s, end_s)}
    return {
        "kind": kind,
        "id": wid,
        "program": terms.pop("program", "coincident_peak"),
        "start": iso[start_s],
        "end": iso[end_s],
        "source": "alice",
        **terms,
    }


def test_evidence_of_program_windows(store):
    """A deployment (ECRS, 25 MW committed) and a 4CP alert recorded over the DR fixture's ticks
    (the tick at 14:00 metered 201 MW, then 180 MW, then 170 MW)."""
    record_event(store)
    (t0,) = store.select("SELECT tick FROM measurements WHERE time_s = ?", (T0,))
    dep = _window(
        "deployment", "d1", T0, T0 + 1800.0, program="ecrs", cap_mw=15.0, reference_mw=40.0, commit_mw=25.0
    )
    store.add_event(EventRecord(T0, "deployment_start", "ecrs deployed", dep), tick=t0["tick"])
    store.add_event(EventRecord(T0 + 1800.0, "deployment_end", "ended", dep))
    alert = _window("4cp_alert", "a1", T0, T0 + 900.0, cap_mw=30.0)
    store.add_event(EventRecord(T0, "4cp_alert_start", "4CP alert", alert), tick=t0["tick"])
    store.add_event(EventRecord(T0 + 600.0, "4cp_alert_end", "cancelled", alert))  # cancelled
    doc = build_evidence(store, "d1")
    assert doc["event"]["kind"] == "deployment" and doc["event"]["committed_mw"] == 25.0
    assert doc["baseline"]["latched_import_mw"] == 201.0  # the import of its first tick
    first, second = doc["intervals"]
    # 201 - 181.4 = 19.6 achieved of 25 asked: 5.4 short; then 201 - 170 = 31: none short
    assert first["reduction_asked_mw"] == second["reduction_asked_mw"] == 25.0
    assert (first["achieved_reduction_mw"], first["shortfall_mw"]) == pytest.approx((19.6, 5.4))
    assert (second["achieved_reduction_mw"], second["shortfall_mw"]) == pytest.approx((31.0, 0.0))
    assert doc["totals"]["shortfall_mwh"] == pytest.approx(5.4 / 4)
    assert first["verified_asleep"] == {"s21": 6}
    assert [m["kind"] for m in doc["markers"]] == ["deployment_start", "deployment_end"]
    # like days (programs/baselines.py, as for DR): 100 and 101 MW; import rose against them
    like = build_evidence(store, "d1", "middle_8_of_10", tz="America/Chicago")
    a, b = like["intervals"]
    assert (a["baseline_import_mw"], b["baseline_import_mw"]) == (100.0, 101.0)
    assert a["shortfall_mw"] == pytest.approx(25.0 + 81.4)
    # the 4CP alert commits no MW: reduction reported, nothing asked, no shortfall; it ends at
    # its end event (14:10), not its planned end
    cp = build_evidence(store, "a1")
    (only,) = cp["intervals"]
    assert only["interval_end_utc"] == "2026-11-25T14:10:00Z" and only["ticks"] == 10
    assert only["achieved_reduction_mw"] == pytest.approx(201.0 - (201.0 + 9 * 180.0) / 10)
    assert only["reduction_asked_mw"] is None and only["shortfall_mw"] is None
    assert cp["totals"]["shortfall_mwh"] is None
    assert evidence_csv(cp).splitlines()[1].split(",")[INTERVAL_COLUMNS.index("shortfall_mw")] == ""
    # an alert the load feed computed: the clock hour, no end event (it lapses with the hour)
    feed = _window("4cp_alert", f"feed-{int(T0)}", T0, T0 + 3600.0, cap_mw=30.0)
    store.add_event(
        EventRecord(T0, "4cp_alert_start", "4CP alert from the system load", feed), tick=t0["tick"]
    )
    hour = build_evidence(store, f"feed-{int(T0)}")
    assert hour["event"]["ended"] is None
    assert [i["ticks"] for i in hour["intervals"]] == [15, 15, 1, 0]  # ticks until 14:30
    assert hour["intervals"][3]["metered_import_mw"] is None


def test_csv_has_one_row_per_interval(tmp_path):
    s = open_store(str(tmp_path / "s.db"))
    try:
        record_event(s)
        text = evidence_csv(build_evidence(s, "e1"))
    finally:
        s.close()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [*INTERVAL_COLUMNS, "running_target[s21]", "verified_asleep[s21]"]
    assert [r["verified_asleep[s21]"] for r in rows] == ["6", "7"]
    assert [r["interval_start_utc"] for r in rows] == ["2026-11-25T14:00:00Z", "2026-11-25T14:15:00Z"]
    assert float(rows[0]["shortfall_mw"]) == pytest.approx(10.4)
    assert rows[1]["running_target[s21]"] == "3" and rows[1]["ticks_without_meter"] == "1"
    assert rows[0]["outcomes"] == "ok=5;timeout=1" and rows[1]["wake_verified"] == "2"


def test_ticks_of_an_older_version_have_no_verified_asleep(tmp_path):
    """Ticks written before the store recorded ``verified_asleep`` (NULL): reported as not
    known (null in JSON, an empty CSV cell), never as 0."""
    path = tmp_path / "s.db"
    s = open_store(str(path))
    record_event(s)
    s.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE setpoints SET verified_asleep = NULL")
    conn.close()
    s = open_store(str(path))
    try:
        doc = build_evidence(s, "e1")
    finally:
        s.close()
    assert [i["verified_asleep"] for i in doc["intervals"]] == [{"s21": None}] * 2
    assert [i["running_target"] for i in doc["intervals"]] == [{"s21": 4}, {"s21": 3}]
    rows = list(csv.DictReader(io.StringIO(evidence_csv(doc))))
    assert [r["verified_asleep[s21]"] for r in rows] == ["", ""]


def test_cli_exports_csv_and_json_and_names_an_unknown_event(tmp_path):
    assert METHODS == BASELINE_METHODS  # the CLI's copy (kept import-light) is the same
    path = tmp_path / "s.db"
    s = open_store(str(path))
    record_event(s)
    s.close()
    runner = CliRunner()
    r = runner.invoke(app, ["evidence", "--event", "e1", "--store", str(path), "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].startswith("event_id,method,interval_start_utc")
    assert len(r.stdout.splitlines()) == 3
    r = runner.invoke(app, ["evidence", "--event", "e1", "--store", str(path), "--method", "middle_8_of_10"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["intervals"][0]["baseline_import_mw"] == 100.0
    r = runner.invoke(app, ["evidence", "--event", "nope", "--store", str(path)])
    assert r.exit_code == 2
    assert r.stderr == f"error: no DR event, grid program window or EEA 'nope' in the store ({path})\n"
    r = runner.invoke(app, ["evidence", "--event", "e1", "--store", str(tmp_path / "x.db")])
    assert r.exit_code == 2 and r.stderr.startswith("error: no store at ")
    assert not (tmp_path / "x.db").exists()  # never creates a store
    r = runner.invoke(app, ["evidence", "--event", "e1", "--store", str(path), "--method", "avg"])
    assert r.exit_code == 2 and "--method must be one of" in r.stderr


def test_cli_reads_the_site_config_store_and_time_zone(tmp_path):
    from pathlib import Path

    import ballast

    s = open_store(str(tmp_path / "site.db"))
    record_event(s)
    s.close()
    scenario = Path(ballast.__file__).parent / "examples" / "west_texas_2024.yaml"
    (tmp_path / "site.yaml").write_text(f"scenario: {scenario}\nstore: {{dsn: site.db}}\n")
    r = CliRunner().invoke(
        app, ["evidence", "--event", "e1", "--config", str(tmp_path / "site.yaml"), "--method", "regression"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["baseline"]["tz"] == "America/Chicago"  # the scenario's site.timezone
    r = CliRunner().invoke(
        app, ["evidence", "--event", "e1", "--config", str(tmp_path / "site.yaml"), "--tz", "Mars/Olympus"]
    )
    assert r.exit_code == 2
    assert r.stderr == "error: event e1: tz 'Mars/Olympus' is not a time zone of the tz database\n"


VW = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


async def settled_asleep(emu, groups: list[str]) -> dict[str, int]:
    """The miners each group's emulator (not the runtime) reports asleep, once the same over
    1.2 s (12 reads 0.1 s apart: more than the 0.5-s emulated ramp and several 0.2-s ticks)."""
    seen: list[dict[str, int]] = []

    def settled() -> bool:
        seen.append({g: sum(emu.true_asleep(g)) for g in groups})
        return len(seen) >= 12 and seen[-12:] == [seen[-1]] * 12

    await until(settled, 15, "the emulated miners to settle", poll_s=0.1)
    return seen[-1]


async def test_api_evidence_of_a_live_event(tmp_path):
    """A DR event run by the real runtime on an emulated campus, then its evidence."""
    async with emulated_campus(tmp_path) as live:
        rt = live.runtime
        await until(
            lambda: rt.last_tick is not None and rt.last_tick["power_mw"]["import"], 5, "first metered tick"
        )
        asleep_before = sum((await settled_asleep(live.emulated, rt.group_names)).values())
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as client:
            r = await client.post(
                "/api/v1/dr-events", headers=OP, json={"duration_s": 600, "reduction_mw": 30}
            )
            event_id = r.json()["id"]
            await until(lambda: rt.store.events(kind="dr_start"), 5, "DR started")
            n0 = rt.tick_no
            await until(lambda: rt.tick_no >= n0 + 5, 5, "five ticks in the event")
            # the miners the emulators (not the runtime) report asleep, once settled
            true_asleep = await settled_asleep(live.emulated, rt.group_names)
            assert sum(true_asleep.values()) > asleep_before  # the event put miners to sleep
            await client.delete(f"/api/v1/dr-events/{event_id}", headers=OP)
            await until(lambda: rt.store.events(kind="dr_end"), 5, "DR ended")
            url = f"/api/v1/evidence/{event_id}"
            assert (await client.get(url)).status_code == 401
            r = await client.get(url, headers=VW, params={"interval_s": 60})
            assert r.status_code == 200, r.text
            doc = r.json()
            latched = rt.store.events(kind="dr_start")[-1]["data"]["baseline_import_mw"]
            assert doc["baseline"]["latched_import_mw"] == latched
            ev = rt.store.dr_events()[0]
            rows = [
                m
                for m in rt.store.measurements(limit=100_000)
                if ev["start_s"] <= m["time_s"] < ev["cancelled_s"]
            ]
            fresh = [m["import_mw"] for m in rows if m["import_mw"] is not None]
            assert sum(i["ticks"] for i in doc["intervals"]) == len(rows) >= 5
            # one-minute intervals: the event lasted seconds, so one or two intervals
            metered = [i["metered_import_mw"] for i in doc["intervals"]]
            weights = [i["ticks"] - i["ticks_without_meter"] for i in doc["intervals"]]
            assert sum(m * w for m, w in zip(metered, weights, strict=True)) == pytest.approx(sum(fresh))
            for i in doc["intervals"]:
                assert i["baseline_import_mw"] == latched and i["reduction_asked_mw"] == 30.0
                assert i["achieved_reduction_mw"] == pytest.approx(latched - i["metered_import_mw"])
            assert doc["totals"]["ticks"] == len(rows)
            # the last interval with ticks ends at the event's last tick, after the miners settled
            last = [i for i in doc["intervals"] if i["ticks"]][-1]
            assert last["verified_asleep"] == true_asleep
            r = await client.get(url, headers=VW, params={"format": "csv"})
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            assert r.text.splitlines()[0].startswith("event_id,method,")
            r = await client.get("/api/v1/evidence/nope", headers=VW)
            assert (
                r.status_code == 404
                and "no DR event, grid program window or EEA 'nope'" in r.json()["detail"]
            )
            r = await client.get(url, headers=VW, params={"method": "middle_8_of_10"})
            assert r.status_code == 422 and "needs 10 like days" in r.json()["detail"]
            r = await client.get(url, headers=VW, params={"method": "avg"})
            assert r.status_code == 422
            spec = (await client.get("/openapi.json")).json()
            route = spec["paths"]["/api/v1/evidence/{event_id}"]["get"]
            assert {"401", "404", "422"} <= set(route["responses"])


async def test_api_evidence_of_a_live_reserve_deployment(tmp_path):
    """An ECRS deployment run by the real runtime on an emulated campus (the reserve sold, then
    deployed through the API, then cancelled), then its evidence: the MW committed at the
    deployment's first tick is the reduction asked, the import metered at that tick the
    baseline, the miners verified asleep those the emulators report."""
    scen = INSTANT_WAKE | {"programs": {"ecrs": {"offer_mw": 25.0}, "reserve_only_when_economic": False}}
    async with emulated_campus(tmp_path, scenario=scen) as live:
        rt, emu = live.runtime, live.emulated
        await until(lambda: rt.programs.sold_mw.get("ecrs", 0.0) > 0, 10, "ECRS sold")
        asleep_before = sum((await settled_asleep(emu, rt.group_names)).values())
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as client:
            r = await client.post(
                "/api/v1/programs/deployments", headers=OP, json={"program": "ecrs", "duration_minutes": 10.0}
            )
            assert r.status_code == 201, r.text
            dep_id = r.json()["id"]
            await until(lambda: rt.store.events(kind="deployment_start"), 5, "deployment started")
            true_asleep = await settled_asleep(emu, rt.group_names)
            assert sum(true_asleep.values()) > asleep_before  # the deployment put miners to sleep
            assert (await client.delete(f"/api/v1/programs/windows/{dep_id}", headers=OP)).status_code == 200
            await until(lambda: rt.store.events(kind="deployment_end"), 5, "deployment ended")
            r = await client.get(f"/api/v1/evidence/{dep_id}", headers=VW, params={"interval_s": 60})
            assert r.status_code == 200, r.text
            doc = r.json()
            csv_text = (
                await client.get(f"/api/v1/evidence/{dep_id}", headers=VW, params={"format": "csv"})
            ).text
    # what the store holds, read directly (SQLite file), not through the evidence code
    with sqlite3.connect(tmp_path / "ballast.db") as db:
        db.row_factory = sqlite3.Row
        start = [r for r in db.execute("SELECT * FROM events WHERE kind = 'deployment_start'")]
        end = [r for r in db.execute("SELECT * FROM events WHERE kind = 'deployment_end'")]
        started = json.loads(start[0]["data"])
        first = db.execute(
            "SELECT import_mw FROM measurements WHERE tick = ?", (start[0]["tick"],)
        ).fetchone()
        t0 = pd.Timestamp(started["start"]).timestamp()
        fresh = [
            r["import_mw"]
            for r in db.execute(
                "SELECT import_mw FROM measurements WHERE time_s >= ? AND time_s < ? AND safe_mode = 0 "
                "AND import_mw IS NOT NULL",
                (t0, end[0]["time_s"]),
            )
        ]
    db.close()
    commit_mw = started["commit_mw"]
    assert commit_mw > 0 and started["id"] == dep_id
    assert doc["event"]["kind"] == "deployment" and doc["event"]["program"] == "ecrs"
    assert doc["event"]["committed_mw"] == commit_mw
    assert doc["baseline"]["latched_import_mw"] == first["import_mw"]
    metered = [(i["metered_import_mw"], i["ticks"] - i["ticks_without_meter"]) for i in doc["intervals"]]
    assert sum(m * w for m, w in metered if w) == pytest.approx(sum(fresh))
    for i in doc["intervals"]:
        assert i["reduction_asked_mw"] == commit_mw
        if i["metered_import_mw"] is not None:
            achieved = first["import_mw"] - i["metered_import_mw"]
            assert i["achieved_reduction_mw"] == pytest.approx(achieved)
            assert i["shortfall_mw"] == pytest.approx(max(commit_mw - achieved, 0.0))
    last = [i for i in doc["intervals"] if i["ticks"]][-1]
    assert last["verified_asleep"] == true_asleep
    assert [m["kind"] for m in doc["markers"]] == ["deployment_start", "deployment_end"]
    assert csv_text.splitlines()[0].startswith("event_id,method,")


def test_like_day_dates_in_the_fixture():
    """The fixture's like days are the 10 weekdays before Wednesday 2026-11-25."""
    event = date(2026, 11, 25)
    days = [event - timedelta(days=b) for b in WEEKDAYS_BACK]
    assert all(d.weekday() < 5 for d in days)
    assert len([d for d in (event - timedelta(days=b) for b in range(1, 15)) if d.weekday() < 5]) == 10


def record_eea(store: Store, *, latched: bool = True, cleared: bool = True) -> None:
    """EEA episode "x1" as ``live/eea_episodes`` records it, over ticks every 60 s.

    Level 1 set at 13:59:30 (curtail_at_level 2: no cap), level 3 at 14:05 (cap 0), cleared at
    14:20. Ticks from 13:58: 200 MW import and 40 MW of miners up to 14:05 inclusive, then 165
    and 5 MW. The first tick of the episode (14:00) latched 200 / 40 MW; fleet sleep power 2 MW."""
    iso = utc_iso(T0 - 30.0)
    data = {"id": "x1", "start": iso, "level": 1, "curtail_at_level": 2, "cap_mw": None}
    data |= {"source": "alice", "sleep_floor_mw": 2.0}
    data |= {"reference_import_mw": 200.0, "reference_miners_mw": 40.0} if latched else {}
    evs = {
        T0: [
            EventRecord(T0 - 30.0, "eea", "EEA level 1", {"id": "x1", "level": 1, "cap_mw": None}),
            EventRecord(T0, "eea_start", "EEA x1", data),
        ],
        T0 + 300.0: [EventRecord(T0 + 300.0, "eea", "EEA level 3", {"id": "x1", "level": 3, "cap_mw": 0.0})],
    }
    if cleared:
        evs[T0 + 1200.0] = [
            EventRecord(T0 + 1200.0, "eea", "EEA level 0", {"id": "x1", "level": 0, "cap_mw": None}),
            EventRecord(T0 + 1200.0, "eea_end", "EEA x1 ended", data | {"end": utc_iso(T0 + 1200.0)}),
        ]
    for n, k in enumerate(range(-2, 25), 1):  # 13:58 .. 14:24
        t = T0 + 60.0 * k
        imp, mnr = (200.0, 40.0) if t <= T0 + 300.0 else (165.0, 5.0)
        rec = _tick(n, t, imp, 10, events=evs.get(t, []))
        rec.measurement["miners_mw"] = mnr
        store.write_tick(rec)
    assert store.flush()


def test_evidence_of_an_eea_episode(store):
    record_eea(store)
    doc = build_evidence(store, "x1")
    ev = doc["event"]
    assert (ev["kind"], ev["start"], ev["ended"], ev["in_force"]) == (
        "eea",
        "2026-11-25T13:59:30Z",
        "2026-11-25T14:20:00Z",
        False,
    )
    assert [(lv["level"], lv["cap_mw"]) for lv in ev["levels"]] == [(1, None), (3, 0.0), (0, None)]
    assert (ev["max_level"], ev["cap_mw"]) == (3, 0.0)
    # committed: 40 MW of miners before, down to the 2 MW they draw asleep: 38 MW
    assert ev["miners_mw_before"] == 40.0 and ev["committed_mw"] == 38.0
    # during (the 19 fresh ticks after the first, 14:01-14:19): 5 at 40 MW, 14 at 5 MW
    assert ev["ticks_during"] == 19 and ev["miners_mw_during_min"] == 5.0
    assert ev["miners_mw_during_mean"] == pytest.approx(270.0 / 19)
    assert ev["curtailed_mw"] == pytest.approx(40.0 - 270.0 / 19)
    lead, first, second = doc["intervals"]
    # 13:59:30-14:00 (to the UTC quarter hour): no tick, no cap yet: nothing asked or metered
    assert (lead["interval_end_utc"], lead["ticks"], lead["reduction_asked_mw"]) == (
        "2026-11-25T14:00:00Z",
        0,
        None,
    )
    assert lead["metered_import_mw"] is None and lead["miners_reduction_mw"] is None
    # 14:00-14:15, capped from 14:05 (600 s of 900): 38 x 2/3 asked; ticks 14:00-14:14, 6 at
    # 200 MW and 9 at 165 MW: 179 MW, 21 achieved against the 200 latched
    assert first["reduction_asked_mw"] == pytest.approx(38.0 * 2.0 / 3.0)
    assert first["metered_import_mw"] == pytest.approx(179.0)
    assert first["achieved_reduction_mw"] == pytest.approx(21.0)
    assert first["shortfall_mw"] == pytest.approx(38.0 * 2.0 / 3.0 - 21.0)
    assert first["miners_reduction_mw"] == pytest.approx(40.0 - (6 * 40.0 + 9 * 5.0) / 15)
    # second (14:15-14:20, capped throughout): 38 asked, 35 achieved, 3 short
    assert (second["ticks"], second["reduction_asked_mw"]) == (5, 38.0)
    assert (second["achieved_reduction_mw"], second["shortfall_mw"]) == pytest.approx((35.0, 3.0))
    assert second["miners_reduction_mw"] == pytest.approx(35.0)
    assert [m["kind"] for m in doc["markers"]] == ["eea", "eea_start", "eea", "eea", "eea_end"]
    json.dumps(doc, allow_nan=False)
    rows = list(csv.DictReader(io.StringIO(evidence_csv(doc))))
    assert float(rows[2]["miners_reduction_mw"]) == pytest.approx(35.0)


def test_eea_without_a_latched_reference_or_an_end(store):
    """An episode whose first tick had no fresh meter (or resumed from an older state): the
    miner power before it is the last fresh tick before its start (13:59); one still in force
    runs to the last stored tick (14:24) and is reported in force."""
    record_eea(store, latched=False, cleared=False)
    doc = build_evidence(store, "x1")
    ev = doc["event"]
    assert ev["miners_mw_before"] == 40.0 and ev["miners_mw_before_source"].startswith("last fresh tick")
    assert ev["in_force"] and ev["ended"] is None
    assert doc["intervals"][-1]["interval_end_utc"] == "2026-11-25T14:24:00.001000Z"  # last tick in
    assert sum(i["ticks"] for i in doc["intervals"]) == 25  # 14:00 .. 14:24
    assert doc["baseline"]["source"].startswith("last fresh tick before the start")
    assert doc["intervals"][0]["baseline_import_mw"] == 200.0  # the 13:59 tick's import


async def test_api_evidence_of_a_live_eea(tmp_path):
    """An EEA run by the real runtime on an emulated campus: level 3 posted through the API
    (every miner off), then cleared; the episode's id is the one the API answered, and its
    evidence, checked against the store read directly (SQLite), not through the evidence code:
    the miner power before it is the one metered by the episode's first tick, the MW
    curtailed that minus the mean metered over the later ticks, and every miner is asleep by
    the emulators' own account."""
    scen = INSTANT_WAKE | {"programs": {"emergency": {"curtail_at_level": 1}}}
    async with emulated_campus(tmp_path, scenario=scen) as live:
        rt, emu = live.runtime, live.emulated
        await until(
            lambda: rt.last_tick is not None and rt.last_tick["power_mw"]["import"], 5, "first metered tick"
        )
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as client:
            r = await client.post("/api/v1/programs/eea", headers=OP, json={"level": 3})
            assert r.status_code == 200, r.text
            eea_id = r.json()["id"]
            await until(lambda: rt.store.events(kind="eea_start"), 5, "EEA started")
            state = (await client.get("/api/v1/programs", headers=VW)).json()["programs"]
            assert state["eea_id"] == eea_id and state["eea_level"] == 3
            true_asleep = await settled_asleep(emu, rt.group_names)
            r = await client.post("/api/v1/programs/eea", headers=OP, json={"level": 0})
            assert r.status_code == 200 and r.json()["id"] == eea_id
            await until(lambda: rt.store.events(kind="eea_end"), 5, "EEA ended")
            n = rt.tick_no
            await until(lambda: rt.tick_no > n + 1, 5, "the end recorded")
            r = await client.get(f"/api/v1/evidence/{eea_id}", headers=VW, params={"interval_s": 60})
            assert r.status_code == 200, r.text
            doc = r.json()
            csv_text = (
                await client.get(f"/api/v1/evidence/{eea_id}", headers=VW, params={"format": "csv"})
            ).text
    with sqlite3.connect(tmp_path / "ballast.db") as db:
        db.row_factory = sqlite3.Row
        (start,) = db.execute("SELECT * FROM events WHERE kind = 'eea_start'").fetchall()
        (end,) = db.execute("SELECT * FROM events WHERE kind = 'eea_end'").fetchall()
        started = json.loads(start["data"])
        first = db.execute(
            "SELECT import_mw, miners_mw FROM measurements WHERE tick = ?", (start["tick"],)
        ).fetchone()
        t0 = pd.Timestamp(started["start"]).timestamp()
        during = [
            r["miners_mw"]
            for r in db.execute(
                "SELECT miners_mw FROM measurements WHERE time_s >= ? AND time_s < ? AND tick > ? "
                "AND safe_mode = 0 AND import_mw IS NOT NULL AND miners_mw IS NOT NULL",
                (t0, end["time_s"], start["tick"]),
            )
        ]
    db.close()
    ev = doc["event"]
    assert (ev["kind"], ev["id"], ev["max_level"], ev["cap_mw"]) == ("eea", eea_id, 3, 0.0)
    assert started["id"] == eea_id and not ev["in_force"]
    before = first["miners_mw"]
    assert ev["miners_mw_before"] == before == started["reference_miners_mw"]
    assert doc["baseline"]["latched_import_mw"] == first["import_mw"]
    assert ev["ticks_during"] == len(during) >= 3
    assert ev["miners_mw_during_mean"] == pytest.approx(np.mean(during))
    assert ev["curtailed_mw"] == pytest.approx(before - np.mean(during))
    assert 0 < ev["curtailed_mw"] < before  # miners went down, to their sleep power, not 0
    assert ev["miners_mw_during_min"] < before
    # committed: all miner power above what the fleet draws asleep
    assert 0 < started["sleep_floor_mw"] < before
    assert ev["committed_mw"] == pytest.approx(before - started["sleep_floor_mw"])
    asked = [i["reduction_asked_mw"] for i in doc["intervals"] if i["reduction_asked_mw"] is not None]
    assert asked and max(asked) <= ev["committed_mw"] + 1e-9
    last = [i for i in doc["intervals"] if i["ticks"]][-1]
    assert true_asleep == {g: 10 for g in rt.group_names}  # the emulators: every miner asleep
    assert last["verified_asleep"] == true_asleep
    assert [m["kind"] for m in doc["markers"]] == ["eea", "eea_start", "eea", "eea_end"]
    assert csv_text.splitlines()[0].startswith("event_id,method,")
