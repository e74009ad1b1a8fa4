"""``ballast serve``: runtime + API (+ emulated devices) in one event loop.

    ballast serve --emulate                       # demo: emulated West Texas campus
    ballast serve --emulate --scenario my.yaml --devices-per-group 50
    ballast serve --config site.yaml              # real devices

``LiveSite`` is the orchestrator (also used by the end-to-end tests): it starts the emulated
site if asked, opens the store, builds the drivers, the runtime and the API server, and stops
them in reverse order. SIGINT/SIGTERM stop it gracefully (the runtime finishes its tick, puts
the miners in the configured shutdown state and logs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
import uvicorn

from ballast.live.adapters import DcgmAiTelemetry, LuxosFleet, ReconnectingMeter
from ballast.live.api import create_app
from ballast.live.drivers.battery import ModbusBattery
from ballast.live.emulated_site import EmulatedSite, emulated_site_config, plan_emulation
from ballast.live.emulators.battery import BatteryEmulator
from ballast.live.market.config import ErcotPriceFeed
from ballast.live.market.ercot import check_credentials as check_ercot_credentials
from ballast.live.market.sources import FeedError
from ballast.live.runtime import Runtime
from ballast.live.site_config import SiteConfig, SiteConfigError, TokenConfig, load_site_config
from ballast.live.site_model import refuse_unsupported, scaled_controller_config
from ballast.live.store import open_store
from ballast.scenario import Scenario, ScenarioError, load_scenario

log = logging.getLogger("ballast.live")
BATTERY_PORT = 5021  # the emulated battery inverter's default port (``ballast emulate battery``)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: LiveSite owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LiveSite:
    """Runtime + API (+ emulated site); an async context manager."""

    def __init__(self, scenario: Scenario, site: SiteConfig, *,
                 emulated: EmulatedSite | None = None, api: bool = True,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if site.meter is None:
            raise SiteConfigError("site config: meter is required (host/port of the site meter)")
        refuse_unsupported(scenario, site.path(site.scenario))  # before any device starts
        scaled_controller_config(scenario, site)  # refuses a tick or devices smoothing cannot use
        self.scenario, self.site, self.emulated, self.with_api = scenario, site, emulated, api
        self.clock, self.monotonic = clock, monotonic  # wall time for records; ages
        self.runtime: Runtime | None = None
        self.server: _Server | None = None
        self.api_port: int | None = None
        self._tasks: list[asyncio.Task] = []
        self._ai: DcgmAiTelemetry | None = None
        self._meter: ReconnectingMeter | None = None
        self._battery: ModbusBattery | None = None
        self._store: Any = None

    @property
    def api_url(self) -> str:
        return f"http://{self.site.api.host}:{self.api_port}"

    async def __aenter__(self) -> LiveSite:
        try:
            await self._start()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _start(self) -> None:
        site = self.site
        if self.emulated is not None:
            await self.emulated.start()
        self._store = open_store(site.store_dsn)
        ports = {ip: m.port for m in site.miners for ip in m.addresses()}
        fleet = LuxosFleet(ports, timeout_s=site.fleet.timeout_s, retries=site.fleet.retries,
                           concurrency=site.fleet.concurrency) if ports else _NoFleet()
        assert site.meter is not None
        self._meter = ReconnectingMeter(site.meter.host, site.meter.port,
                                        device_id=site.meter.device_id,
                                        timeout_s=site.meter.timeout_s)
        if site.ai is not None:
            pue = site.ai.pue or (self.scenario.ai.pue if self.scenario.ai else 1.0)
            self._ai = DcgmAiTelemetry(site.ai.url, pue, timeout_s=site.ai.timeout_s)
        if site.battery is not None:
            b = site.battery
            self._battery = ModbusBattery(b.host, b.port, device_id=b.device_id,
                                          timeout_s=b.timeout_s, revert_s=b.revert_s,
                                          stale_s=b.stale_s, monotonic=self.monotonic)
        rt = Runtime(self.scenario, site, fleet=fleet, meter=self._meter, store=self._store,
                     ai=self._ai, battery=self._battery, clock=self.clock,
                     monotonic=self.monotonic)
        self.runtime = rt
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(rt.run(), name="runtime"))
        started = loop.create_task(rt.started.wait())
        await asyncio.wait([started, self._tasks[0]], return_when=asyncio.FIRST_COMPLETED)
        if self._tasks[0].done():
            started.cancel()
            self._tasks[0].result()  # raises what stopped the runtime
        if self.with_api:
            app = create_app(rt, site)
            cfg = uvicorn.Config(app, host=site.api.host, port=site.api.port, log_level="warning",
                                 lifespan="off", access_log=False, timeout_graceful_shutdown=5)
            self.server = _Server(cfg)
            self._tasks.append(loop.create_task(self.server.serve(), name="api"))
            while not self.server.started:
                if self._tasks[-1].done():
                    self._tasks[-1].result()
                    raise RuntimeError("API server stopped during start-up")
                await asyncio.sleep(0.01)
            self.api_port = self.server.servers[0].sockets[0].getsockname()[1]

    async def wait(self) -> None:
        """Until the runtime stops (or fails)."""
        if self._tasks:
            await self._tasks[0]

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()

    async def __aexit__(self, *exc: object) -> None:
        """Stop in reverse order; every step is bounded and logged (``--verbose``)."""
        self.stop()

        async def step(name: str, aw: Any, timeout_s: float) -> None:
            t0 = time.perf_counter()
            try:
                await asyncio.wait_for(aw, timeout_s)
            except (asyncio.CancelledError, Exception) as e:
                log.warning("stopping %s: %r", name, e)
            log.info("stopped %s in %.2f s", name, time.perf_counter() - t0)

        tasks, self._tasks = self._tasks, []
        if tasks:
            await step("runtime", tasks[0], 15.0)
        if self.server is not None:
            self.server.should_exit = True
            if len(tasks) > 1:
                await step("api", tasks[1], 10.0)
        if self._ai is not None:
            await step("ai telemetry", self._ai.close(), 5.0)
        if self._meter is not None:
            self._meter.close()
        if self._battery is not None:
            self._battery.close()
        if self._store is not None:
            self._store.close()
        if self.emulated is not None:
            await step("emulated site", self.emulated.stop(), 10.0)


class _NoFleet:
    """A site without miners (nothing to command)."""

    async def sleep(self, ips: Any = None) -> Any:
        raise RuntimeError("no miners configured")

    async def wake(self, ips: Any = None, *, wait_ramp: bool = True) -> Any:
        raise RuntimeError("no miners configured")

    read_all = sleep


def build_emulated(scenario_path: Path, scenario: Scenario, *, site: SiteConfig | None,
                   devices_per_group: int, ip_prefix: str, miner_port: int, meter_port: int,
                   dcgm_port: int, time_scale: float, overrides: dict[str, Any],
                   battery_port: int | None = None) -> tuple[SiteConfig, EmulatedSite]:
    """The emulated site and the site config pointing at it (``site``'s other settings kept).
    A battery named by the site config (or, without one, the scenario's battery) is emulated
    on loopback at ``battery_port`` (default: its configured port, or ``BATTERY_PORT``), with
    the scenario battery's efficiency and initial charge if any."""
    plan = plan_emulation(scenario, devices_per_group, ip_prefix)
    base: dict[str, Any] = {}
    if site is not None:
        base = site.model_dump(exclude={"meter", "ai", "miners", "scenario"})
    base.update(overrides)
    cfg = emulated_site_config(str(scenario_path), plan, meter_port=meter_port,
                               dcgm_port=dcgm_port, miner_port=miner_port, **base)
    battery = None
    if cfg.battery is None and scenario.battery is not None:  # the scenario's battery, emulated
        cfg = SiteConfig.model_validate({**cfg.model_dump(), "battery": {
            "host": "127.0.0.1", "port": battery_port or BATTERY_PORT,
            "power_mw": scenario.battery.power_mw, "energy_mwh": scenario.battery.energy_mwh}})
    if cfg.battery is not None:
        port = battery_port or cfg.battery.port
        cfg = SiteConfig.model_validate({**cfg.model_dump(), "battery": {
            **cfg.battery.model_dump(), "host": "127.0.0.1", "port": port}})
    t0 = time.monotonic()

    def clock() -> float:  # emulated device time, optionally faster than wall time
        return t0 + (time.monotonic() - t0) * time_scale

    if cfg.battery is not None:
        spec = scenario.battery
        battery = BatteryEmulator(
            "127.0.0.1", cfg.battery.port, power_mw=cfg.battery.power_mw,
            energy_mwh=cfg.battery.energy_mwh, device_id=cfg.battery.device_id,
            round_trip_efficiency=spec.round_trip_efficiency if spec else 0.88,
            initial_soc_share=spec.initial_soc_share if spec else 0.5, clock=clock)
    emu = EmulatedSite(scenario, plan, meter_port=meter_port, dcgm_port=dcgm_port,
                       miner_port=miner_port, clock=clock, battery=battery)
    return cfg, emu


async def serve_async(scenario: Scenario, site: SiteConfig, emulated: EmulatedSite | None,
                      on_ready: Callable[[LiveSite], None] | None = None) -> None:
    loop = asyncio.get_running_loop()
    async with LiveSite(scenario, site, emulated=emulated) as live:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, live.stop)
        if on_ready is not None:
            on_ready(live)
        await live.wait()


def serve_command(*, config: Path | None, emulate: bool, scenario: str, devices_per_group: int,
                  ip_prefix: str, miner_port: int, meter_port: int, dcgm_port: int,
                  time_scale: float, ai_checkpoints: float, store: str | None, host: str | None,
                  port: int | None, tick_s: float | None, operator_token: str | None,
                  viewer_token: str | None, uvloop: bool, verbose: bool,
                  on_command_line: list[str]) -> None:
    """``ballast serve`` (options documented in ``ballast.cli.serve``): build, run, stop.

    ``on_command_line``: the token options given on the command line (refused with --config).
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ballast.examples import scenario_path

    try:
        if config and on_command_line:
            raise SiteConfigError(f"{', '.join(on_command_line)} apply only without --config; "
                                  f"name the tokens in {config} (api.tokens: token_env or "
                                  "token_file)")
        site = load_site_config(config) if config else None
        overrides: dict[str, Any] = {}
        if store:
            overrides["store"] = {"dsn": store}
        if tick_s:
            overrides["tick_s"] = tick_s
        api: dict[str, Any] = site.api.model_dump() if site else {}
        if host:
            api["host"] = host
        if port is not None:
            api["port"] = port
        printed: list[str] = []
        if site is None:
            op = operator_token or secrets.token_urlsafe(16)
            vw = viewer_token or secrets.token_urlsafe(16)
            api["tokens"] = [TokenConfig(name="operator", role="operator", token=op),
                             TokenConfig(name="viewer", role="viewer", token=vw)]
            if not operator_token:
                printed.append(f"operator token: {op}")
            if not viewer_token:
                printed.append(f"viewer token: {vw}")
        overrides["api"] = api
        if emulate:
            scen_path = Path(site.path(site.scenario)) if site else scenario_path(scenario)
            scen = load_scenario(scen_path)
            refuse_unsupported(scen, scen_path)
            cfg, emu = build_emulated(scen_path.resolve(), scen, site=site,
                                      devices_per_group=devices_per_group, ip_prefix=ip_prefix,
                                      miner_port=miner_port, meter_port=meter_port,
                                      dcgm_port=dcgm_port, time_scale=time_scale,
                                      overrides=overrides)
            if 0 < ai_checkpoints <= 15:
                raise ValueError(f"--ai-checkpoints {ai_checkpoints:g}: the period must be "
                                 "longer than the 15-s checkpoint (or 0 for flat)")
            if ai_checkpoints > 0:
                emu.checkpoints = (ai_checkpoints, 15.0, 0.4)
        else:
            if site is None:
                raise SiteConfigError("give --config site.yaml (real devices) or --emulate")
            cfg = SiteConfig.model_validate({**site.model_dump(), **overrides})
            scen = load_scenario(cfg.path(cfg.scenario))
            refuse_unsupported(scen, cfg.path(cfg.scenario))
            emu = None
        scaled_controller_config(scen, cfg)  # refuses a tick or devices smoothing cannot use
        cfg.api_secrets()  # read every token now: a missing file or variable stops here
        if isinstance(cfg.market.price_feed, ErcotPriceFeed):  # and the ERCOT credentials
            check_ercot_credentials(cfg.market.price_feed, cfg.base_dir)
    except (SiteConfigError, ScenarioError, ValueError, KeyError, FeedError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None

    def ready(live: LiveSite) -> None:
        rt = live.runtime
        assert rt is not None
        kind = "emulated" if emu else "live"
        scale = ", ".join(f"{m.group}: {len(m.addresses())} x {m.miners_per_device:g}"
                          for m in cfg.miners)
        typer.echo(f"ready: {kind} site {scen.site.name!r}; API {live.api_url} "
                   f"(OpenAPI {live.api_url}/openapi.json); store {cfg.store_dsn}; "
                   f"tick {cfg.tick_s:g} s; miner devices {scale}; "
                   + ("fresh store" if rt.resumed_from_tick is None
                      else f"resumed after tick {rt.resumed_from_tick}"))
        for line in printed:
            typer.echo(line)
        if not cfg.api.tokens:
            typer.echo("warning: no api.tokens in the site config: the API refuses every "
                       "request (only /healthz and /openapi.json answer)", err=True)

    try:
        from ballast.live.drivers.aio import run as aio_run

        aio_run(serve_async(scen, cfg, emu, ready), prefer_uvloop=uvloop)
    except OSError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
