"""The DCGM-exporter emulator scraped over HTTP and summed."""

from __future__ import annotations

import pytest

from ballast.live.drivers.dcgm import DcgmScraper, TelemetryError, sum_gpu_power_w
from ballast.live.emulators.dcgm import DcgmEmulator


async def test_scrape_sums_to_set_it_power(free_port: int) -> None:
    async with DcgmEmulator(64, port=free_port, it_power_w=41_600.0) as dcgm:
        async with DcgmScraper([dcgm.url]) as scraper:
            first = await scraper.read()
            dcgm.set_it_power_w(12_345.6)
            second = await scraper.read()
    assert first.gpu_count == 64
    assert first.it_power_w == pytest.approx(41_600.0)
    assert second.it_power_w == pytest.approx(12_345.6)
    assert second.it_power_mw == pytest.approx(0.0123456)


def test_exposition_looks_like_dcgm_exporter() -> None:
    text = DcgmEmulator(9, it_power_w=5000.0).render()
    lines = text.splitlines()
    assert lines[0] == "# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W)."
    assert lines[1] == "# TYPE DCGM_FI_DEV_POWER_USAGE gauge"
    assert lines[2].startswith('DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-')
    assert 'Hostname="gpu-node-001"' in lines[-1]  # 9th GPU is on the second host
    powers = [float(line.rsplit(" ", 1)[1]) for line in lines[2:]]
    assert min(powers) > 0 and max(powers) / min(powers) < 1.3
    assert sum_gpu_power_w(text) == (pytest.approx(5000.0), 9)


def test_other_metrics_are_ignored_and_junk_rejected() -> None:
    text = '# TYPE DCGM_FI_DEV_GPU_TEMP gauge\nDCGM_FI_DEV_GPU_TEMP{gpu="0"} 61\n'
    assert sum_gpu_power_w(text) == (0.0, 0)
    with pytest.raises(TelemetryError):
        sum_gpu_power_w("DCGM_FI_DEV_POWER_USAGE{gpu=0 oops\n")


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="gpu_count"):
        DcgmEmulator(0)
    with pytest.raises(ValueError, match="it_power_w"):
        DcgmEmulator(1).set_it_power_w(-1.0)
