"""An emulated campus on loopback: LuxOS miners, a Modbus meter, a DCGM endpoint, an optional
SunSpec battery inverter (when the site config names a battery), and physics.

Scaled down: each scenario group gets ``devices_per_group`` emulated miners (one per loopback
address), each standing for ``count / devices_per_group`` real miners (``miners_per_device``).
The site-physics task reads the *true* power of every emulated miner (emulator ground truth,
not what the runtime commanded), adds the AI load model and the renewable output, and writes
campus import, feeder powers and (via the meter emulator's frequency profile) grid frequency
into the meter; the AI power goes to the DCGM endpoint as well (split over ``gpu_count``
emulated GPUs, each standing for many real ones, so per-GPU watts are not realistic). A battery
emulator integrates its own state of charge on the device clock; the power it delivers lowers
the campus import (discharge positive).

Scenario models map onto the emulator catalog by name (``Antminer S19j Pro`` -> ``s19jpro``);
a model the emulator lacks is emulated by the catalog model nearest in J/TH (stated in
``EmulatedGroup.note``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from ballast.live.emulators.battery import BatteryEmulator
from ballast.live.emulators.catalog import CATALOG as EMU_CATALOG
from ballast.live.emulators.dcgm import DcgmEmulator
from ballast.live.emulators.luxos import LUXOS_PORT, MinerEmulator, loopback_ips
from ballast.live.emulators.meter import MeterEmulator, campus_import_mw
from ballast.live.site_config import (
    AiConfig,
    MeterConfig,
    MinerGroupDevices,
    SiteConfig,
)
from ballast.models.miners import get_model
from ballast.physics import miner_facility_mw
from ballast.scenario import Scenario

DEVICES_PER_GROUP_MAX = 1000


@dataclass(frozen=True)
class EmulatedGroup:
    name: str
    emulator_model: str
    ips: tuple[str, ...]
    miners_per_device: float
    pue: float
    note: str = ""


def emulator_model_for(scenario_model: str) -> tuple[str, str]:
    """Emulator catalog key for a scenario model, and a note when it is a stand-in."""
    for key, m in EMU_CATALOG.items():
        if m.type_name == scenario_model:
            return key, ""
    eff = get_model(scenario_model).efficiency_j_per_th
    key = min(EMU_CATALOG, key=lambda k: abs(EMU_CATALOG[k].efficiency_j_per_th - eff))
    return key, f"{scenario_model} emulated as {EMU_CATALOG[key].type_name} (nearest J/TH)"


def plan_emulation(scenario: Scenario, devices_per_group: int = 20,
                   ip_prefix: str = "127.20") -> list[EmulatedGroup]:
    """Addresses and scale per group: group g listens on ``{ip_prefix}.{4 g}.2`` upwards."""
    if not 1 <= devices_per_group <= DEVICES_PER_GROUP_MAX:
        raise ValueError(f"devices_per_group must be 1..{DEVICES_PER_GROUP_MAX}, "
                         f"got {devices_per_group}")
    if len(scenario.miners) > 60:
        raise ValueError("at most 60 miner groups can be emulated")
    out = []
    for g, grp in enumerate(scenario.miners):
        key, note = emulator_model_for(grp.model)
        n = min(devices_per_group, grp.count)
        ips = loopback_ips(n, f"{ip_prefix}.{4 * g}.2")
        out.append(EmulatedGroup(grp.name, key, tuple(ips), grp.count / n, grp.pue, note))
    return out


def emulated_site_config(scenario_path: str, plan: list[EmulatedGroup], *, meter_port: int,
                         dcgm_port: int | None, miner_port: int = LUXOS_PORT,
                         **overrides: object) -> SiteConfig:
    """A SiteConfig that points the runtime at the emulators of ``plan``."""
    data: dict = {
        "scenario": scenario_path,
        "meter": MeterConfig(host="127.0.0.1", port=meter_port),
        "ai": AiConfig(url=f"http://127.0.0.1:{dcgm_port}/metrics") if dcgm_port else None,
        "miners": [MinerGroupDevices(group=g.name, ips=list(g.ips),
                                     port=miner_port, miners_per_device=g.miners_per_device)
                   for g in plan],
    }
    data.update(overrides)
    return SiteConfig.model_validate(data)


class EmulatedSite:
    """Start/stop the emulators and run the site physics; an async context manager."""

    def __init__(self, scenario: Scenario, plan: list[EmulatedGroup], *, meter_port: int,
                 dcgm_port: int | None = None, miner_port: int = LUXOS_PORT,
                 clock: Callable[[], float] = time.monotonic, physics_dt_s: float = 0.05,
                 renewable_capacity_factor: float = 0.3, gpu_count: int = 64,
                 battery: BatteryEmulator | None = None) -> None:
        self.scenario = scenario
        self.plan = plan
        self.meter_port = meter_port
        self.dcgm_port = dcgm_port
        self.miner_port = miner_port
        self.clock = clock
        self.physics_dt_s = physics_dt_s
        ai = scenario.ai
        self.ai_it_nominal_mw = ai.it_load_mw if ai else 0.0
        self.ai_pue = ai.pue if ai else 1.0
        self.ai_share = 1.0  # AI IT load as a share of nominal: set < 1 to emulate a job crash
        # Synchronous training checkpoints (Llama 3, arXiv 2407.21783: tens-of-MW swings at
        # checkpoints; docs/sources.md#ai-power-swings): every ``period`` s of device time the load drops
        # to ``share`` for ``duration`` s. None: flat.
        self.checkpoints: tuple[float, float, float] | None = None  # (period_s, duration_s, share)
        self.renewable_capacity_mw = sum(r.capacity_mw for r in scenario.renewables)
        self.renewable_capacity_factor = renewable_capacity_factor
        self.miners: list[MinerEmulator] = []
        self.meter = MeterEmulator("127.0.0.1", meter_port, clock=clock)
        self.dcgm = DcgmEmulator(gpu_count, "127.0.0.1", dcgm_port) if dcgm_port else None
        self.battery = battery
        self.max_import_mw = float("-inf")
        self.last: dict[str, float] = {}
        # called after every physics step with ``last`` (the fault campaign records the true
        # import and sets the true load here)
        self.on_step: list[Callable[[dict[str, float]], None]] = []
        self._task: asyncio.Task | None = None

    @property
    def emulators_by_group(self) -> dict[str, MinerEmulator]:
        return {g.name: e for g, e in zip(self.plan, self.miners, strict=True)}

    def true_asleep(self, group: str) -> list[bool]:
        emu = self.emulators_by_group[group]
        return [s.asleep for s in emu.states()]

    def build_miners(self) -> list[MinerEmulator]:
        """The miner emulators of the plan, not yet listening (``start`` starts them; an
        in-process driver may use them as they are)."""
        if not self.miners:
            self.miners = [MinerEmulator(len(g.ips), g.ips[0], [g.emulator_model],
                                         port=self.miner_port, clock=self.clock)
                           for g in self.plan]
        return self.miners

    async def start(self) -> EmulatedSite:
        try:
            for emu in self.build_miners():
                await emu.start()
            await self.meter.start()
            if self.dcgm is not None:
                await self.dcgm.start()
            if self.battery is not None:
                await self.battery.start()
            self.step_physics()
            self._task = asyncio.get_running_loop().create_task(self._physics_loop())
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.dcgm is not None:
            await self.dcgm.stop()
        if self.battery is not None:
            await self.battery.stop()
        await self.meter.stop()
        for emu in self.miners:
            await emu.stop()
        self.miners = []

    async def __aenter__(self) -> EmulatedSite:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def step_physics(self) -> dict[str, float]:
        """One physics update: true powers -> meter registers and DCGM [MW]."""
        miners_mw = 0.0
        for g, emu in zip(self.plan, self.miners, strict=True):
            miners_mw += miner_facility_mw(emu.total_power_w() * g.miners_per_device, g.pue)
        share = self.ai_share
        if self.checkpoints is not None:
            period_s, duration_s, dip_share = self.checkpoints
            if self.clock() % period_s < duration_s:
                share *= dip_share
        ai_it_mw = self.ai_it_nominal_mw * share
        ai_mw = ai_it_mw * self.ai_pue
        renew_mw = self.renewable_capacity_mw * self.renewable_capacity_factor
        battery_mw = self.battery.advance() if self.battery is not None else 0.0
        import_mw = campus_import_mw(ai_mw, miners_mw, renew_mw) - battery_mw
        self.meter.set_site(campus_import_power_mw=import_mw, ai_feeder_power_mw=ai_mw,
                            miners_feeder_power_mw=miners_mw,
                            renewables_feeder_power_mw=renew_mw)
        if self.dcgm is not None:
            self.dcgm.set_it_power_w(ai_it_mw * 1e6)
        self.max_import_mw = max(self.max_import_mw, import_mw)
        self.last = {"import_mw": import_mw, "ai_mw": ai_mw, "miners_mw": miners_mw,
                     "renewable_mw": renew_mw}
        if self.battery is not None:
            self.last["battery_mw"] = battery_mw
        for hook in self.on_step:
            hook(self.last)
        return self.last

    async def _physics_loop(self) -> None:
        while True:
            self.step_physics()
            await asyncio.sleep(self.physics_dt_s)
