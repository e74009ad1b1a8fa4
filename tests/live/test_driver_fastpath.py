"""The callback request pump: every request ends exactly once (reply, refusal or timeout)."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import pytest

from ballast.live.drivers.fastpath import RequestPump, run_chains
from ballast.live.drivers.luxos_client import encode_request
from ballast.live.emulators.luxos import MinerEmulator


async def test_pump_reports_replies_refusals_and_timeouts(base_ip: str) -> None:
    async with MinerEmulator(4, base_ip) as emu:
        ok_ip, refused_ip, slow_ip, _ = emu.ips
        await emu.inject(refused_ip, refuse=True)
        await emu.inject(slow_ip, delay_s=3.0)
        pump = RequestPump(concurrency=2, timeout_s=1.0, port=4028)
        ended: dict[str, list[tuple[bytes | None, str]]] = {}

        def start(ip: str) -> None:
            pump.submit(ip, encode_request("power"), lambda r, f: ended.setdefault(ip, []).append((r, f)))

        await run_chains(pump, (lambda ip=ip: start(ip) for ip in (ok_ip, refused_ip, slow_ip)))
    assert pump.idle
    assert {ip: len(v) for ip, v in ended.items()} == {ok_ip: 1, refused_ip: 1, slow_ip: 1}
    reply, failure = ended[ok_ip][0]
    assert failure == "" and reply is not None
    assert json.loads(reply)["POWER"][0]["Watts"] == 3050
    assert ended[refused_ip][0][0] is None and "ECONNREFUSED" in ended[refused_ip][0][1]
    assert ended[slow_ip][0] == (None, "timeout")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_cancelled_run_leaves_no_socket_open(base_ip: str) -> None:
    """A fan-out cut off by its deadline (``asyncio.wait_for``) closes every socket it opened
    (the server accepts the connections in the kernel and never answers)."""
    with socket.socket() as server:
        server.bind((base_ip, 0))
        server.listen(16)
        port = server.getsockname()[1]
        before = _open_fds()
        pump = RequestPump(concurrency=10, timeout_s=10.0, port=port)
        ended: list[int] = []
        starts = [
            lambda i=i: pump.submit(base_ip, encode_request("power"), lambda r, f, i=i: ended.append(i))
            for i in range(3)
        ]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(run_chains(pump, starts), 0.3)
        assert _open_fds() == before
    assert ended == []  # dropped, not reported as replies or failures
    assert pump.idle


async def test_request_waits_for_a_slow_handshake(base_ip: str) -> None:
    """A connection whose handshake is not done when the request is ready (the server's accept
    queue is full, so its SYN is dropped and retransmitted) is sent once it is up."""
    loop = asyncio.get_running_loop()
    with socket.socket() as server, socket.socket() as blocker:
        server.bind((base_ip, 0))
        server.listen(0)  # room for one pending connection: the blocker's
        server.setblocking(False)
        port = server.getsockname()[1]
        blocker.setblocking(False)
        blocker.connect_ex((base_ip, port))
        await asyncio.sleep(0.05)
        pump = RequestPump(concurrency=1, timeout_s=5.0, port=port)
        ended: list[tuple[bytes | None, str]] = []
        received: list[bytes] = []

        async def serve() -> None:
            (await loop.sock_accept(server))[0].close()  # frees the queue for the retransmit
            conn, _ = await loop.sock_accept(server)
            with conn:
                received.append(await loop.sock_recv(conn, 1024))
                await loop.sock_sendall(conn, b'{"STATUS":[{"STATUS":"S"}],"id":1}')

        server_task = asyncio.create_task(serve())
        await run_chains(
            pump, [lambda: pump.submit(base_ip, encode_request("power"), lambda r, f: ended.append((r, f)))]
        )
        await server_task
    assert received == [encode_request("power")]
    assert ended == [(b'{"STATUS":[{"STATUS":"S"}],"id":1}', "")]


async def test_sweep_expires_exactly_the_requests_past_their_deadline(base_ip: str) -> None:
    """The sweep stops at the first live request (they expire in submission order): those
    past the deadline end with "timeout", the rest stay open until their own deadline."""
    with socket.socket() as server:
        server.bind((base_ip, 0))
        server.listen(16)  # accepts in the kernel, never answers
        pump = RequestPump(concurrency=10, timeout_s=60.0, port=server.getsockname()[1])
        ended: dict[int, tuple[bytes | None, str]] = {}
        for i in range(5):
            pump.submit(base_ip, encode_request("power"), lambda r, f, i=i: ended.setdefault(i, (r, f)))
        try:
            for req in list(pump._open.values())[:2]:  # the two oldest: their 60 s are up
                req.deadline -= 120.0
            pump.sweep()
            assert ended == {0: (None, "timeout"), 1: (None, "timeout")}
            assert len(pump._open) == 3 and not pump.idle
        finally:
            pump.close()
    assert sorted(ended) == [0, 1]  # closing drops the rest without reporting them
