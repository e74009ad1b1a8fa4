"""Callback-driven LuxOS requests for large fan-outs: no task, coroutine or loop handle per
connection.

``FleetCommander`` uses this for sleep/wake: per miner one ``curtail`` and one read-back (plus
``session``/``logon`` when no session is held), each on its own raw non-blocking socket (LuxOS
answers one request per connection and closes). Anything unusual (refused, timeout, error
reply, read-back disagreeing) is handed back to the caller, which handles that miner on the
ordinary coroutine path (session renewal, retries, classification).

Hand-written because no library multiplexes tens of thousands of one-shot sockets cheaply
enough from Python: the pump keeps its own ``select.epoll`` and registers only that one fd
with the event loop (``add_reader``), so a request costs one epoll registration instead of
three loop registrations (writer, reader, their removals). The request is sent right after a
non-blocking ``connect``; only when the handshake is not done yet (``EAGAIN``: the normal case
on a real network) does the socket wait for writability first. Closing a socket removes it
from the epoll set. Profiled in ``benchmarks/fanout.py``: the kernel's connect/close and the
JSON decode are what remains per miner.
"""

from __future__ import annotations

import asyncio
import errno
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable

RECV_BYTES = 65536
SWEEP_S = 0.02
EVENTS_PER_WAKEUP = 1024
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
_STREAM_NONBLOCK = socket.SOCK_STREAM | socket.SOCK_NONBLOCK
_IN = select.EPOLLIN
_OUT = select.EPOLLOUT

Done = Callable[[bytes | None, str], None]  # (reply bytes or None, failure text)


def _failure(stage: str, exc: OSError) -> str:
    code = exc.errno
    return f"{stage}: {errno.errorcode.get(code, code) if code is not None else exc}"


class _Request:
    """One request on one raw socket; its pump calls ``done`` exactly once."""

    __slots__ = ("chunks", "deadline", "done", "fd", "payload", "sending", "sock")

    def __init__(self, sock: socket.socket, payload: bytes, deadline: float, done: Done) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.payload = payload
        self.deadline = deadline
        self.done = done
        self.chunks: list[bytes] = []
        self.sending = True  # waiting for the handshake, the payload not sent yet


class RequestPump:
    """Runs chained requests with at most ``concurrency`` sockets open and a shared timeout."""

    def __init__(self, concurrency: int, timeout_s: float, port: int) -> None:
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.port = port
        self._open: dict[int, _Request] = {}  # fd -> request
        self._queue: deque[tuple[str, bytes, Done]] = deque()
        self._idle: asyncio.Future[None] | None = None
        self._pumping = False
        self._epoll: select.epoll | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.first_start_s: dict[str, float] = {}  # ip -> perf_counter of its first send

    def submit(self, ip: str, payload: bytes, done: Done) -> None:
        """Queue one request; ``done(reply, failure)`` is called when it ends."""
        self._queue.append((ip, payload, done))
        self._pump()

    def _pump(self) -> None:
        if self._pumping:  # a request that failed at once calls back into _pump: let the
            return  # outer loop carry on instead of recursing once per queued request
        self._pumping = True
        try:
            self._pump_loop()
        finally:
            self._pumping = False
        if self.idle and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    def _ensure_epoll(self) -> select.epoll:
        if self._epoll is None:
            self._epoll = select.epoll()
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._epoll.fileno(), self._on_events)
        return self._epoll

    def _pump_loop(self) -> None:
        ep = self._ensure_epoll()
        first = self.first_start_s
        port = self.port
        while self._queue and len(self._open) < self.concurrency:
            ip, payload, done = self._queue.popleft()
            now = time.perf_counter()
            first.setdefault(ip, now)
            try:
                sock = socket.socket(socket.AF_INET, _STREAM_NONBLOCK)  # no setblocking call
            except OSError as e:  # e.g. EMFILE: out of file descriptors
                done(None, _failure("socket", e))
                continue
            req = _Request(sock, payload, now + self.timeout_s, done)
            err = sock.connect_ex((ip, port))
            if err not in (0, errno.EINPROGRESS):
                self._close(req)
                done(None, f"connect: {errno.errorcode.get(err, err)}")
                continue
            self._open[req.fd] = req
            if self._send(req):
                ep.register(req.fd, _IN)
            elif req.done is not None:  # handshake still under way
                ep.register(req.fd, _OUT)

    def _send(self, req: _Request) -> bool:
        """Send the payload if the connection is up; False while it is not (or it failed)."""
        try:
            req.sock.send(req.payload)  # < 200 bytes on a fresh socket: never partial
        except BlockingIOError:
            return False
        except OSError as e:  # e.g. the handshake was refused
            self._finish(req, None, _failure("connect", e))
            return False
        req.sending = False
        return True

    def _on_events(self) -> None:
        assert self._epoll is not None
        for fd, _ in self._epoll.poll(0, EVENTS_PER_WAKEUP):
            req = self._open.get(fd)
            if req is None:
                continue
            if req.sending:
                if self._send(req):
                    self._epoll.modify(fd, _IN)
                continue
            self._on_read(req)
        self._pump()

    def _on_read(self, req: _Request) -> None:
        while True:
            try:
                data = req.sock.recv(RECV_BYTES)
            except BlockingIOError:
                return
            except OSError as e:
                self._finish(req, None, _failure("recv", e))
                return
            if not data:
                self._finish(req, b"".join(req.chunks), "")
                return
            req.chunks.append(data)

    def _close(self, req: _Request) -> None:
        # The server closed first (reply complete) or we give up: reset instead of a FIN
        # handshake, which spares both kernels a round trip and the server a TIME_WAIT.
        # Closing the socket also removes it from the epoll set.
        req.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        req.sock.close()

    def _finish(self, req: _Request, reply: bytes | None, failure: str) -> None:
        done, req.done = req.done, None
        if done is None:
            return
        self._open.pop(req.fd, None)
        self._close(req)
        done(reply, failure)

    def sweep(self) -> None:
        """Expire requests past their deadline. Every request gets the same timeout and
        ``_open`` keeps submission order, so the expired ones are its first entries: the
        sweep stops at the first live one instead of scanning every open socket."""
        now = time.perf_counter()
        expired = []
        for req in self._open.values():
            if req.deadline >= now:
                break
            expired.append(req)
        for req in expired:
            self._finish(req, None, "timeout")
        self._pump()

    @property
    def idle(self) -> bool:
        return not self._open and not self._queue

    def close(self) -> None:
        """Drop every queued and open request without calling back (cancellation), and
        release the epoll fd."""
        self._queue.clear()
        for req in list(self._open.values()):
            req.done = None
            self._close(req)
        self._open.clear()
        if self._epoll is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None

    async def drain(self) -> None:
        """Wait until every queued and open request has ended, expiring late ones."""
        if self.idle:
            return
        loop = asyncio.get_running_loop()
        self._idle = loop.create_future()

        def tick() -> None:
            self.sweep()
            if not self._idle.done():  # type: ignore[union-attr]
                handle[0] = loop.call_later(SWEEP_S, tick)

        handle = [loop.call_later(SWEEP_S, tick)]
        try:
            await self._idle
        finally:
            handle[0].cancel()
            self._idle = None


async def run_chains(pump: RequestPump, starts: Iterable[Callable[[], None]]) -> None:
    """Start every chain, wait until the pump is idle, then release it (also when
    cancelled: no socket is left open)."""
    try:
        for start in starts:
            start()
        await pump.drain()
    finally:
        pump.close()
