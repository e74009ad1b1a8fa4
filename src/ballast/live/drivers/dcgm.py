"""AI load telemetry: scrape a dcgm-exporter endpoint and sum per-GPU power.

Parsing uses ``prometheus_client.parser`` (the reference parser of the text format).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from ballast.live.sensing import NonFiniteReading, is_finite

POWER_METRIC = "DCGM_FI_DEV_POWER_USAGE"


@dataclass(frozen=True)
class GpuPowerReading:
    """Sum of GPU power [W] at one scrape, and how many GPUs reported."""

    it_power_w: float
    gpu_count: int
    read_at: datetime  # UTC

    @property
    def it_power_mw(self) -> float:
        return self.it_power_w / 1e6


class TelemetryError(Exception):
    """The endpoint could not be scraped or parsed."""


class NonFiniteTelemetry(TelemetryError, NonFiniteReading):
    """A GPU reported NaN or an infinite power (not a measurement)."""


def sum_gpu_power_w(text: str, metric: str = POWER_METRIC) -> tuple[float, int]:
    """Sum the samples of ``metric`` in Prometheus text; return (watts, sample count). A NaN or
    infinite sample raises ``NonFiniteTelemetry`` naming its labels."""
    total_w, n = 0.0, 0
    try:
        for family in text_string_to_metric_families(text):
            if family.name != metric:
                continue
            for sample in family.samples:
                if sample.name == metric:
                    if not is_finite(float(sample.value)):
                        raise NonFiniteTelemetry(f"{metric}{sample.labels} = {sample.value}",
                                                 "ai_telemetry")
                    total_w += float(sample.value)
                    n += 1
    except ValueError as e:
        raise TelemetryError(f"cannot parse Prometheus text: {e}") from e
    return total_w, n


class DcgmScraper:
    """Scrape one or more dcgm-exporter URLs; use as an async context manager."""

    def __init__(self, urls: list[str], *, timeout_s: float = 2.0) -> None:
        if not urls:
            raise ValueError("DcgmScraper needs at least one URL")
        self.urls = list(urls)
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DcgmScraper:
        self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _fetch(self, url: str) -> str:
        if self._session is None:
            raise RuntimeError("use DcgmScraper as 'async with DcgmScraper(...) as s'")
        try:
            async with self._session.get(url) as resp:
                if resp.status != 200:
                    raise TelemetryError(f"{url}: HTTP {resp.status}")
                return await resp.text()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TelemetryError(f"{url}: {e!r}") from e

    async def read(self) -> GpuPowerReading:
        """Scrape every URL and sum GPU power over them."""
        total_w, n = 0.0, 0
        for url in self.urls:
            w, k = sum_gpu_power_w(await self._fetch(url))
            total_w += w
            n += k
        return GpuPowerReading(total_w, n, datetime.now(UTC))
