"""Market data sources: each ``await source.latest()`` polls once and returns ``(value,
published_at_utc_s)`` or raises ``FeedError`` naming what is wrong (never a wrong number).

- ``HttpJsonValue``: any HTTP JSON endpoint, a dotted field path and an optional timestamp path.
- ``HttpCsvValue`` (``live.market.csv_source``): one column of an HTTP CSV answer.
- ``ErcotSpp`` (``live.market.ercot``): ERCOT's real-time settlement point price (NP6-905-CD)
  through ERCOT's Public API, with its sign-in.
- ``ComputedHashprice``: BTC price, difficulty and fees, each an ``HttpJsonValue``, through
  ``models.bitcoin.hashprice_usd_per_ph_day`` with the subsidy in force now.
- ``ModbusRegister`` (``live.market.modbus``): a holding register.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from ballast.live.market.config import ComputedHashprice as ComputedHashpriceConfig
from ballast.live.market.config import JsonValue
from ballast.models.bitcoin import block_subsidy_btc_at, hashprice_usd_per_ph_day


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


async def get_ok(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, str] | None = None
) -> httpx.Response:
    """The answer of a GET; no answer or a status other than 200 is a ``FeedError``."""
    try:
        r = await client.get(url, headers=headers, params=params)
    except httpx.HTTPError as e:
        raise FeedError(f"{url}: {type(e).__name__}: {e}") from None
    if r.status_code != 200:
        raise FeedError(f"{url}: HTTP {r.status_code}")
    return r


async def get_json(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, str] | None = None
) -> Any:
    r = await get_ok(client, url, headers, params)
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
