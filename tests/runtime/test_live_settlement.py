"""The grid programs settled live (issue 17): on the emulated campus (LuxOS miners, Modbus meter
and DCGM exporter on loopback), a reserve sold for N ticks at a known price earns the
capacity revenue worked by hand, ``GET /api/v1/programs/settlement`` shows it, and it survives a
runtime restart on the same store. The runtime's clock is frozen and stepped by the test (an
injected clock), so every settled interval is known. The settlement arithmetic is also checked
alone, interval by interval, against numbers worked by hand."""

from __future__ import annotations

import copy
from pathlib import Path

import httpx
import pytest
from live_helpers import INSTANT_WAKE, OPERATOR_TOKEN, emulated_campus, until

from ballast.live.program_settlement import Commitments, ProgramSettlement
from ballast.scenario import parse_scenario

OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
OFFER_MW = 10.0
PRICE_USD_PER_MW_H = 10.0
T0 = 1_784_000_000.0  # 2026-07-14T03:33:20Z, a fixed UTC instant


async def _ticks(rt, n: int) -> None:
    k = rt.tick_no
    await until(lambda: rt.tick_no >= k + n, 10, f"{n} ticks")


async def test_a_reserve_sold_for_n_ticks_earns_its_capacity_payment_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    scen = copy.deepcopy(INSTANT_WAKE) | {
        "programs": {
            "ecrs": {"offer_mw": OFFER_MW, "price_usd_per_mw_h": PRICE_USD_PER_MW_H},
            "reserve_only_when_economic": False,
        }
    }
    now = [T0]
    dsn = str(tmp_path / "ballast.db")
    steps = 36  # seconds, one per step of the frozen clock
    # a meter reading late by a second on a loaded machine would leave an interval unpaid
    # (stale): the watchdog here waits 30 s, so every stepped second is settled
    wd = {"meter_stale_s": 30.0, "ai_stale_s": 30.0}
    async with emulated_campus(
        tmp_path, scenario=scen, store_dsn=dsn, clock=lambda: now[0], watchdog=wd
    ) as live:
        rt = live.runtime
        await until(lambda: rt.programs.sold_mw.get("ecrs") == OFFER_MW, 10, "the whole offer sold")
        await _ticks(rt, 2)  # ticks at the frozen time settle nothing more
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5, headers=OP) as c:
            before = (await c.get("/api/v1/programs/settlement")).json()["settlement"]
            for _ in range(steps):
                now[0] += 1.0
                await _ticks(rt, 2)
                assert rt.programs.sold_mw == {"ecrs": OFFER_MW}
            r = await c.get("/api/v1/programs/settlement")
        assert r.status_code == 200, r.text
        after = r.json()["settlement"]
        # by hand: 10 MW x 10 USD/MW-h x 36 s / 3600 s/h = 1.00 USD; 10 MW x 0.01 h = 0.1 MW-h
        ecrs, ecrs0 = after["programs"]["ecrs"], before["programs"]["ecrs"]
        assert ecrs["revenue_usd"] - ecrs0["revenue_usd"] == pytest.approx(1.0, rel=1e-9)
        assert ecrs["sold_mw_h"] - ecrs0["sold_mw_h"] == pytest.approx(0.1, rel=1e-9)
        assert ecrs["penalty_usd"] == 0.0 and ecrs["net_usd"] == ecrs["revenue_usd"]
        assert after["programs_cash_usd"] == ecrs["net_usd"]
        assert any("coincident_peak" in s for s in after["not_settled_live"])
        revenue = ecrs["revenue_usd"]
    # restarted on the same store: the totals are back before any new interval is settled
    now[0] += 3600.0  # an hour down: not settled (nothing was held under control)
    async with emulated_campus(
        tmp_path, scenario=scen, store_dsn=dsn, clock=lambda: now[0], watchdog=wd
    ) as live:
        rt = live.runtime
        assert rt.resumed_from_tick is not None
        assert rt.programs.settlement.totals["ecrs"]["revenue_usd"] == revenue
        await until(lambda: rt.programs.sold_mw.get("ecrs") == OFFER_MW, 10, "the offer sold again")
        await _ticks(rt, 2)
        assert rt.programs.settlement.totals["ecrs"]["revenue_usd"] == revenue
        now[0] += 1.0
        await _ticks(rt, 2)
        async with httpx.AsyncClient(base_url=live.api_url, timeout=5, headers=OP) as c:
            doc = (await c.get("/api/v1/programs/settlement")).json()["settlement"]
    # one more second: 10 x 10 / 3600 USD
    assert doc["programs"]["ecrs"]["revenue_usd"] == pytest.approx(revenue + 100.0 / 3600.0, rel=1e-9)


