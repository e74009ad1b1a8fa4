"""The live site configuration (``site.yaml``): devices, tick, store, API tokens, watchdogs.

The scenario document (``scenario:``) says what the campus *is* (limit, AI tenant, miner groups,
control settings) and is shared with the backtest; this file says how to *reach* it live.
``load_site_config(path)`` validates with pydantic and raises ``SiteConfigError`` naming the file,
the field and the reason. Relative paths resolve against the file's folder.

Example::

    scenario: ../west_texas_2024.yaml
    tick_s: 1.0
    store: {dsn: ballast.db}           # SQLite (WAL) beside this file; postgresql://... -> PG
    meter: {host: 10.0.0.5, port: 502}
    ai: {url: http://10.0.0.6:9400/metrics}
    battery: {host: 10.0.0.7, port: 502, power_mw: 20, energy_mwh: 40}
    miners:
      - {group: s21, ips: [10.1.0.10-10.1.0.250]}
    market: {price_usd_per_mwh: 35, hashprice_usd_per_ph_day: 50}
    ufr: {trip_hz: 59.70, groups: [s19jpro]}
    api:
      tokens:
        - {name: ops, role: operator, token_env: BALLAST_OPERATOR_TOKEN}
        - {name: wall, role: viewer, token_file: secrets/viewer.token}
"""

from __future__ import annotations

import ipaddress
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ballast.documents import StrictModel, format_validation_errors, read_yaml
from ballast.live.market.config import (
    ComputedHashprice,
    ErcotPriceFeed,
    HttpCsvHashprice,
    HttpCsvPriceFeed,
    HttpHashprice,
    HttpPriceFeed,
    HttpSystemLoad,
    ModbusPriceFeed,
    StaleConfig,
)

MAX_TOKEN_FILE_BYTES = 4096


class StoreConfig(StrictModel):
    """Where measurements, commands, events and the audit log go."""

    dsn: str | None = Field(None, description="SQLite file path (relative to this file's "
                            "folder) or a postgresql:// DSN (psycopg 3). Default: ballast.db in "
                            "the user data folder (platformdirs, e.g. ~/.local/share/ballast), "
                            "never the current folder.")


class MeterConfig(StrictModel):
    """The site revenue meter (Modbus TCP; register map in ``live.emulators.meter``)."""

    host: str = Field(description="Meter host (Modbus TCP).")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port. Default 502.")
    device_id: int = Field(1, ge=0, le=247, description="Modbus unit id. Default 1.")
    timeout_s: float = Field(0.5, gt=0, description="Read timeout [s]. Default 0.5.")


class BatteryConfig(StrictModel):
    """A battery inverter speaking SunSpec Modbus TCP (models 124 and 802; map in
    ``live.emulators.battery_map``). The controller's battery setpoint goes to it every tick
    and is verified by read-back; a battery that does not answer, or answers with a frozen or
    implausible state of charge, counts as unavailable (setpoint 0, the miners hold the limit
    alone)."""

    host: str = Field(description="Inverter host (Modbus TCP).")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port. Default 502.")
    device_id: int = Field(1, ge=0, le=247, description="Modbus unit id. Default 1.")
    power_mw: float = Field(gt=0, le=10_000, description="Inverter power, both directions [MW]; "
                            "must match the scenario's battery.")
    energy_mwh: float = Field(gt=0, le=100_000, description="Usable energy [MWh]; must match "
                              "the scenario's battery.")
    timeout_s: float = Field(0.5, gt=0, le=10, description="Read and command timeout [s]. "
                             "Default 0.5.")
    revert_s: int = Field(10, ge=1, le=3600, description="Written to the inverter "
                          "(InOutWRte_RvrtTms): with no new setpoint for this long it drops the "
                          "command and idles [s]; while the battery does not answer, its last "
                          "charging power counts as load for this long. Default 10.")
    stale_s: float = Field(5.0, gt=0, le=600, description="A heartbeat (model 802 Hb) that does "
                           "not move for this long makes the reading stale [s]. Default 5.")
    charge_headroom_mw: float = Field(1.0, ge=0, le=1000, description="Charging stops this far "
                                      "below the import limit (less the scenario's margin): the "
                                      "metered import lags and loads move between ticks [MW]. "
                                      "Default 1 (assumption).")


