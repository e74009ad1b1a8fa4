"""Market data sources: each ``await source.latest()`` polls once and returns ``(value,
published_at_utc_s)`` or raises ``FeedError`` naming what is wrong (never a wrong number).

- ``HttpJsonValue``: any HTTP JSON endpoint, a dotted field path and an optional timestamp path.
- ``ErcotSpp``: ERCOT's real-time settlement point price (report NP6-905-CD) for one settlement
  point through ERCOT's Public API (``api.ercot.com/api/public-reports``). The response is the
  API's report layout: ``fields`` (a list of ``{"name": ...}`` column descriptions) and ``data``
  (rows as arrays in that column order); the columns used are ``deliveryDate`` (yyyy-MM-dd,
  Central Prevailing Time), ``deliveryHour`` (hour ending, 1-24), ``deliveryInterval`` (1-4),
  ``settlementPoint``, ``settlementPointPrice`` and ``DSTFlag`` (the repeated hour of the fall
  DST change). Hand-written: ``gridstatus`` (the ISO analysts' library) pins pandas<3 and
  cannot be installed beside Ballast's dependencies.
- ``ComputedHashprice``: BTC price, difficulty and fees, each an ``HttpJsonValue``, through
  ``models.bitcoin.hashprice_usd_per_ph_day`` with the subsidy in force now.
- ``ModbusRegister`` (``live.market.modbus``): a holding register.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx

from ballast.live.market.config import ComputedHashprice as ComputedHashpriceConfig
from ballast.live.market.config import ErcotPriceFeed, JsonValue
from ballast.models.bitcoin import block_subsidy_btc_at, hashprice_usd_per_ph_day

ERCOT_TZ = ZoneInfo("America/Chicago")  # ERCOT's Central Prevailing Time
ERCOT_INTERVAL_S = 900.0  # NP6-905-CD: one settlement point price per 15-min interval


class FeedError(Exception):
    """A poll that produced no usable value; the message says why."""


class Source(Protocol):
    """One market number: ``(value, published_at_utc_s)`` per poll."""

    name: str

    async def latest(self) -> tuple[float, float]: ...


def field_at(doc: Any, path: str) -> Any:
    """The value at a dotted ``path`` (list indices as integers, -1 the last) in a JSON document."""
    cur = doc
    for part in path.split("."):
        if isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                raise FeedError(f"path {path!r}: no list item {part!r}") from None
        elif isinstance(cur, dict):
            if part not in cur:
                raise FeedError(f"path {path!r}: no key {part!r}")
            cur = cur[part]
        else:
            raise FeedError(f"path {path!r}: {part!r} is inside a {type(cur).__name__}")
    return cur


def finite_number(value: Any, what: str) -> float:
    """``value`` as a finite float. A JSON number, or a string holding one (several price APIs
    quote numbers as strings); anything else (bool, null, text, NaN) is a ``FeedError``."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise FeedError(f"{what} is {value!r}, not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeedError(f"{what} is {value!r}, not a number")
    if not math.isfinite(value):
        raise FeedError(f"{what} is not finite ({value!r})")
    return float(value)


def parse_time_s(value: Any, what: str) -> float:
    """ISO-8601 with an offset, or UNIX seconds, as UNIX seconds (UTC)."""
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FeedError(f"{what} {value!r} is not ISO-8601") from None
        if t.tzinfo is None:
            raise FeedError(f"{what} {value!r} has no UTC offset")
        return t.timestamp()
    return finite_number(value, what)


async def get_json(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, str] | None = None
) -> Any:
    try:
        r = await client.get(url, headers=headers, params=params)
    except httpx.HTTPError as e:
        raise FeedError(f"{url}: {type(e).__name__}: {e}") from None
    if r.status_code != 200:
        raise FeedError(f"{url}: HTTP {r.status_code}")
    try:
        return r.json()
    except ValueError:
        raise FeedError(f"{url}: the answer is not JSON") from None


def env_headers(mapping: dict[str, str]) -> dict[str, str]:
    """Header -> value of its environment variable; an unset variable is a ``FeedError``."""
    out = {}
    for header, var in mapping.items():
        value = os.environ.get(var)
        if not value:
            raise FeedError(f"environment variable {var} (header {header}) is unset")
        out[header] = value
    return out


class HttpJsonValue:
    """One number (times ``scale``) at a field path of an HTTP JSON answer."""

    def __init__(
        self, cfg: JsonValue, client: httpx.AsyncClient, clock: Any, name: str = "http_json"
    ) -> None:
        self.cfg, self.client, self.clock, self.name = cfg, client, clock, name

    async def latest(self) -> tuple[float, float]:
        doc = await get_json(self.client, self.cfg.url, env_headers(self.cfg.headers_env))
        value = finite_number(field_at(doc, self.cfg.path), f"{self.cfg.url} {self.cfg.path}")
        t = (
            self.clock()
            if self.cfg.time_path is None
            else parse_time_s(field_at(doc, self.cfg.time_path), f"{self.cfg.url} {self.cfg.time_path}")
        )
        return value * self.cfg.scale, t


