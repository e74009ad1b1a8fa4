"""Prometheus metrics of the market feeds (scraped from the runtime's last tick's view)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

FALLBACKS = ("hold", "conservative", "curtail")


class MarketFeedsCollector(Collector):
    """Per feed: age of its value, the fallback in force, polls and failed polls."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        feeds = getattr(self.runtime, "market_feeds", None)
        state = feeds.state if feeds is not None else {}
        age = GaugeMetricFamily(
            "ballast_market_feed_age_seconds",
            "Age of the feed's value at the last tick [s] (NaN: no value yet)",
            labels=["feed", "source"],
        )
        fb = GaugeMetricFamily(
            "ballast_market_feed_fallback",
            "1 for the stale fallback in force per feed",
            labels=["feed", "fallback"],
        )
        polls = CounterMetricFamily(
            "ballast_market_feed_polls", "Feed polls since start", labels=["feed", "result"]
        )
        for kind, s in sorted(state.items()):
            age.add_metric([kind, s["source"]], float("nan") if s["age_s"] is None else s["age_s"])
            for f in FALLBACKS:
                fb.add_metric([kind, f], 1 if s["fallback"] == f else 0)
            polls.add_metric([kind, "ok"], s["polls"] - s["failures"])
            polls.add_metric([kind, "failed"], s["failures"])
        yield age
        yield fb
        yield polls