class AiConfig(StrictModel):
    """AI cluster telemetry: a dcgm-exporter Prometheus endpoint."""

    url: str = Field(description="Prometheus text endpoint of the AI cluster (DCGM exporter).")
    timeout_s: float = Field(0.5, gt=0, description="Scrape timeout [s]. Default 0.5.")
    pue: float | None = Field(None, ge=1.0, le=3.0, description="Facility/IT factor applied to the "
                              "scraped GPU power [-]. Default: the scenario's ai.pue.")


def expand_ips(spec: str) -> list[str]:
    """``10.0.0.5`` -> one address; ``10.0.0.5-10.0.0.9`` -> the inclusive range."""
    if "-" in spec:
        lo_s, hi_s = (s.strip() for s in spec.split("-", 1))
        lo, hi = ipaddress.IPv4Address(lo_s), ipaddress.IPv4Address(hi_s)
        if hi < lo:
            raise ValueError(f"address range {spec!r} runs backwards")
        if int(hi) - int(lo) > 100_000:
            raise ValueError(f"address range {spec!r} is larger than 100,000 addresses")
        return [str(ipaddress.IPv4Address(a)) for a in range(int(lo), int(hi) + 1)]
    return [str(ipaddress.IPv4Address(spec.strip()))]


class MinerGroupDevices(StrictModel):
    """The LuxOS miners of one scenario group; the controller sees one unit per address."""

    group: str = Field(description="Scenario miner group name.")
    ips: list[str] = Field(description="Addresses or inclusive ranges (a.b.c.d-a.b.c.e).")
    port: int = Field(4028, ge=1, le=65535, description="LuxOS API port. Default 4028.")
    miners_per_device: float = Field(1.0, gt=0, description="Real miners each address stands "
                                     "for [-]; >1 only for a scaled-down emulated site. Default 1.")

    @field_validator("ips")
    @classmethod
    def _valid_ips(cls, value: list[str]) -> list[str]:
        for spec in value:
            expand_ips(spec)  # raises ValueError naming the spec
        if not value:
            raise ValueError("at least one address")
        return value

    def addresses(self) -> list[str]:
        out: list[str] = []
        for spec in self.ips:
            out.extend(expand_ips(spec))
        return out


class FleetConfig(StrictModel):
    """Verified fan-out of sleep/wake commands."""

    timeout_s: float = Field(0.5, gt=0, description="Per-miner command timeout [s]. Default 0.5.")
    retries: int = Field(1, ge=0, le=5, description="Extra attempts per command. Default 1.")
    concurrency: int = Field(1000, ge=1, description="Concurrent miner connections. Default 1000.")
    read_every_s: float = Field(10.0, gt=0, description="Full fleet read-back period [s] "
                                "(reachability, compliance). Default 10.")
    session_keepalive_s: float = Field(30.0, gt=0, description="Refresh period of the LuxOS "
                                       "sessions held on relay (UFR) miners, so a trip takes "
                                       "the fast path [s]; sessions idle out after ~60 s. "
                                       "Default 30.")


class MarketReplay(StrictModel):
    """Replay the scenario's price and hashprice series (demos, dry runs)."""

    start: datetime = Field(description="Replayed instant at the runtime's start (ISO-8601 "
                            "with offset, inside the scenario's run).")
    speed: float = Field(1.0, gt=0, le=10_000, description="Replay seconds per wall second "
                         "[-]. Default 1.")

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start needs a UTC offset (e.g. 2024-08-20T19:00:00Z)")
        return value


