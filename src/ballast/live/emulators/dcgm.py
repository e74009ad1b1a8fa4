"""Emulated NVIDIA dcgm-exporter: per-GPU power as Prometheus text on ``GET /metrics``.

The exposition mimics dcgm-exporter's ``DCGM_FI_DEV_POWER_USAGE`` gauge (watts), with its
label set (``gpu``, ``UUID``, ``device``, ``modelName``, ``Hostname``) and HELP/TYPE lines.
The total IT power is settable and split over N GPUs with a small deterministic spread
(seeded), so the GPU values add up exactly to the set total.
"""

from __future__ import annotations

import random
import uuid

from aiohttp import web

POWER_METRIC = "DCGM_FI_DEV_POWER_USAGE"
GPUS_PER_HOST = 8
GPU_MODEL = "NVIDIA H100 80GB HBM3"


class DcgmEmulator:
    """HTTP endpoint serving per-GPU power on ``host:port`` (port 0: any free port, set in
    ``port`` by :meth:`start`); an async context manager."""

    def __init__(
        self,
        gpu_count: int,
        host: str = "127.0.0.1",
        port: int = 9400,
        *,
        it_power_w: float = 0.0,
        seed: int = 0,
        hostname_prefix: str = "gpu-node",
    ) -> None:
        if gpu_count < 1:
            raise ValueError(f"gpu_count must be >= 1, got {gpu_count}")
        self.gpu_count = gpu_count
        self.host = host
        self.port = port
        rng = random.Random(seed)
        # relative share of each GPU: 0.9-1.1 of the mean (jobs differ a little)
        raw = [rng.uniform(0.9, 1.1) for _ in range(gpu_count)]
        total = sum(raw)
        self._shares = [r / total for r in raw]
        self._uuids = [f"GPU-{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in raw]
        self._hostname_prefix = hostname_prefix
        self.it_power_w = 0.0
        self.set_it_power_w(it_power_w)
        self._runner: web.AppRunner | None = None

    def set_it_power_w(self, it_power_w: float) -> None:
        """Set the total GPU power [W] that the GPUs report."""
        if not it_power_w >= 0:
            raise ValueError(f"it_power_w must be >= 0, got {it_power_w}")
        self.it_power_w = float(it_power_w)

    def gpu_power_w(self) -> list[float]:
        return [self.it_power_w * s for s in self._shares]

    def render(self) -> str:
        """The Prometheus text exposition."""
        lines = [
            f"# HELP {POWER_METRIC} Power draw (in W).",
            f"# TYPE {POWER_METRIC} gauge",
        ]
        for i, power_w in enumerate(self.gpu_power_w()):
            host = f"{self._hostname_prefix}-{i // GPUS_PER_HOST:03d}"
            gpu = i % GPUS_PER_HOST
            labels = (
                f'gpu="{gpu}",UUID="{self._uuids[i]}",device="nvidia{gpu}",'
                f'modelName="{GPU_MODEL}",Hostname="{host}"'
            )
            lines.append(f"{POWER_METRIC}{{{labels}}} {power_w!r}")
        return "\n".join(lines) + "\n"

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.render(), content_type="text/plain", charset="utf-8")

    async def start(self) -> DcgmEmulator:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port).start()
        except BaseException:
            await self.stop()
            raise
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    async def __aenter__(self) -> DcgmEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