async def test_a_live_dr_event_is_paid_on_the_metered_import_below_its_baseline(tmp_path: Path) -> None:
    """A DR event posted to the runtime: each second of the frozen, stepped clock is paid
    ``payment_usd_per_mwh`` on the baseline (the import latched at its first tick, from its
    ``dr_start`` event) minus the import the store recorded at the tick ending that second."""
    scen = copy.deepcopy(INSTANT_WAKE) | {"programs": {"demand_response": {"payment_usd_per_mwh": 100.0}}}
    now = [T0]
    async with emulated_campus(tmp_path, scenario=scen, clock=lambda: now[0]) as live:
        rt = live.runtime
        await _ticks(rt, 3)
        ev = rt.add_dr_event(now[0], now[0] + 600.0, 20.0, None, "alice")
        await until(lambda: ev.id in rt.dr.baselines, 10, "the DR baseline latched")
        await _ticks(rt, 2)
        latched_s = now[0]
        for _ in range(20):
            now[0] += 1.0
            await _ticks(rt, 2)
        row = dict(rt.programs.settlement.totals["demand_response"])
        rt.store.flush()
        rows = rt.store.measurements(since_s=latched_s + 0.5, limit=10_000)
        (start,) = rt.store.events(limit=100, kind="dr_start")
    baseline_mw = start["data"]["baseline_import_mw"]
    first_at: dict[float, float] = {}
    for m in sorted(rows, key=lambda m: m["tick"]):  # the first tick at each new second
        first_at.setdefault(m["time_s"], m["import_mw"])
    assert len(first_at) == 20
    # by hand: sum over the seconds of max(0, baseline - import) x 1 s, at 100 USD/MWh
    mwh = sum(max(0.0, baseline_mw - imp) for imp in first_at.values()) / 3600.0
    assert mwh > 0.0  # the miners did shed
    assert row["reduced_mwh"] == pytest.approx(mwh, rel=1e-9)
    assert row["revenue_usd"] == pytest.approx(100.0 * mwh, rel=1e-9)
    assert row["deployments"] == 1.0


def _settlement(programs: dict) -> ProgramSettlement:
    return ProgramSettlement(parse_scenario(copy.deepcopy(INSTANT_WAKE) | {"programs": programs}).programs)


def test_a_deployment_short_of_its_commitment_pays_the_penalty_per_mwh_short() -> None:
    s = _settlement({"ecrs": {"offer_mw": 10, "shortfall_penalty_usd_per_mwh": 1000.0}})
    dep = (("d1", "ecrs", 40.0, 10.0),)  # reference 40 MW of miners, 10 MW committed
    s.settle(Commitments(T0, {"ecrs": 10.0}, dep), (150.0, 40.0), 10.0)
    s.settle(Commitments(T0 + 9.0, {}, dep), (150.0, 33.0), 10.0)  # 7 MW delivered for 9 s
    s.settle(Commitments(T0 + 30.0, {}), (150.0, 28.0), 10.0)  # 12 MW, 21 s, capped at 10 s
    row = s.totals["ecrs"]
    # by hand: delivered 7 x 9 + 12 x 10 = 183 MW-s; short 3 x 9 = 27 MW-s x 1000 USD/MWh
    assert row["delivered_mwh"] == pytest.approx(183.0 / 3600.0)
    assert row["shortfall_mwh"] == pytest.approx(27.0 / 3600.0)
    assert row["penalty_usd"] == pytest.approx(27_000.0 / 3600.0)
    assert row["revenue_usd"] == pytest.approx(10.0 * 9.62 * 9.0 / 3600.0)  # ECRS default price
    assert row["deployments"] == 1.0
    assert row["net_usd"] == pytest.approx(row["revenue_usd"] - row["penalty_usd"])


def test_dr_is_paid_on_import_below_its_baseline_and_a_stale_meter_delivers_nothing() -> None:
    s = _settlement({"demand_response": {"payment_usd_per_mwh": 200.0}})
    ev = (("e1", 150.0, 20.0),)  # baseline 150 MW of import, 20 MW asked
    s.settle(Commitments(T0, dr=ev), (150.0, 50.0), 5.0)
    s.settle(Commitments(T0 + 4.0, dr=ev), (126.0, 26.0), 5.0)  # 24 MW below for 4 s
    s.settle(Commitments(T0 + 6.0, dr=ev), None, 5.0)  # stale: 2 s, nothing delivered
    row = s.totals["demand_response"]
    # by hand: 24 x 4 = 96 MW-s at 200 USD/MWh; short 20 x 2 = 40 MW-s
    assert row["reduced_mwh"] == pytest.approx(96.0 / 3600.0)
    assert row["revenue_usd"] == pytest.approx(96.0 * 200.0 / 3600.0)
    assert row["shortfall_mwh"] == pytest.approx(40.0 / 3600.0)
    assert row["deployments"] == 1.0
