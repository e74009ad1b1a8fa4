"""The callback request pump: every request ends exactly once (reply, refusal or timeout)."""

from __future__ import annotations

import json

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