class MarketConfig(StrictModel):
    """Power price and hashprice the economics rule uses (settable through the API)."""

    price_usd_per_mwh: float = Field(30.0, description="Power price the controller sees "
                                     "[USD/MWh] until updated through the API. Default 30.")
    hashprice_usd_per_ph_day: float = Field(50.0, ge=0, description="Hashprice [USD/PH/day]. "
                                            "Default 50 (post-halving 35-60, "
                                            "docs/sources.md#hashprice-range).")
    replay: MarketReplay | None = Field(None, description="Take both from the scenario's series "
                                        "instead, replayed from an instant; an operator's "
                                        "price or hashprice update through the API ends the "
                                        "replay. Default none.")
    price_feed: ErcotPriceFeed | HttpPriceFeed | HttpCsvPriceFeed | ModbusPriceFeed | None = Field(
        None, discriminator="source", description="Live power price (live.market): source "
        "ercot, http_json, http_csv or modbus; it sets the price every tick (an API update is overwritten "
        "at the next tick). Default none: price_usd_per_mwh (the operator's value).")
    hashprice_feed: ComputedHashprice | HttpHashprice | HttpCsvHashprice | None = Field(
        None, discriminator="source", description="Live hashprice (live.market): source computed "
        "(BTC price, difficulty, fees), http_json (a pool's or an index's API) or http_csv. "
        "Default none: "
        "hashprice_usd_per_ph_day (the operator's value).")
    stale: StaleConfig = Field(default_factory=StaleConfig, description="What the controller "
                               "assumes while a feed is stale.")
    system_load_feed: HttpSystemLoad | None = Field(
        None, description="Live ERCOT system load [MW] for the scenario's 4CP alert "
        "(programs.coincident_peak; the alert logic of programs/fourcp.py, each hour from the "
        "hours before it). Default none: the scenario's load_source file only (no alert once "
        "it ends; alerts can always be posted through the API).")

    @model_validator(mode="after")
    def _feeds_or_replay(self) -> MarketConfig:
        if self.replay is not None and (self.price_feed or self.hashprice_feed):
            raise ValueError("give replay or price_feed/hashprice_feed, not both")
        return self


class UfrConfig(StrictModel):
    """Under-frequency relay on Load Resources: trip at 59.70 Hz (ERCOT NPRR828;
    docs/sources.md#ercot-load-resources-ufr)."""

    enabled: bool = Field(True, description="Arm the relay fast path. Default true.")
    trip_hz: float = Field(59.70, gt=55, lt=60, description="Trip threshold [Hz]. Default 59.70.")
    groups: list[str] = Field(default_factory=list, description="Scenario groups on the relay. "
                              "Default: none (no relay).")
    poll_s: float = Field(0.05, gt=0, le=1, description="Frequency poll period of the fast path "
                          "[s]. Default 0.05.")
    budget_s: float = Field(0.5, gt=0, description="Time from detection to verified sleep that "
                            "counts as on time [s]; late trips are logged. Default 0.5 "
                            "(ERCOT FFR: 15 cycles = 0.25 s, NPRR863).")
    restore_hz: float = Field(59.95, gt=55, le=60.5, description="Frequency above which the "
                              "relay may reset [Hz]. Default 59.95.")
    restore_hold_s: float = Field(600.0, ge=0, description="Time above restore_hz before "
                                  "the tripped miners may return [s]. Default 600 (in ERCOT the "
                                  "QSE's recall instruction governs; set to match it).")


class WatchdogConfig(StrictModel):
    """Stale data and failing ticks put the site in a safe state. Every age is measured on the
    monotonic clock, so a wall-clock step neither hides stale data nor trips the watchdog."""

    meter_stale_s: float = Field(3.0, gt=0, description="Meter data older than this puts the "
                                 "site in the safe state (all miners asleep) [s]. Default 3.")
    ai_stale_s: float = Field(5.0, gt=0, description="AI telemetry older than this is replaced "
                              "by the AI tenant's full facility load (worst case) [s]. Default 5.")
    max_failed_ticks: int = Field(3, ge=1, le=100, description="After this many failed ticks "
                                  "in a row the runtime enters the safe state (every miner "
                                  "asleep, verified) on a path independent of the tick, until a "
                                  "tick succeeds again [-]. Default 3.")
    late_ticks: float = Field(3.0, ge=1.5, le=100, description="/healthz reports unhealthy "
                              "when no tick has succeeded for this many tick periods "
                              "(monotonic clock) [-]. Default 3.")


