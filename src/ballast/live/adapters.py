"""Glue between the device drivers (``live.drivers``) and the runtime's small protocols.

- ``LuxosFleet``: one ``FleetCommander`` per API port, behind one sleep/wake/read_all face;
- ``ReconnectingMeter``: the Modbus meter driver, reconnecting after a failed read;
- ``DcgmAiTelemetry``: DCGM GPU power scrape x PUE = AI facility power [MW].
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable

from ballast.live.drivers.dcgm import DcgmScraper
from ballast.live.drivers.fleet import FleetCommander, FleetResult
from ballast.live.drivers.meter import MeterReading, ModbusMeter, NonFiniteMeterValue
from ballast.physics import facility_mw


class LuxosFleet:
    """Verified fan-out to LuxOS miners that may listen on different ports."""

    def __init__(self, ports_by_ip: dict[str, int], *, timeout_s: float = 0.5, retries: int = 1,
                 concurrency: int = 1000) -> None:
        by_port: dict[int, list[str]] = defaultdict(list)
        for ip, port in ports_by_ip.items():
            by_port[port].append(ip)
        self.port_of = dict(ports_by_ip)
        self.commanders = {port: FleetCommander(ips, port=port, timeout_s=timeout_s,
                                                retries=retries, concurrency=concurrency)
                           for port, ips in by_port.items()}

    async def _each(self, name: str, op: Callable[[FleetCommander, list[str]],
                                                  Awaitable[FleetResult]],
                    ips: Iterable[str] | None) -> FleetResult:
        """``op`` (an unbound ``FleetCommander`` method) on each port's commander."""
        groups: dict[int, list[str]] = defaultdict(list)
        for ip in self.port_of if ips is None else ips:
            groups[self.port_of[ip]].append(ip)
        results = [await op(self.commanders[port], sel) for port, sel in groups.items()]
        if len(results) == 1:
            return results[0]
        outcomes = [o for r in results for o in r.outcomes]
        return FleetResult(name, outcomes, max((r.elapsed_s for r in results), default=0.0),
                           dict(Counter(o.status for o in outcomes)))

    async def sleep(self, ips: Iterable[str] | None = None) -> FleetResult:
        return await self._each("sleep", FleetCommander.sleep, ips)

    async def wake(self, ips: Iterable[str] | None = None, *, wait_ramp: bool = True) -> FleetResult:
        return await self._each("wake", lambda c, sel: c.wake(sel, wait_ramp=wait_ramp), ips)

    async def read_all(self, ips: Iterable[str] | None = None) -> FleetResult:
        return await self._each("read_all", FleetCommander.read_all, ips)

    async def keep_sessions(self, ips: Iterable[str] | None = None) -> FleetResult:
        """Hold a fresh LuxOS session on each miner so a curtail can take the one-round-trip
        fast path. LuxOS sessions idle out after ~60 s and only privileged commands refresh
        them; ``ledset red,off`` is privileged and leaves mining untouched."""
        groups: dict[int, list[str]] = defaultdict(list)
        for ip in self.port_of if ips is None else ips:
            groups[self.port_of[ip]].append(ip)
        results = [await self.commanders[port].run(
            "keepalive", lambda m: m.privileged("ledset", "red,off"), None, sel)
            for port, sel in groups.items()]
        outcomes = [o for r in results for o in r.outcomes]
        return FleetResult("keepalive", outcomes, max((r.elapsed_s for r in results),
                                                      default=0.0),
                           dict(Counter(o.status for o in outcomes)))


class ReconnectingMeter:
    """``ModbusMeter`` that (re)connects on demand; a failed read drops the connection (a
    non-finite value does not: the meter answered)."""

    def __init__(self, host: str, port: int, *, device_id: int = 1, timeout_s: float = 0.5):
        self.host, self.port, self.device_id, self.timeout_s = host, port, device_id, timeout_s
        self._meter: ModbusMeter | None = None

    async def read(self) -> MeterReading:
        if self._meter is None:
            meter = ModbusMeter(self.host, self.port, device_id=self.device_id,
                                timeout_s=self.timeout_s)
            await meter.connect()
            self._meter = meter
        try:
            return await self._meter.read()
        except NonFiniteMeterValue:
            raise  # the meter answered: the connection is fine, the reading is not
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._meter is not None:
            with contextlib.suppress(Exception):
                self._meter.close()
            self._meter = None


class DcgmAiTelemetry:
    """AI facility power [MW] = summed DCGM GPU power x ``pue`` (facility/IT factor)."""

    def __init__(self, url: str, pue: float, *, timeout_s: float = 0.5) -> None:
        self.scraper = DcgmScraper([url], timeout_s=timeout_s)
        self.pue = pue
        self._open = False

    async def read_power_mw(self) -> float:
        if not self._open:
            await self.scraper.__aenter__()
            self._open = True
        return facility_mw((await self.scraper.read()).it_power_mw, self.pue)

    async def close(self) -> None:
        if self._open:
            await self.scraper.__aexit__(None, None, None)
            self._open = False
