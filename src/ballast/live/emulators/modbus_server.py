"""Start and stop one pymodbus TCP server for an emulated Modbus device (meter, battery)."""

from __future__ import annotations

import contextlib

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimDevice


async def serve_modbus(device: SimDevice, host: str, port: int, label: str
                       ) -> tuple[ModbusTcpServer, int]:
    """Serve ``device`` on ``host:port`` (0: any free port) in the background; returns the
    server and the bound port. A port that cannot be bound raises OSError naming ``label``."""
    server = ModbusTcpServer(device, address=(host, port))
    try:
        await server.serve_forever(background=True)
    except RuntimeError as e:  # pymodbus: "Could not start listen" (it logs the errno)
        raise OSError(f"{label}: cannot listen on {host}:{port} ({e})") from None
    return server, server.transport.sockets[0].getsockname()[1]


async def stop_modbus(server: ModbusTcpServer | None) -> None:
    """Shut ``server`` down (None: nothing to do); errors on the way down are ignored."""
    if server is not None:
        with contextlib.suppress(Exception):
            await server.shutdown()
