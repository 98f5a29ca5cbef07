"""The trading app's own ``/metrics``: what the publisher sent, dropped and how
long ``publish()`` took, rendered from its counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .telemetry.protocol import Publisher
from .telemetry.stats import MESSAGE_TYPES, PUBLISH_BUCKETS


class PublisherCollector(Collector):
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def collect(self) -> Iterator[Metric]:
        snap = self.publisher.stats()
        sent = CounterMetricFamily("publisher_messages_sent_total", "Messages queued to ZeroMQ, by type",
                                   labels=["type"])
        for kind in MESSAGE_TYPES:
            sent.add_metric([kind], snap.sent.get(kind, 0))
        yield sent
        dropped = CounterMetricFamily(
            "publisher_messages_dropped_total",
            "Messages publish() could not send (no_peer: sidecar unreachable, hwm: queue full)",
            labels=["type", "reason"])
        for kind in MESSAGE_TYPES:
            for reason in ("no_peer", "hwm", "closed"):
                dropped.add_metric([kind, reason], snap.dropped.get((kind, reason), 0))
        outbox = snap.outbox  # only the reliable publisher has one (docs/delivery.md)
        extra = ("outbox_full", "outbox_error") if outbox is not None else ("queue_full", "unencodable")
        for kind in MESSAGE_TYPES[:2] if outbox is not None else MESSAGE_TYPES:
            for reason in extra:
                dropped.add_metric([kind, reason], snap.dropped.get((kind, reason), 0))
        yield dropped
        if outbox is not None:
            yield GaugeMetricFamily("publisher_outbox_unacked_messages",
                                    "reliable: accepted messages the sidecar has not acknowledged yet",
                                    value=outbox.unacked)
            yield CounterMetricFamily("publisher_outbox_resent_total",
                                      "reliable: messages sent again (no ack in time, or the sidecar reported a gap)",
                                      value=outbox.resent)
        connected = GaugeMetricFamily("publisher_sidecar_connected",
                                      "1 while a sidecar is connected to the endpoint", labels=["endpoint"])
        for endpoint, ok in self.publisher.endpoint_status().items():
            connected.add_metric([endpoint], 1.0 if ok else 0.0)
        yield connected
        hist = HistogramMetricFamily("publisher_publish_duration_seconds",
                                     "Time the caller spent inside publish()")
        buckets, running = [], 0
        for bound, n in zip(PUBLISH_BUCKETS, snap.duration_counts, strict=False):
            running += n
            buckets.append((repr(bound), running))
        buckets.append(("+Inf", running + snap.duration_counts[-1]))
        hist.add_metric([], buckets, snap.duration_sum)
        yield hist


def build_registry(publisher: Publisher) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PublisherCollector(publisher))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
