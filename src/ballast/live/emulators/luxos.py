"""Fleet of emulated LuxOS miners, each listening on its own loopback address, port 4028.

All miners share one asyncio loop. On Linux every address in 127.0.0.0/8 is local, so
127.0.0.2, 127.0.0.3, ... (skipping .0 and .255 of each /24) give one address per miner with
no set-up. Transport follows the LuxOS API
(docs/sources.md#luxos-api): the client writes one JSON object, the server
replies once and closes.

Usage::

    async with MinerEmulator(count=200) as emu:
        ip = emu.ips[0]
        await emu.inject(ip, ignore_commands=True)
        emu.true_state(ip).asleep
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import json
import resource
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import fields
from typing import Any

from ballast.live.emulators.catalog import DEFAULT_MODELS, LUXOS_PORT, get_model
from ballast.live.emulators.dynamics import Clock
from ballast.live.emulators.luxos_miner import (
    PRIVILEGED_COMMANDS,
    EmulatedMiner,
    FirmwareQuirks,
    MinerFaults,
    TrueState,
)

MAX_REQUEST_BYTES = 65536


def raise_open_file_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit towards ``wanted`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def loopback_ips(count: int, base_ip: str = "127.0.0.2") -> list[str]:
    """``count`` loopback addresses from ``base_ip`` up, skipping x.x.x.0 and x.x.x.255."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    try:
        start = ipaddress.IPv4Address(base_ip)
    except ValueError:
        raise ValueError(f"base_ip {base_ip!r} is not an IPv4 address") from None
    if not start.is_loopback:
        raise ValueError(f"base_ip {base_ip!r} is not in 127.0.0.0/8")
    ips: list[str] = []
    addr = int(start)
    while len(ips) < count:
        ip = ipaddress.IPv4Address(addr)
        if not ip.is_loopback:
            raise ValueError(f"{count} miners from {base_ip} run past 127.255.255.255")
        if addr & 0xFF not in (0, 255):
            ips.append(str(ip))
        addr += 1
    return ips


