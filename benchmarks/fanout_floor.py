"""The TCP floor under the fan-out benchmark: the same two connections per miner, no miner.

``python fanout_floor.py N BASE_IP SHORT_BYTES LONG_BYTES`` listens on N loopback addresses,
port 4028, in one bare epoll loop: accept, read the request, answer with a fixed reply
(``SHORT_BYTES`` long for a ``curtail``, ``LONG_BYTES`` for anything else, the sizes of the
emulator's curtail and read-back replies) and close. No JSON, no state, no asyncio. It prints
``ready`` once listening and serves until killed.

``floor_fanout`` drives it with the fleet's own socket pump (``drivers/fastpath.py``): per
address a ``curtail`` then, once answered, a read-back request, breadth first, as the fleet
commander does. What this costs in CPU and time is what the kernel's loopback TCP and the
pump alone cost: the emulator and the commander cannot go below it on the same machine.
"""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from ballast.live.drivers.fastpath import RequestPump, run_chains
from ballast.live.emulators.luxos import loopback_ips, raise_open_file_limit

PORT = 4028
CURTAIL = b'{"command":"curtail","parameter":"0123abcd,sleep"}'
READBACK = b'{"command":"config+power+summary"}'


def start_floor_server(n: int, base_ip: str, short_bytes: int, long_bytes: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), str(n), base_ip, str(short_bytes), str(long_bytes)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"floor server did not start: {line!r}")
    return proc


async def floor_fanout(ips: list[str], concurrency: int) -> tuple[float, int]:
    """Curtail then read-back request per address; (signal to last reply [s], replies)."""
    pump = RequestPump(concurrency, 5.0, PORT)
    replies = [0]

    def after_read(reply: bytes | None, _failure: str) -> None:
        replies[0] += reply is not None

    def after_command(reply: bytes | None, _failure: str, ip: str) -> None:
        if reply is not None:
            pump.submit(ip, READBACK, after_read)

    t0 = time.perf_counter()
    starts = (
        lambda ip=ip: pump.submit(ip, CURTAIL, lambda r, f, ip=ip: after_command(r, f, ip)) for ip in ips
    )
    await run_chains(pump, starts)
    return time.perf_counter() - t0, replies[0]


def serve(n: int, base_ip: str, short_bytes: int, long_bytes: int) -> None:
    raise_open_file_limit(n + 4096)
    short, long = b"{" + b" " * (short_bytes - 2) + b"}", b"{" + b" " * (long_bytes - 2) + b"}"
    ep = select.epoll()
    listeners: dict[int, socket.socket] = {}
    for ip in loopback_ips(n, base_ip):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, PORT))
        s.listen(128)
        listeners[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLIN)
    waiting: dict[int, socket.socket] = {}  # accepted before the request arrived
    print("ready", flush=True)

    def answer(conn: socket.socket) -> bool:
        try:
            request = conn.recv(65536)
        except BlockingIOError:
            return False
        conn.send(short if b"curtail" in request else long)
        conn.close()
        return True

    while True:
        for fd, _ in ep.poll():
            lsock = listeners.get(fd)
            if lsock is None:
                answer(waiting.pop(fd))  # closing it leaves the epoll set
                continue
            try:
                conn, _ = lsock.accept()
            except BlockingIOError:
                continue
            conn.setblocking(False)
            if not answer(conn):
                waiting[conn.fileno()] = conn
                ep.register(conn.fileno(), select.EPOLLIN)


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