def ercot_interval_end_s(delivery_date: str, hour_ending: int, interval: int, dst_repeat: bool) -> float:
    """UTC end [UNIX s] of ERCOT interval ``interval`` (1-4) of hour ending ``hour_ending``
    (1-24) on ``delivery_date`` (Central Prevailing Time; ``dst_repeat`` marks the second,
    repeated hour of the fall change)."""
    if not (1 <= hour_ending <= 24 and 1 <= interval <= 4):
        raise FeedError(f"ERCOT hour {hour_ending} / interval {interval} out of range")
    start = datetime.combine(date.fromisoformat(delivery_date), datetime.min.time())
    local = start + timedelta(hours=hour_ending - 1, minutes=15 * (interval - 1))
    begin = local.replace(tzinfo=ERCOT_TZ, fold=1 if dst_repeat else 0)
    return begin.timestamp() + ERCOT_INTERVAL_S


class ErcotSpp:
    """The latest published real-time SPP [USD/MWh] of one settlement point (NP6-905-CD)."""

    name = "ercot"

    def __init__(self, cfg: ErcotPriceFeed, client: httpx.AsyncClient, clock: Any) -> None:
        self.cfg, self.client, self.clock = cfg, client, clock

    def next_poll_in_s(self, published_s: float | None, now_s: float) -> float:
        """Wait until the next interval's price should be out, else retry every poll_s."""
        if published_s is None:
            return self.cfg.poll_s
        due = published_s + ERCOT_INTERVAL_S + self.cfg.publication_delay_s
        return max(self.cfg.poll_s, due - now_s) if due > now_s else self.cfg.poll_s

    async def latest(self) -> tuple[float, float]:
        headers = env_headers({"Ocp-Apim-Subscription-Key": self.cfg.subscription_key_env})
        if self.cfg.token_env:
            headers["Authorization"] = (
                "Bearer " + env_headers({"Authorization": self.cfg.token_env})["Authorization"]
            )
        today = datetime.fromtimestamp(self.clock(), UTC).astimezone(ERCOT_TZ).date()
        params = {
            "settlementPoint": self.cfg.settlement_point,
            "deliveryDateFrom": (today - timedelta(days=1)).isoformat(),
            "deliveryDateTo": today.isoformat(),
        }
        doc = await get_json(self.client, self.cfg.url, headers, params)
        return latest_spp(doc, self.cfg.settlement_point)


def latest_spp(doc: Any, settlement_point: str) -> tuple[float, float]:
    """(price [USD/MWh], interval end [UNIX s]) of the latest row for ``settlement_point`` in
    an NP6-905-CD answer (``fields`` + ``data``)."""
    try:
        cols = [f["name"] for f in doc["fields"]]
        rows = doc["data"]
    except (KeyError, TypeError):
        raise FeedError("ERCOT answer has no fields/data arrays") from None
    need = ("deliveryDate", "deliveryHour", "deliveryInterval", "settlementPoint", "settlementPointPrice")
    missing = [c for c in need if c not in cols]
    if missing:
        raise FeedError(f"ERCOT answer lacks column(s) {missing}")
    ix = {c: cols.index(c) for c in cols}
    best: tuple[float, float] | None = None
    for row in rows:
        if not isinstance(row, list) or len(row) != len(cols):
            raise FeedError(f"ERCOT row {row!r} does not match the {len(cols)} fields")
        if row[ix["settlementPoint"]] != settlement_point:
            continue
        try:
            end_s = ercot_interval_end_s(
                str(row[ix["deliveryDate"]]),
                int(row[ix["deliveryHour"]]),
                int(row[ix["deliveryInterval"]]),
                bool(row[ix["DSTFlag"]]) if "DSTFlag" in ix else False,
            )
        except (TypeError, ValueError) as e:
            raise FeedError(f"ERCOT row {row!r}: bad delivery time ({e})") from None
        price = finite_number(row[ix["settlementPointPrice"]], "ERCOT settlementPointPrice")
        if best is None or end_s > best[1]:
            best = (price, end_s)
    if best is None:
        raise FeedError(f"ERCOT answer has no row for settlement point {settlement_point}")
    return best


class ComputedHashpriceSource:
    """Hashprice [USD/PH/day] from BTC price, difficulty and fees per block (each polled)."""

    name = "computed"

    def __init__(self, cfg: ComputedHashpriceConfig, client: httpx.AsyncClient, clock: Any) -> None:
        self.clock = clock
        self.btc = HttpJsonValue(cfg.btc_price_usd, client, clock)
        self.diff = HttpJsonValue(cfg.difficulty, client, clock)
        self.fees = (
            None if cfg.fees_btc_per_block is None else HttpJsonValue(cfg.fees_btc_per_block, client, clock)
        )

    async def latest(self) -> tuple[float, float]:
        btc, t_btc = await self.btc.latest()
        diff, t_diff = await self.diff.latest()
        fees, t_fees = (0.0, math.inf) if self.fees is None else await self.fees.latest()
        if btc <= 0 or diff <= 0 or fees < 0:
            raise FeedError(
                f"hashprice inputs out of range: BTC {btc} USD, difficulty {diff}, fees {fees} BTC/block"
            )
        subsidy = block_subsidy_btc_at(datetime.fromtimestamp(self.clock(), UTC))
        value = float(hashprice_usd_per_ph_day(btc, diff, subsidy, fees))
        return value, min(t_btc, t_diff, t_fees)  # as old as its oldest input
