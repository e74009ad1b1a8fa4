"""In-process doubles of the runtime's device protocols (``ballast.live.interfaces``) over the
emulated site's own physics, for ``bench_chaos.py``.

- ``SimMeter`` (Meter): the meter emulator's registers (``MeterEmulator.snapshot``, its fault
  hooks included); a dropped meter refuses, a stalled one times out at once;
- ``SimAi`` (AiTelemetry): the DCGM emulator's IT power x PUE; refuses while DCGM is down;
- ``SimFleet`` (MinerFleet): verified sleep/wake/read over the LuxOS miner emulators in real
  LuxOS JSON (``EmulatedMiner.handle_request``, read-back parsed by the real driver's
  ``parse_readback``); a refusing or unreachable miner is ``refused``, one that answers later
  than the timeout is ``timeout``, one that acknowledges and does nothing is ``ignored``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from ballast.live.drivers.base import MinerApiError
from ballast.live.drivers.fleet import FleetResult, MinerOutcome
from ballast.live.drivers.luxos import READBACK_COMMAND, parse_readback
from ballast.live.drivers.meter import MeterReading
from ballast.live.emulated_site import EmulatedSite
from ballast.live.emulators.faults import Episode
from ballast.live.emulators.luxos_miner import EmulatedMiner


class SimClock:
    """Simulated time [s]; wall = a fixed UTC epoch + t, monotonic = t."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.epoch = datetime(2026, 1, 1, tzinfo=UTC).timestamp()

    def wall(self) -> float:
        return self.epoch + self.t

    def mono(self) -> float:
        return self.t


class World:
    """The site physics, the current episode and its fault, seen by the doubles."""

    def __init__(self, site: EmulatedSite, clock: SimClock) -> None:
        self.site, self.clock = site, clock
        self.ep: Episode | None = None
        self.t0 = 0.0

    def fault_on(self, *kinds: str) -> bool:
        ep = self.ep
        return ep is not None and ep.kind in kinds and ep.fault_active(self.clock.t - self.t0)


class SimMeter:
    def __init__(self, world: World) -> None:
        self.w = world

    async def read(self) -> MeterReading:
        w = self.w
        if w.fault_on("meter_drop"):
            raise ConnectionRefusedError("meter refused the connection")
        if w.fault_on("meter_stall"):
            raise TimeoutError("meter accepted and never answered")
        values = w.site.meter.snapshot()  # the emulator's fault hooks included
        return MeterReading(**values, read_at=datetime.fromtimestamp(w.clock.wall(), UTC))


class SimAi:
    def __init__(self, world: World, pue: float) -> None:
        self.w, self.pue = world, pue

    async def read_power_mw(self) -> float:
        if self.w.fault_on("dcgm_down"):
            raise ConnectionRefusedError("DCGM exporter down")
        assert self.w.site.dcgm is not None
        return self.w.site.dcgm.it_power_w / 1e6 * self.pue


class SimFleet:
    """Verified sleep/wake/read over the emulated miners, in real LuxOS JSON."""

    def __init__(self, miners: dict[str, EmulatedMiner], timeout_s: float) -> None:
        self.miners, self.timeout_s = miners, timeout_s
        self.on_sleep: list[Callable[[list[str]], None]] = []  # (ips) at each sleep command

    @staticmethod
    def _req(m: EmulatedMiner, command: str, parameter: str = "") -> dict[str, Any]:
        return json.loads(m.handle_request({"command": command, "parameter": parameter}))

    def _one(self, ip: str, action: str | None) -> MinerOutcome:
        m = self.miners[ip]
        if not m.reachable or m.faults.refuse:
            return MinerOutcome(ip, "refused", 0.0, 0.0, 1)
        if m.faults.delay_s > self.timeout_s:
            return MinerOutcome(ip, "timeout", self.timeout_s, self.timeout_s, 1)
        if action is not None:
            sid = self._req(m, "session")["SESSION"][0]["SessionID"]
            if not sid:
                sid = self._req(m, "logon")["SESSION"][0]["SessionID"]
            reply = self._req(m, "curtail", f"{sid},{action}")
            if reply["STATUS"][0]["STATUS"] != "S":
                return MinerOutcome(ip, "error", 0.0, 0.0, 1, detail=str(reply["STATUS"]))
        try:
            reading = parse_readback(ip, self._req(m, READBACK_COMMAND))
        except MinerApiError as e:
            return MinerOutcome(ip, "error", 0.0, 0.0, 1, detail=str(e))
        ok = action is None or reading.asleep == (action == "sleep")
        return MinerOutcome(ip, "ok" if ok else "ignored", 0.0, 0.0, 1, reading)

    def _all(self, name: str, action: str | None, ips: Iterable[str] | None) -> FleetResult:
        outcomes = [self._one(ip, action) for ip in (self.miners if ips is None else ips)]
        return FleetResult(name, outcomes, 0.0, dict(Counter(o.status for o in outcomes)))

    async def sleep(self, ips: Iterable[str] | None = None) -> FleetResult:
        ips = list(self.miners if ips is None else ips)
        for hook in self.on_sleep:
            hook(ips)
        return self._all("sleep", "sleep", ips)

    async def wake(self, ips: Iterable[str] | None = None, wait_ramp: bool = True) -> FleetResult:
        """``wait_ramp`` is accepted as in ``live.interfaces``; a simulated miner reports its
        state at once, so there is no ramp to wait."""
        return self._all("wake", "wakeup", ips)

    async def read_all(self, ips: Iterable[str] | None = None) -> FleetResult:
        return self._all("read_all", None, ips)
