"""Callback-driven LuxOS requests for large fan-outs: no task or coroutine per connection.

``FleetCommander`` uses this for sleep/wake on miners whose session is already held: per miner
one ``curtail`` and one read-back, each a raw non-blocking socket driven by the event loop's
``add_writer``/``add_reader`` callbacks, with one shared timer sweeping deadlines. Anything
unusual (refused, timeout, error reply, read-back disagreeing) is handed back to the caller,
which retries that miner on the ordinary coroutine path (session renewal, retries,
classification). Measured in ``benchmarks/fanout.py``: this roughly halves the client's CPU
per miner against the coroutine path, which is what bounds a 10,000-miner fan-out on 2 cores.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable

RECV_BYTES = 65536
SWEEP_S = 0.02
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST

Done = Callable[[bytes | None, str], None]  # (reply bytes or None, failure text)


class _Request:
    """One request on one raw socket; calls ``done`` exactly once."""

    __slots__ = ("chunks", "deadline", "done", "fd", "loop", "payload", "sock")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        ip: str,
        port: int,
        payload: bytes,
        timeout_s: float,
        done: Done,
    ) -> None:
        self.loop = loop
        self.payload = payload
        self.done: Done | None = done
        self.chunks: list[bytes] = []
        self.deadline = time.perf_counter() + timeout_s
        try:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:  # e.g. EMFILE: out of file descriptors
            self.done = None
            done(None, f"socket: {e}")
            return
        self.sock.setblocking(False)
        self.fd = self.sock.fileno()
        err = self.sock.connect_ex((ip, port))
        if err in (0, errno.EINPROGRESS):
            loop.add_writer(self.fd, self._on_connect)
        else:
            self._finish(None, f"connect: {errno.errorcode.get(err, err)}")

    def _on_connect(self) -> None:
        self.loop.remove_writer(self.fd)
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._finish(None, f"connect: {errno.errorcode.get(err, err)}")
            return
        try:
            self.sock.send(self.payload)  # < 200 bytes on a fresh socket: never partial
        except OSError as e:
            self._finish(None, f"send: {e}")
            return
        self.loop.add_reader(self.fd, self._on_read)

    def _on_read(self) -> None:
        try:
            data = self.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return
        except OSError as e:
            self._finish(None, f"recv: {e}")
            return
        if data:
            self.chunks.append(data)
        else:
            self._finish(b"".join(self.chunks), "")

    def expire(self) -> None:
        self._finish(None, "timeout")

    def _finish(self, reply: bytes | None, failure: str) -> None:
        done, self.done = self.done, None
        if done is None:
            return
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        # The server closed first (reply complete) or we give up: reset instead of a FIN
        # handshake, which spares both kernels a round trip and the server a TIME_WAIT.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.sock.close()
        done(reply, failure)


class RequestPump:
    """Runs chained requests with at most ``concurrency`` sockets open and a shared timeout."""

    def __init__(self, concurrency: int, timeout_s: float, port: int) -> None:
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.port = port
        self._open: set[_Request] = set()
        self._queue: deque[tuple[str, bytes, Done]] = deque()
        self._idle: asyncio.Future[None] | None = None
        self._pumping = False
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

    def _pump_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue and len(self._open) < self.concurrency:
            ip, payload, done = self._queue.popleft()
            self.first_start_s.setdefault(ip, time.perf_counter())
            holder: list[_Request] = []

            def finished(reply: bytes | None, failure: str, _h: list = holder, _d=done) -> None:
                if _h:
                    self._open.discard(_h[0])
                _d(reply, failure)
                self._pump()
                if self.idle and self._idle is not None and not self._idle.done():
                    self._idle.set_result(None)

            req = _Request(loop, ip, self.port, payload, self.timeout_s, finished)
            if req.done is not None:
                holder.append(req)
                self._open.add(req)

    def sweep(self) -> None:
        """Expire requests past their deadline."""
        now = time.perf_counter()
        for req in [r for r in self._open if r.deadline < now]:
            req.expire()

    @property
    def idle(self) -> bool:
        return not self._open and not self._queue

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
    """Start every chain, then wait until the pump is idle."""
    for start in starts:
        start()
    await pump.drain()