class SensingConfig(StrictModel):
    """Checks on every measurement before it enters a snapshot (``live.sensing``): finite,
    plausible for its channel, and (the meter) not frozen. A reading that fails a check is stale
    data: it does not refresh its source's last-good time, so a meter that keeps failing puts the
    site in the safe state after ``watchdog.meter_stale_s``. Ranges not given are derived from
    the scenario with ``range_factor`` and ``range_margin_mw``."""

    range_factor: float = Field(1.5, ge=1, le=10, description="Headroom on each channel's "
                                "nameplate for derived ranges [-]: a power above factor x "
                                "nameplate cannot be real. Nameplates: import max(import limit, "
                                "AI facility load + every miner at full power); AI feeder and AI "
                                "telemetry the AI facility load; miners feeder every miner at "
                                "full power; renewables their capacity. Default 1.5.")
    range_margin_mw: float = Field(5.0, ge=0, le=10_000, description="Absolute margin on every "
                                   "derived power range [MW] (meter error near zero, auxiliary "
                                   "loads on a generation feeder). Derived lower bounds: -margin "
                                   "for loads and renewables, -(export limit + renewable "
                                   "capacity) - margin for import. Default 5.")
    import_range_mw: tuple[float, float] | None = Field(None, description="Plausible campus "
                                                        "import [MW] as [min, max]. Default "
                                                        "derived (see range_factor).")
    ai_feeder_range_mw: tuple[float, float] | None = Field(None, description="Plausible AI "
                                                           "feeder power [MW]. Default derived.")
    miners_feeder_range_mw: tuple[float, float] | None = Field(None, description="Plausible "
                                                               "miners feeder power [MW]. "
                                                               "Default derived.")
    renewables_feeder_range_mw: tuple[float, float] | None = Field(
        None, description="Plausible renewables feeder power [MW]. Default derived.")
    ai_telemetry_range_mw: tuple[float, float] | None = Field(
        None, description="Plausible AI facility power from the DCGM telemetry (GPU power x "
        "PUE) [MW]. Default derived, as the AI feeder.")
    frequency_range_hz: tuple[float, float] = Field((55.0, 65.0), description="Plausible grid "
                                                    "frequency [Hz]. Default 55-65: a 60-Hz grid "
                                                    "outside it has collapsed or the reading "
                                                    "is wrong (ERCOT's last load-shed stage is "
                                                    "58.4 Hz).")
    frozen_after_s: float = Field(10.0, gt=0, le=3600, description="The meter counts as frozen "
                                  "when all its values stay identical for this long after the AI "
                                  "telemetry or the miners' verified sleep/run states "
                                  "changed [s]. Default 10 (a miner's sleep or wake ramp is "
                                  "about 5 s).")

    @field_validator("import_range_mw", "ai_feeder_range_mw", "miners_feeder_range_mw",
                     "renewables_feeder_range_mw", "ai_telemetry_range_mw",
                     "frequency_range_hz")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"range [{value[0]}, {value[1]}] must have min < max")
        return value


