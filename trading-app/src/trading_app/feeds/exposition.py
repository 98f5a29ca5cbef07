"""``feed_*`` metrics for the process that runs a feed (the API's /metrics),
rendered from the feed's counters at scrape time (nothing on the hot path)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from .base import FeedStats


class FeedCollector(Collector):
    def __init__(self, stats: FeedStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        snap = self.stats.snapshot()
        source = snap["source"]
        for name, key, doc in (
            ("feed_ticks_sent_total", "ticks_sent", "Ticks the feed queued to ZeroMQ"),
            ("feed_ticks_dropped_total", "ticks_dropped", "Ticks publish() could not send"),
            ("feed_reconnects_total", "reconnects", "Connections to the upstream stream after the first"),
            ("feed_disconnects_total", "disconnects", "Upstream connections that were lost"),
            ("feed_connect_failures_total", "connect_failures", "Upstream connection attempts that failed"),
        ):
            family = CounterMetricFamily(name, doc, labels=["source"])
            family.add_metric([source], snap[key])
            yield family
        skipped = CounterMetricFamily("feed_skipped_total", "Malformed input skipped by the feed, by reason",
                                      labels=["source", "reason"])
        for reason, n in sorted(snap["skipped"].items()):
            skipped.add_metric([source, reason], n)
        yield skipped