class _MinerProtocol(asyncio.Protocol):
    """One connection: gather one JSON request, reply once, close."""

    __slots__ = ("buf", "emu", "miner", "transport")

    def __init__(self, emu: MinerEmulator, miner: EmulatedMiner) -> None:
        self.emu = emu
        self.miner = miner
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.emu._open.setdefault(self.miner.ip, set()).add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.emu._open.get(self.miner.ip, set()).discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        body = self.buf.rstrip(b"\x00 \r\n")
        if not body.endswith(b"}") and len(self.buf) < MAX_REQUEST_BYTES:
            return  # wait for the rest of the object
        try:
            request = json.loads(body)
        except ValueError:
            if len(self.buf) < MAX_REQUEST_BYTES:
                return  # an incomplete object that happens to end in '}'
            request = None
        self.buf = b""
        try:
            reply = self.miner.handle_request(request)
        except Exception as exc:  # a bug in a handler must not take the fleet down
            reply = (
                b'{"STATUS":[{"STATUS":"E","Code":99,"Msg":"internal error: '
                + type(exc).__name__.encode()
                + b'"}],"id":1}'
            )
        if self.miner.faults.lose_privileged_replies and _command_of(request) in PRIVILEGED_COMMANDS:
            return  # it acted; the reply is lost on the way back (the client times out)
        delay_s = self.miner.faults.delay_s
        if delay_s > 0:
            asyncio.get_running_loop().call_later(delay_s, self._send, reply)
        else:
            self._send(reply)

    def _send(self, reply: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(reply)
            t.close()


def _command_of(request: object) -> object:
    return request.get("command") if isinstance(request, dict) else None


class MinerEmulator:
    """N emulated LuxOS miners on loopback; an async context manager."""

    def __init__(
        self,
        count: int,
        base_ip: str = "127.0.0.2",
        models: Sequence[str] = DEFAULT_MODELS,
        *,
        port: int = LUXOS_PORT,
        clock: Clock = time.monotonic,
        backlog: int = 128,
    ) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if not models:
            raise ValueError("models must name at least one catalog model")
        model_objs = [get_model(m) for m in models]  # raises naming the unknown model
        self.port = port
        self.clock = clock
        self.backlog = backlog
        self.ips = loopback_ips(count, base_ip)
        cycle = itertools.cycle(model_objs)
        self.miners: dict[str, EmulatedMiner] = {
            ip: EmulatedMiner(ip, next(cycle), clock, on_reboot=self._on_reboot_command) for ip in self.ips
        }
        self._servers: dict[str, asyncio.Server] = {}
        # accepted connections per address: a miner going down (refuse, reboot, stop) resets
        # them, as a rebooting miner's TCP stack does (asyncio's Server.close leaves them open)
        self._open: dict[str, set[asyncio.BaseTransport]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # --------------------------------------------------------------- lifecycle
    async def start(self) -> MinerEmulator:
        raise_open_file_limit(len(self.ips) + 4096)
        for ip in self.ips:
            await self._listen(ip)
        return self

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        servers = list(self._servers.values())
        self._servers.clear()
        for server in servers:
            server.close()
        for ip in list(self._open):
            for transport in list(self._open.pop(ip, ())):
                transport.abort()
        for server in servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def __aenter__(self) -> MinerEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _listen(self, ip: str) -> None:
        if ip in self._servers:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, self.port))
        except OSError as e:
            sock.close()
            raise OSError(f"cannot listen on {ip}:{self.port}: {e}") from e
        sock.setblocking(False)
        miner = self.miners[ip]
        loop = asyncio.get_running_loop()
        self._servers[ip] = await loop.create_server(
            lambda: _MinerProtocol(self, miner), sock=sock, backlog=self.backlog
        )

    def _unlisten(self, ip: str) -> None:
        server = self._servers.pop(ip, None)
        if server is not None:
            server.close()
        for transport in list(self._open.pop(ip, ())):
            if not transport.is_closing():  # a reply on its way out (rebootdevice) still goes
                transport.abort()  # reset: the peer sees the connection drop

    # ------------------------------------------------------------ inspection
    def _miner(self, ip: str) -> EmulatedMiner:
        try:
            return self.miners[ip]
        except KeyError:
            raise KeyError(f"no emulated miner at {ip!r}") from None

    def miner(self, ip: str) -> EmulatedMiner:
        """The emulated miner at ``ip`` (raises KeyError naming the address)."""
        return self._miner(ip)

    def true_state(self, ip: str) -> TrueState:
        """Ground truth of the miner at ``ip``."""
        return self._miner(ip).true_state()

    def states(self) -> Iterator[TrueState]:
        return (m.true_state() for m in self.miners.values())

    def total_power_w(self) -> float:
        """Sum of true wall power over the fleet [W]."""
        return sum(m.dynamics.power_w() for m in self.miners.values())

    # ---------------------------------------------------------------- faults
    async def inject(self, ip: str, **faults: Any) -> MinerFaults:
        """Set faults on one miner (fields of :class:`MinerFaults`); returns the new set."""
        miner = self._miner(ip)
        names = {f.name for f in fields(MinerFaults)}
        unknown = set(faults) - names
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; valid: {sorted(names)}")
        for key, value in faults.items():
            setattr(miner.faults, key, value)
        if miner.reachable:
            if miner.faults.refuse:
                self._unlisten(ip)
            else:
                await self._listen(ip)
        return miner.faults

    def set_quirks(self, ip: str, **quirks: Any) -> FirmwareQuirks:
        """Set firmware quirks on one miner (fields of :class:`FirmwareQuirks`)."""
        miner = self._miner(ip)
        names = {f.name for f in fields(FirmwareQuirks)}
        unknown = set(quirks) - names
        if unknown:
            raise ValueError(f"unknown quirk(s) {sorted(unknown)}; valid: {sorted(names)}")
        for key, value in quirks.items():
            setattr(miner.quirks, key, frozenset(value) if key == "atm_blocks" else value)
        return miner.quirks

    async def clear_faults(self, ip: str) -> None:
        await self.inject(ip, **{f.name: f.default for f in fields(MinerFaults)})

    def expire_session(self, ip: str) -> None:
        """Fault: the miner's session idles out now."""
        self._miner(ip).expire_session()

    def reboot(self, ip: str, downtime_s: float | None = 30.0) -> None:
        """Fault: the miner goes unreachable; back after ``downtime_s`` (None: until power_on)."""
        miner = self._miner(ip)
        miner.reachable = False
        self._unlisten(ip)
        old = self._timers.pop(ip, None)
        if old is not None:
            old.cancel()
        if downtime_s is not None:
            loop = asyncio.get_running_loop()
            self._timers[ip] = loop.call_later(downtime_s, lambda: asyncio.ensure_future(self.power_on(ip)))

    async def power_on(self, ip: str) -> None:
        """End a reboot: the miner restarts (keeping its curtailed state) and listens again."""
        miner = self._miner(ip)
        timer = self._timers.pop(ip, None)
        if timer is not None:
            timer.cancel()  # powered on early: the scheduled power-on must not fire again
        miner.restart()
        miner.reachable = True
        if not miner.faults.refuse:
            await self._listen(ip)

    def _on_reboot_command(self, miner: EmulatedMiner) -> None:
        # the miner answers rebootdevice, then goes down: the reply leaves before the reset
        miner.reachable = False
        asyncio.get_running_loop().call_soon(self.reboot, miner.ip, 30.0)