class TokenConfig(StrictModel):
    """One bearer token and its role. Prefer ``token_env`` or ``token_file``: a token written in
    the site config travels with every copy of the file."""

    name: str = Field(min_length=1, max_length=100, description="Who holds the token (goes "
                      "into the audit log).")
    role: Literal["viewer", "operator"] = Field(description="viewer reads; operator also acts.")
    token: str | None = Field(None, min_length=8, max_length=512, description="The bearer "
                              "token (8-512 chars).")
    token_env: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                  description="Or: environment variable holding it.")
    token_file: str | None = Field(None, min_length=1, max_length=4096, description="Or: a file "
                                   "holding it (relative to the site config; read once at "
                                   "start; one trailing newline is ignored).")

    @model_validator(mode="after")
    def _one_source(self) -> TokenConfig:
        if sum(v is not None for v in (self.token, self.token_env, self.token_file)) != 1:
            raise ValueError("give exactly one of token, token_env or token_file")
        return self

    def secret(self, base_dir: str | Path = ".") -> str:
        """The token; a missing, unreadable, empty or short source is a ``SiteConfigError``."""
        where = f"api.tokens[{self.name}]"
        if self.token is not None:
            return self.token
        if self.token_env is not None:
            value = os.environ.get(self.token_env, "")
            source = f"environment variable {self.token_env}"
        else:
            path = Path(self.token_file or "")
            path = path if path.is_absolute() else Path(base_dir) / path
            source = f"token file {path}"
            try:
                with path.open("rb") as f:
                    raw = f.read(MAX_TOKEN_FILE_BYTES + 1)
            except OSError as e:
                raise SiteConfigError(f"{where}: cannot read {source}: "
                                      f"{e.strerror or e}") from None
            if len(raw) > MAX_TOKEN_FILE_BYTES:
                raise SiteConfigError(f"{where}: {source} is larger than "
                                      f"{MAX_TOKEN_FILE_BYTES} bytes; it must hold one token")
            try:
                value = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
            except UnicodeDecodeError:
                raise SiteConfigError(f"{where}: {source} is not UTF-8 text") from None
            if any(c.isspace() for c in value):
                raise SiteConfigError(f"{where}: {source} holds whitespace inside the token "
                                      "(one token, at most one trailing newline)")
        if not value:
            raise SiteConfigError(f"{where}: {source} is unset or empty")
        if not 8 <= len(value) <= 512:
            raise SiteConfigError(f"{where}: the token in {source} must have 8-512 characters, "
                                  f"it has {len(value)}")
        return value


class ApiConfig(StrictModel):
    """The HTTP API (FastAPI) of ``ballast serve``."""

    host: str = Field("127.0.0.1", description="Listen address. Default loopback.")
    port: int = Field(8480, ge=0, le=65535, description="Listen port (0 = any). Default 8480.")
    tokens: list[TokenConfig] = Field(default_factory=list, description="Bearer tokens and roles.")
    metrics_public: bool = Field(False, description="Serve /metrics without a token. "
                                 "Default false.")
    docs: bool = Field(False, description="Serve the interactive API docs at /docs (Swagger UI "
                       "from the installed swagger-ui-bundle package, never a CDN). "
                       "/openapi.json is always served. Default false.")
    max_auth_failures: int = Field(20, ge=1, le=10_000, description="Failed authentications "
                                   "(401) one client address may make per "
                                   "auth_failure_window_s before all its requests get 429 "
                                   "(behind a reverse proxy, clients share its address). "
                                   "Default 20.")
    auth_failure_window_s: float = Field(60.0, gt=0, le=86_400, description="Window of "
                                         "max_auth_failures [s]. Default 60.")
    stream_ticket_ttl_s: float = Field(30.0, gt=0, le=300, description="Life of a stream ticket "
                                       "(POST /api/v1/stream-ticket; single use) [s]. "
                                       "Default 30.")
    refused_audit_rows: int = Field(20, ge=1, le=10_000, description="Refused requests written "
                                    "to the audit log per principal per "
                                    "refused_audit_window_s; the rest are counted in one "
                                    "summary row. Default 20.")
    refused_audit_window_s: float = Field(60.0, gt=0, le=86_400, description="Window of "
                                          "refused_audit_rows [s]. Default 60.")


