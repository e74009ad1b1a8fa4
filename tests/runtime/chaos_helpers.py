"""Driver of the fault campaign (``ballast.live.emulators.faults``) on the real emulated site.

One emulated campus on loopback (LuxOS miners, Modbus meter, DCGM exporter, site physics) and
one live site (runtime + store + API) run the seeded episodes in wall time. The true import is
recorded from the site physics (``EmulatedSite.on_step``), never from the meter the runtime
reads, which may be the faulted one. ``run_campaign`` returns one :class:`EpisodeResult` per
episode with every invariant violation named.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from live_helpers import OPERATOR_TOKEN, emulated_args, free_port, write_campus

from ballast.live.emulators.chaos_check import (
    MAX_TICK_GAP_S,
    Timing,
    allowed_windows,
    asleep_mw,
    hostile_verdict,
    model_mismatch_mw,
    overshoots,
    ramp_allowance_s,
    restore_state,
    runtime_state,
    tick_gaps_over,
)
from ballast.live.emulators.faults import (
    CHAOS_CAMPUS,
    Episode,
    faulty_miners,
    hold_sqlite_write_lock,
    inject_meter_fault,
    miner_fault_settings,
)
from ballast.live.runtime import Runtime
from ballast.live.serve import LiveSite, build_emulated
from ballast.programs.dr import DrRequest, dr_cap
from ballast.scenario import load_scenario

TIME_SCALE = 10.0  # device time per wall second (sleep ramp 5 s -> 0.5 s)
FROZEN_AFTER_S = 1.0  # identical meter values for this long, while the load moves: frozen


@dataclass
class EpisodeResult:
    episode: Episode
    violations: list[str] = field(default_factory=list)
    worst_overshoot_mw: float = 0.0  # over the whole episode, allowed or not [MW]
    worst_overshoot_s: float = 0.0
    notes: list[str] = field(default_factory=list)


class Campaign:
    """The campus, the live site and the recorders; ``run_campaign`` drives it."""

    def __init__(self, tmp_path: Path) -> None:
        path = write_campus(tmp_path, CHAOS_CAMPUS)
        self.scenario = load_scenario(path)
        self.db_path = str(tmp_path / "ballast.db")
        overrides = emulated_args(tmp_path, sensing={"frozen_after_s": FROZEN_AFTER_S})
        self.cfg, self.site = build_emulated(
            path, self.scenario, site=None, devices_per_group=10, ip_prefix="127.199",
            miner_port=free_port(), meter_port=free_port(), dcgm_port=free_port(),
            time_scale=TIME_SCALE, overrides=overrides)
        self.limit_mw = float(self.scenario.site.import_limit_mw)
        self.loop = asyncio.get_running_loop()
        self.samples: list[tuple[float, float, float]] = []  # (t, import, miners) [s, MW, MW]
        self.ticks: list[list[float]] = [[]]  # tick times per runtime instance
        self.episode: Episode | None = None
        self.t0 = 0.0
        self.live: LiveSite | None = None
        self.site.on_step.append(self._on_physics)
        # as the helper configures the runtime; see Runtime._meter_loop / _ai_loop
        c = self.cfg
        self.timing = Timing(
            tick_s=c.tick_s, meter_poll_s=c.ufr.poll_s, ai_poll_s=min(c.tick_s, 1.0) / 2,
            fleet_timeout_s=c.fleet.timeout_s, fleet_retries=c.fleet.retries,
            meter_stale_s=c.watchdog.meter_stale_s,
            meter_timeout_s=c.meter.timeout_s if c.meter else 0.5,
            frozen_s=c.sensing.frozen_after_s, physics_dt_s=self.site.physics_dt_s,
            time_scale=TIME_SCALE)

    @property
    def runtime(self) -> Runtime:
        assert self.live is not None and self.live.runtime is not None
        return self.live.runtime

    # ----------------------------------------------------------- recorders
    def _on_physics(self, last: dict[str, float]) -> None:
        now = self.loop.time()
        self.samples.append((now, last["import_mw"], last["miners_mw"]))
        ep = self.episode
        if ep is not None:  # the true load for the next physics step
            ai_share, cf = ep.load_at(now - self.t0)
            self.site.ai_share = ai_share
            self.site.renewable_capacity_factor = cf

    def _on_tick(self, _doc: dict[str, Any]) -> None:
        self.ticks[-1].append(self.loop.time())

    async def start_live(self) -> None:
        self.live = LiveSite(self.scenario, self.cfg)
        await self.live.__aenter__()
        self.runtime.on_tick.append(self._on_tick)

    async def stop_live(self) -> None:
        if self.live is not None:
            rt = self.live.runtime
            await self.live.__aexit__()
            self.live = None
            # every writer of a device record refreshed the fleet's columns (live.fleet_table)
            assert rt is None or rt.fleet_table.stale_rows() == [], "device records written without refresh"
            self.ticks.append([])

    def client(self) -> httpx.AsyncClient:
        assert self.live is not None
        return httpx.AsyncClient(base_url=self.live.api_url, timeout=10.0,
                                 headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})

    # -------------------------------------------------------------- faults
    async def _until(self, t_s: float) -> None:
        await asyncio.sleep(max(0.0, self.t0 + t_s - self.loop.time()))

    async def run_episode(self, ep: Episode) -> EpisodeResult:
        res = EpisodeResult(ep)
        self.episode, self.t0 = ep, self.loop.time()
        await self._until(ep.fault_at_s)
        clear = await self._inject(ep, res)
        await self._until(ep.fault_end_s)
        await clear()
        await self._until(ep.duration_s)
        self._judge(ep, res)
        return res

    async def _inject(self, ep: Episode, res: EpisodeResult) -> Any:
        site, kind = self.site, ep.kind

        async def nothing() -> None:
            return None

        if kind in ("meter_nan", "meter_inf", "meter_out_of_range", "meter_frozen"):
            inject_meter_fault(site.meter, ep)

            async def unfault() -> None:
                site.meter.release_faults()
            return unfault
        if kind in ("meter_drop", "meter_stall"):
            await site.meter.stop()
            stall: asyncio.Server | None = None
            held: list[asyncio.StreamWriter] = []
            if kind == "meter_stall":  # accepts, reads, never answers
                async def hold(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                    held.append(w)
                    try:
                        with contextlib.suppress(Exception):
                            while await reader.read(1024):
                                pass
                    finally:  # also a connection accepted while ``back`` closed the others
                        w.close()
                stall = await asyncio.start_server(hold, site.meter.host, site.meter.port)

            async def back() -> None:
                if stall is not None:
                    stall.close()
                    for w in held:
                        w.close()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(stall.wait_closed(), 2.0)
                await site.meter.start()
            return back
        if kind == "dcgm_down":
            assert site.dcgm is not None
            await site.dcgm.stop()
            return site.dcgm.start
        if kind.startswith("miners_"):
            return await self._miner_fault(ep)
        if kind == "store_stall":
            held = threading.Event()
            th = threading.Thread(target=hold_sqlite_write_lock, args=(self.db_path, ep.stall_s, held),
                                  daemon=True)
            th.start()
            await asyncio.to_thread(held.wait, 5.0)

            async def join() -> None:
                await asyncio.to_thread(th.join, 30.0)
            return join
        if kind == "hostile_request":
            await self._hostile(ep, res)
            return nothing
        if kind == "restart_mid_event":
            return await self._restart_mid_event(ep, res)
        raise AssertionError(f"no driver for fault kind {kind!r}")

    async def _miner_fault(self, ep: Episode) -> Any:
        groups = self.site.emulators_by_group
        hit = faulty_miners(ep, {g: emu.ips for g, emu in groups.items()})
        emu_of = {ip: emu for emu in groups.values() for ip in emu.ips}
        mode = ep.miner_mode
        settings = miner_fault_settings(mode or "", command_timeout_s=self.cfg.fleet.timeout_s)
        for ip in hit:
            if mode == "reboot":
                emu_of[ip].reboot(ip, downtime_s=None)
            elif mode == "session_expired":
                emu_of[ip].expire_session(ip)
            else:
                await emu_of[ip].inject(ip, **settings)

        async def clear() -> None:
            for ip in hit:
                await emu_of[ip].clear_faults(ip)
                if mode == "reboot":
                    await emu_of[ip].power_on(ip)
        return clear

    async def _hostile(self, ep: Episode, res: EpisodeResult) -> None:
        req = ep.request
        assert req is not None
        before = runtime_state(self.runtime)
        async with self.client() as c:
            r = await c.request(req.method, req.path, content=req.body.encode(),
                                headers={"Content-Type": "application/json"})
        await asyncio.sleep(2 * self.cfg.tick_s)
        res.notes.append(f"{req.name}: HTTP {r.status_code}")
        res.violations += hostile_verdict(req.name, r.status_code, before,
                                          runtime_state(self.runtime))
        restore_state(self.runtime, before)

    async def _restart_mid_event(self, ep: Episode, res: EpisodeResult) -> Any:
        body = {"duration_s": ep.duration_s, "reduction_mw": ep.dr_reduction_mw}
        async with self.client() as c:
            r = await c.post("/api/v1/dr-events", json=body)
        if r.status_code != 201:
            res.violations.append(f"valid DR event refused: HTTP {r.status_code} {r.text}")
            return self._noop
        ev_id = r.json()["id"]
        deadline = self.loop.time() + 2.0
        while ev_id not in self.runtime.dr.baselines and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        baseline = self.runtime.dr.baselines.get(ev_id)
        await self.stop_live()
        t_restart = self.loop.time()
        await self.start_live()
        if ev_id not in self.runtime.dr_events:
            res.violations.append(f"DR event {ev_id} lost in the restart")
        elif baseline is not None:
            # the cap on miner power; asleep, the miners still draw their sleep power
            cap_mw = max(asleep_mw(self.site.plan),
                         dr_cap(DrRequest(ep.dr_reduction_mw), *baseline).cap_mw)
            res.notes.append(f"DR cap {cap_mw:.1f} MW; restart at {t_restart - self.t0:.2f} s")
            self._dr_check = (ev_id, t_restart, cap_mw)

        async def cancel() -> None:
            async with self.client() as c:
                await c.delete(f"/api/v1/dr-events/{ev_id}")
        return cancel

    async def _noop(self) -> None:
        return None

    _dr_check: tuple[str, float, float] | None = None

    # --------------------------------------------------------------- judge
    def _judge(self, ep: Episode, res: EpisodeResult) -> None:
        t0, t1 = self.t0, self.t0 + ep.duration_s
        samples = [s for s in self.samples if t0 <= s[0] < t1]
        windows = allowed_windows(self.timing, ep, t0)
        times = [s[0] for s in samples]
        over = overshoots(times, [s[1] for s in samples], self.limit_mw, windows,
                          model_mismatch_mw(self.site.plan))
        for o in over:
            if o.worst_mw > res.worst_overshoot_mw:
                res.worst_overshoot_mw, res.worst_overshoot_s = o.worst_mw, o.duration_s
            if not o.allowed:
                res.violations.append(
                    f"import over the limit by {o.outside_worst_mw:.2f} MW for {o.outside_s:.2f} s "
                    f"outside the ramp allowance (stretch from {o.start_s - t0:.2f} s, worst "
                    f"{o.worst_mw:.1f} MW)")
        for ts in self.ticks:  # per runtime instance: a restart's own gap is no tick gap
            for t, gap in tick_gaps_over([t for t in ts if t < t1]):
                if t >= t0:
                    res.violations.append(f"tick gap {gap:.2f} s at {t - t0:.2f} s")
        last = self.ticks[-1][-1] if self.ticks[-1] else t0
        if t1 - max(last, t0) > MAX_TICK_GAP_S:
            res.violations.append(f"no tick in the last {t1 - max(last, t0):.2f} s of the "
                                  "episode")
        if self._dr_check is not None:
            ev_id, t_restart, cap_mw = self._dr_check
            self._dr_check = None
            first = next((t for t in self.ticks[-1] if t >= t_restart), t1)
            settle = first + ramp_allowance_s(self.timing, ep, False)
            end = t0 + ep.fault_end_s  # the event is cancelled then
            worst = max((m for t, _, m in samples if settle <= t < end), default=-math.inf)
            if worst > cap_mw + 1e-6:
                res.violations.append(f"after the restart the miners drew {worst:.1f} MW over "
                                      f"the DR cap of {cap_mw:.1f} MW (event {ev_id})")


async def run_campaign(tmp_path: Path, episodes: list[Episode]) -> list[EpisodeResult]:
    camp = Campaign(tmp_path)
    async with camp.site:
        await camp.start_live()
        try:
            await asyncio.sleep(2.0)  # settle: the first fleet read, the first ticks
            return [await camp.run_episode(ep) for ep in episodes]
        finally:
            await camp.stop_live()
