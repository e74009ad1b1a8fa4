"""Direct async client for the LuxOS (cgminer-style) API on TCP 4028.

Why a direct client rather than pyasic or pyasic-rs for Ballast's drivers
(measured in ``benchmarks/fanout.py``; see also ``drivers/pyasic_driver.py``):

- pyasic 0.79 is deprecated in favour of asic-rs. Its ``get_miner`` races HTTP/HTTPS probes
  (httpx) against two socket probes before each miner can be used, it caches the session id
  and adopts any active session, and it neither logs off nor retries when that session has
  expired (``stop_mining`` just returns False): a controller must re-establish the session and
  read back anyway. Its per-request cost (new httpx client, validation, multicommand
  fall-backs) makes a 10,000-miner fan-out take many seconds on 2 cores.
- pyasic-rs 0.8.6 (asic-rs bindings) is fast and async and sleeps/wakes LuxOS miners, but has
  no LuxOS power target (``supports_set_power_limit`` is false), so a power target still needs
  a direct ``profileset``; it also sends an extra ``voltageget`` before each pause.
- The LuxOS protocol is tiny (one JSON object per connection). Speaking it directly gives
  full control of timeouts, sessions (refresh/renew before privileged commands) and read-back
  verification, and costs one connection per command.

Measured (``benchmarks/fanout.py``, 2 cores shared with the emulator): curtailing 10,000
emulated miners takes ~29-38 s with the plain pyasic loop (``get_miner`` + ``stop_mining``)
against ~2-4.5 s, read-back included, with this client and the fleet fast path.

Both libraries stay supported: tests prove they recognise and control the emulated miners,
and ``PyasicMinerDriver`` wraps pyasic for firmwares the direct client does not speak.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from ballast.live.drivers.base import MinerApiError, MinerRefused, MinerTimeout

LUXOS_PORT = 4028
DEFAULT_TIMEOUT_S = 2.0


class _OneShot(asyncio.Protocol):
    """Write one request, collect bytes until the server closes."""

    __slots__ = ("chunks", "done", "payload")

    def __init__(self, payload: bytes, done: asyncio.Future[bytes]) -> None:
        self.payload = payload
        self.done = done
        self.chunks: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.payload)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def eof_received(self) -> bool:
        # The reply is complete. Resolve now and reset rather than run a FIN handshake:
        # the server already closed, and an RST frees both ends at once.
        if not self.done.done():
            self.done.set_result(b"".join(self.chunks))
        return True  # keep it half-open; send_raw aborts it

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is not None and not self.chunks:
                self.done.set_exception(exc)
            else:
                self.done.set_result(b"".join(self.chunks))


async def send_raw(
    ip: str, payload: bytes, *, port: int = LUXOS_PORT, timeout_s: float = DEFAULT_TIMEOUT_S
) -> bytes:
    """Send one raw request and return the raw reply; raise MinerTimeout / MinerRefused."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    transport = None
    try:
        async with asyncio.timeout(timeout_s):
            transport, _ = await loop.create_connection(lambda: _OneShot(payload, done), ip, port)
            return await done
    except TimeoutError:
        raise MinerTimeout(f"{ip}:{port}: no reply within {timeout_s} s") from None
    except (ConnectionRefusedError, ConnectionResetError) as e:
        raise MinerRefused(f"{ip}:{port}: {e.strerror or e}") from None
    except OSError as e:
        raise MinerRefused(f"{ip}:{port}: {e}") from None
    finally:
        if transport is not None and not transport.is_closing():
            transport.abort()


def decode_reply(ip: str, raw: bytes) -> dict[str, Any]:
    """Parse a reply (trailing NUL tolerated); raise MinerApiError on junk or STATUS E/W."""
    if not raw:
        raise MinerApiError(f"{ip}: empty reply")
    try:
        reply = json.loads(raw.rstrip(b"\x00").decode("utf-8", errors="replace"))
    except ValueError as e:
        raise MinerApiError(f"{ip}: reply is not JSON ({e}): {raw[:80]!r}") from None
    if not isinstance(reply, dict):
        raise MinerApiError(f"{ip}: reply is not a JSON object: {raw[:80]!r}")
    check_status(ip, reply)
    return reply


def check_status(ip: str, reply: dict[str, Any]) -> None:
    """Raise MinerApiError unless the reply's STATUS is S (success) or I (info)."""
    statuses = reply.get("STATUS")
    if isinstance(statuses, list) and statuses and isinstance(statuses[0], dict):
        st = statuses[0]
        if st.get("STATUS") not in ("S", "I"):
            raise MinerApiError(f"{ip}: {st.get('Msg', 'error')}", code=st.get("Code"))


@functools.lru_cache(maxsize=1024)
def encode_request(command: str, parameter: str | None = None) -> bytes:
    """The request bytes: one JSON object, no newline."""
    body: dict[str, str] = {"command": command}
    if parameter:
        body["parameter"] = parameter
    return json.dumps(body, separators=(",", ":")).encode()


async def request(
    ip: str,
    command: str,
    parameter: str | None = None,
    *,
    port: int = LUXOS_PORT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Send ``command`` (``+``-joined read commands allowed) and return the decoded reply."""
    raw = await send_raw(ip, encode_request(command, parameter), port=port, timeout_s=timeout_s)
    reply = decode_reply(ip, raw)
    if "+" in command:
        for name in command.split("+"):
            part = reply.get(name)
            if not isinstance(part, list) or not part or not isinstance(part[0], dict):
                raise MinerApiError(f"{ip}: multi-command reply lacks {name!r}")
            check_status(ip, part[0])
    return reply