class SiteConfig(StrictModel):
    """How to run one campus live."""

    scenario: str = Field(description="Scenario YAML (site, AI tenant, miner groups, control).")
    tick_s: float = Field(1.0, gt=0, le=60, description="Control tick [s]. Default 1. With a "
                          "scenario smoothing spec: at most half its ramp_window_s and two "
                          "ticks per training swing, else refused at start.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="Telemetry store.")
    meter: MeterConfig | None = Field(None, description="Site meter. Required unless emulated.")
    battery: BatteryConfig | None = Field(None, description="Battery inverter. Default none "
                                          "(no battery).")
    ai: AiConfig | None = Field(None, description="AI telemetry. Default none: the meter's AI "
                                "feeder alone; with no fresh AI reading the tenant counts at its "
                                "full facility load (safe).")
    miners: list[MinerGroupDevices] = Field(default_factory=list, description="Miner "
                                            "addresses per scenario group.")
    fleet: FleetConfig = Field(default_factory=FleetConfig, description="Fleet commands.")
    market: MarketConfig = Field(default_factory=MarketConfig, description="Economic inputs.")
    ufr: UfrConfig = Field(default_factory=UfrConfig, description="Under-frequency relay.")
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig, description="Stale-data "
                                     "protection.")
    sensing: SensingConfig = Field(default_factory=SensingConfig, description="Measurement "
                                   "checks (finite, plausible, not frozen).")
    api: ApiConfig = Field(default_factory=ApiConfig, description="HTTP API and its tokens.")
    shutdown_action: Literal["sleep", "hold"] = Field("sleep", description="On a graceful stop: "
                                                      "sleep every miner (safe: nobody watches "
                                                      "the limit any more) or hold. Default sleep.")
    base_dir: str = Field(".", description="Folder relative paths resolve against (set by "
                          "load_site_config).")

    @model_validator(mode="after")
    def _unique(self) -> SiteConfig:
        groups = [m.group for m in self.miners]
        dupes = sorted({g for g in groups if groups.count(g) > 1})
        if dupes:
            raise ValueError(f"miners: group(s) listed twice: {dupes}")
        seen: dict[str, str] = {}
        for m in self.miners:
            for ip in m.addresses():
                if ip in seen:
                    raise ValueError(f"miners: {ip} is in both {seen[ip]} and {m.group}")
                seen[ip] = m.group
        if self.battery is not None and self.battery.revert_s < 2 * self.tick_s:
            raise ValueError(f"battery.revert_s ({self.battery.revert_s} s) must be at least 2 x "
                             f"tick_s ({self.tick_s:g} s): the inverter would drop each setpoint "
                             "before the next one")
        names = [t.name for t in self.api.tokens]
        if len(set(names)) != len(names):
            raise ValueError("api.tokens: names must be unique")
        return self

    def api_secrets(self) -> dict[str, TokenConfig]:
        """Each API token (read now from the config, its environment variable or its file) ->
        its entry. ``SiteConfigError`` names the token and the source that failed."""
        out: dict[str, TokenConfig] = {}
        for cfg in self.api.tokens:
            secret = cfg.secret(self.base_dir)
            if secret in out:
                raise SiteConfigError(f"api.tokens: {out[secret].name} and {cfg.name} share "
                                      "one token; give each its own")
            out[secret] = cfg
        return out

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def store_dsn(self) -> str:
        dsn = self.store.dsn
        if dsn is None:
            return str(default_store_path())
        if dsn.startswith(("postgresql://", "postgres://")) or "=" in dsn:
            return dsn
        return str(self.path(dsn))


def default_store_path() -> Path:
    """``ballast.db`` in the user data folder (platformdirs ``user_data_dir("ballast")``)."""
    from platformdirs import user_data_path

    return user_data_path("ballast", appauthor=False, ensure_exists=True) / "ballast.db"


class SiteConfigError(ValueError):
    """A site config that cannot be used; the message names the file and the field."""


def parse_site_config(data: object, path: str = "<site>", base_dir: str = ".") -> SiteConfig:
    if not isinstance(data, dict):
        raise SiteConfigError(f"{path}: the document must be a mapping, got {type(data).__name__}")
    try:
        return SiteConfig.model_validate({"base_dir": base_dir, **data})
    except ValidationError as exc:
        raise SiteConfigError(format_validation_errors(path, "site config", exc)) from None


def load_site_config(path: str | Path) -> SiteConfig:
    """Read and validate a site YAML file."""
    path = Path(path)
    return parse_site_config(read_yaml(path, SiteConfigError), str(path), str(path.parent))
