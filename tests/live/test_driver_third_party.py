"""Third-party clients (pyasic, pyasic-rs) recognise and control the emulated LuxOS miners."""

from __future__ import annotations

import pytest

from ballast.live.drivers.pyasic_driver import PyasicMinerDriver
from ballast.live.emulators.luxos import MinerEmulator

pyasic = pytest.importorskip("pyasic")
pyasic_rs = pytest.importorskip("pyasic_rs")

MODELS = ["s19jpro", "s19xp", "s21"]


async def test_pyasic_identifies_reads_and_controls(base_ip: str) -> None:
    async with MinerEmulator(3, base_ip, MODELS) as emu:
        names = []
        for ip in emu.ips:
            miner = await pyasic.get_miner(ip)
            assert miner is not None
            assert "LuxOS" in str(miner)
            names.append(type(miner).__name__)
        assert names == ["LUXMinerS19jPro", "LUXMinerS19XP", "LUXMinerS21"]

        ip = emu.ips[2]
        miner = await pyasic.get_miner(ip)
        data = await miner.get_data()
        assert data.wattage == 3500
        assert data.wattage_limit == 3500
        assert float(data.expected_hashrate) == pytest.approx(200.0)
        assert sum(float(b.hashrate) for b in data.hashboards) == pytest.approx(200.0)
        assert data.fw_ver is not None and "2024" in data.fw_ver

        assert await miner.stop_mining() is True
        assert emu.true_state(ip).asleep
        assert await miner.resume_mining() is True
        assert not emu.true_state(ip).asleep
        assert await miner.set_power_limit(3000) is True
        chosen = emu.true_state(ip).profile
        assert emu.miner(ip).model.profile(chosen).power_w <= 3000


async def test_pyasic_rs_identifies_and_pauses(base_ip: str) -> None:
    async with MinerEmulator(3, base_ip, MODELS) as emu:
        factory = pyasic_rs.MinerFactory()
        models = []
        for ip in emu.ips:
            miner = await factory.get_miner(ip)
            assert miner is not None
            assert miner.firmware == "LuxOS"
            models.append(miner.model)
        assert models == ["S19jPro", "S19XP", "S21"]

        ip = emu.ips[0]
        miner = await factory.get_miner(ip)
        assert await miner.get_wattage() == pytest.approx(3050.0)
        hashrate = await miner.get_hashrate()
        assert str(hashrate) == "100 TH/s"  # S19j Pro nameplate, from STATS[1]["GHS 5s"]
        assert await miner.pause() is True
        assert emu.true_state(ip).asleep
        assert await miner.resume() is True
        assert not emu.true_state(ip).asleep


async def test_pyasic_driver_recovers_an_expired_session(base_ip: str) -> None:
    async with MinerEmulator(1, base_ip, ["s19jpro"]) as emu:
        ip = emu.ips[0]
        driver = PyasicMinerDriver(ip)
        await driver.sleep()
        assert emu.true_state(ip).asleep
        emu.expire_session(ip)  # pyasic alone would reuse the dead token and fail
        await driver.wake()
        reading = await driver.read()
        assert not reading.asleep
        assert reading.power_w == pytest.approx(emu.true_state(ip).power_w, abs=1.0)
