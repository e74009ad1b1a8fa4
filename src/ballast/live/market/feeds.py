"""Polled market feeds and what the controller assumes when one is stale.

``Feed`` polls one source in its own asyncio task, each poll under ``timeout_s``; a failed or
malformed poll keeps the last good value (which then ages) and logs its reason. ``resolve``
turns a feed's value and age into what the controller sees: fresh -> the value; stale ->
``market.stale.on_stale``: ``hold`` (the last value, for at most ``hold_s`` past ``max_age_s``,
then curtail), ``conservative`` (the configured conservative number) or ``curtail`` (the
economically dispatched miners sleep: hashprice 0 at the conservative price). Ages are
``clock() - published`` on the runtime's UTC clock, since providers stamp values in UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx

from ballast.live.market.config import (
    ComputedHashprice,
    ErcotPriceFeed,
    FeedTiming,
    HttpCsvHashprice,
    HttpCsvPriceFeed,
    HttpHashprice,
    HttpPriceFeed,
    ModbusPriceFeed,
    StaleConfig,
)
from ballast.live.market.csv_source import HttpCsvValue
from ballast.live.market.ercot import ErcotSpp
from ballast.live.market.modbus import ModbusRegister
from ballast.live.market.sources import (
    ComputedHashpriceSource,
    FeedError,
    HttpJsonValue,
    Source,
)
from ballast.live.store_schema import EventRecord

if TYPE_CHECKING:
    from ballast.live.site_model import Policy

log = logging.getLogger("ballast.live.market")
FUTURE_SLACK_S = 300.0  # a timestamp further ahead of our clock than this is refused


@dataclass
class Feed:
    """One polled number; ``await poll_once()`` polls, ``run()`` loops (its own task)."""

    kind: str  # "price" | "hashprice"
    source: Source
    timing: FeedTiming
    clock: Callable[[], float]
    value: float | None = None
    published_s: float | None = None
    last_error: str | None = None
    polls: int = 0
    failures: int = 0
    poll_cost_s: list[float] = field(default_factory=list)  # last 1000 poll durations [s]

    async def poll_once(self) -> bool:
        t0 = time.perf_counter()
        self.polls += 1
        try:
            value, published_s = await asyncio.wait_for(self.source.latest(), self.timing.timeout_s)
            if published_s > self.clock() + FUTURE_SLACK_S:
                raise FeedError(f"timestamp {published_s:.0f} is in the future")
        except Exception as e:  # any failure only ages the value; resolve() judges
            self.failures += 1
            reason = f"{type(e).__name__}: {e}" if not isinstance(e, FeedError) else str(e)
            if isinstance(e, TimeoutError):
                reason = f"no answer within {self.timing.timeout_s:g} s"
            if reason != self.last_error:
                log.warning("%s feed (%s): %s", self.kind, self.source.name, reason)
            self.last_error = reason
            return False
        finally:
            self.poll_cost_s = [*self.poll_cost_s[-999:], time.perf_counter() - t0]
        if self.published_s is None or published_s >= self.published_s:
            self.value, self.published_s = value, published_s
        self.last_error = None
        return True

    def next_poll_in_s(self) -> float:
        nxt = getattr(self.source, "next_poll_in_s", None)
        return self.timing.poll_s if nxt is None else nxt(self.published_s, self.clock())

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.next_poll_in_s())

    def age_s(self, now_s: float) -> float | None:
        return None if self.published_s is None else max(0.0, now_s - self.published_s)


def resolve(
    value: float | None, age_s: float | None, max_age_s: float, stale: StaleConfig, conservative: float
) -> tuple[float | None, str | None]:
    """(value to use or None for curtail, fallback in force or None) for one feed."""
    if value is not None and age_s is not None and age_s <= max_age_s:
        return value, None
    if (
        stale.on_stale == "hold"
        and value is not None
        and age_s is not None
        and age_s <= max_age_s + stale.hold_s
    ):
        return value, "hold"
    if stale.on_stale == "conservative":
        return conservative, "conservative"
    return None, "curtail"


class MarketFeeds:
    """The site's price and/or hashprice feed and its stale policy."""

    def __init__(
        self,
        price: Feed | None,
        hashprice: Feed | None,
        stale: StaleConfig,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.price, self.hashprice, self.stale, self.client = price, hashprice, stale, client
        self.state: dict[str, Any] = {}
        # the operator's policy the feeds override; a policy that is not our last output is a
        # new operator update (API) and becomes the base, so a fallback never sticks in it
        self._base: Policy | None = None
        self._out: Policy | None = None

    @property
    def feeds(self) -> list[Feed]:
        return [f for f in (self.price, self.hashprice) if f is not None]

    def start(self) -> asyncio.Task:
        """One task polling every feed; cancelling it closes the connections."""
        return asyncio.get_running_loop().create_task(self._run(), name="market-feeds")

    async def _run(self) -> None:
        try:
            await asyncio.gather(*(f.run() for f in self.feeds))
        finally:
            await self.close()

    def apply(self, policy: Policy, now_s: float) -> Policy:
        """The policy with each fed number replaced by its fresh value or its fallback."""
        if policy is not self._out:
            self._base = policy
        st = self.stale
        out, curtail, state = {}, False, {}
        for f, key, cons in (
            (self.price, "price_usd_per_mwh", st.conservative_price_usd_per_mwh),
            (self.hashprice, "hashprice_usd_per_ph_day", st.conservative_hashprice_usd_per_ph_day),
        ):
            if f is None:
                continue
            age = f.age_s(now_s)
            value, fallback = resolve(f.value, age, f.timing.max_age_s, st, cons)
            curtail |= fallback == "curtail"
            if value is not None:
                out[key] = value
            state[f.kind] = {
                "source": f.source.name,
                "value": f.value,
                "age_s": age,
                "max_age_s": f.timing.max_age_s,
                "fallback": fallback,
                "last_error": f.last_error,
                "polls": f.polls,
                "failures": f.failures,
            }
        if curtail:  # no miner breaks even at hashprice 0: economic dispatch sleeps them all
            out = {"price_usd_per_mwh": st.conservative_price_usd_per_mwh, "hashprice_usd_per_ph_day": 0.0}
        self.state = state
        self._out = replace(self._base or policy, **out)
        return self._out

    async def close(self) -> None:
        for f in self.feeds:
            if isinstance(f.source, ModbusRegister):
                f.source.close()
        if self.client is not None:
            await self.client.aclose()


def build_feeds(market: Any, clock: Callable[[], float], base_dir: str = ".") -> MarketFeeds | None:
    """The feeds a site config's ``market`` section asks for, or None; credential files
    resolve against ``base_dir`` (the site config's folder)."""
    if market.price_feed is None and market.hashprice_feed is None:
        return None
    client = httpx.AsyncClient(follow_redirects=True)

    def source(cfg: Any) -> Source:
        if isinstance(cfg, ErcotPriceFeed):
            return ErcotSpp(cfg, client, clock, base_dir)
        if isinstance(cfg, HttpPriceFeed | HttpHashprice):
            return HttpJsonValue(cfg, client, clock)
        if isinstance(cfg, HttpCsvPriceFeed | HttpCsvHashprice):
            return HttpCsvValue(cfg, client, clock)
        if isinstance(cfg, ModbusPriceFeed):
            return ModbusRegister(cfg, clock)
        if isinstance(cfg, ComputedHashprice):
            return ComputedHashpriceSource(cfg, client, clock)
        raise TypeError(f"unknown feed config {type(cfg).__name__}")

    def feed(kind: str, cfg: Any) -> Feed | None:
        return None if cfg is None else Feed(kind, source(cfg), cfg, clock)

    return MarketFeeds(
        feed("price", market.price_feed), feed("hashprice", market.hashprice_feed), market.stale, client
    )


def market_policy(rt: Any, now_s: float) -> Policy:
    """The runtime's market hook: on first use build the configured feeds and start their
    polling tasks (cancelled with the runtime's own tasks); every tick, the policy with the
    feeds' numbers or fallbacks. Without feeds, the policy as it is."""
    feeds = getattr(rt, "market_feeds", None)
    if feeds is None:
        feeds = build_feeds(rt.site.market, rt.clock, getattr(rt.site, "base_dir", "."))
        if feeds is None:
            return rt.policy
        rt.market_feeds = feeds
        with contextlib.suppress(RuntimeError):  # no running loop: ticks driven by hand
            rt._tasks.append(feeds.start())
    before = {k: v["fallback"] for k, v in feeds.state.items()}
    policy = feeds.apply(rt.policy, now_s)
    for kind, st in feeds.state.items():  # each change of fallback is an event in the store
        if st["fallback"] != before.get(kind):
            what = (
                f"stale ({st['last_error'] or 'no fresh value'}): {st['fallback']}"
                if st["fallback"]
                else "fresh again"
            )
            rt.pending_events.append(
                EventRecord(
                    now_s,
                    "market_feed",
                    f"{kind} feed {what}",
                    {
                        "feed": kind,
                        "source": st["source"],
                        "fallback": st["fallback"],
                        "age_s": st["age_s"],
                        "last_error": st["last_error"],
                    },
                )
            )
    return policy
