"""Prometheus exposition at scrape time: renders ``TelemetryState`` into metric
families. The ingest path never touches prometheus_client; the cost of labels
and formatting is paid once per scrape, not once per message."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from .histogram import Histogram, percentile
from .state import TelemetryState

QUANTILES = (0.5, 0.95, 0.99)


class StateCollector(Collector):
    def __init__(self, state: TelemetryState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        now = time.time()
        with state.lock:
            trades = [(k, row[0], row[1]) for k, row in state.trades.items()]
            last_trade_ts = state.last_trade_ts
            received = dict(state.received)
            invalid = dict(state.invalid)
            duplicates = state.duplicates
            overflow = dict(state.series_overflow)
            overflow["producer"] = state.producers.overflowed
            producers = [(name, s.lost, s.received, s.last_seen) for name, s in state.producers.stats.items()]
            symbols = [
                (name, s.last_price, s.last_ts, s.spikes, s.out_of_order, dict(s.by_source))
                for name, s in state.symbols.items()
            ]
            trade_latency = _copy(state.trade_latency)
            hops = {key: _copy(h) for key, h in state.hops.items() if h.count}
            samples = {key: state.hop_samples[key].snapshot() for key in hops}
            batches = state.batches

        t = CounterMetricFamily("trades_total", "Trades received, by side and symbol (symbol empty for seed messages)",
                                labels=["side", "symbol"])
        v = CounterMetricFamily("volume_total", "Sum of trade qty, by side and symbol", labels=["side", "symbol"])
        for (side, symbol), count, volume in trades:
            t.add_metric([side, symbol], count)
            v.add_metric([side, symbol], volume)
        yield t
        yield v
        g = GaugeMetricFamily("last_trade_ts_seconds", "Event time (ts) of the last trade received, unix seconds")
        if last_trade_ts is not None:
            g.add_metric([], last_trade_ts)
        yield g

        yield _histogram("trade_latency_seconds", "Sidecar receive time minus trade ts", [], [([], trade_latency)])
        yield _histogram(
            "hop_latency_seconds", "Latency of each hop (event, send, receive, apply), by message type",
            ["hop", "type"], [([hop, kind], h) for (hop, kind), h in sorted(hops.items())])
        # A summary, not a gauge: a `quantile` label is reserved for summaries
        # (promtool check metrics rejects it on a gauge). Quantiles are exact over
        # the recent samples; _count/_sum are cumulative, like a client summary's.
        q = SummaryMetricFamily("hop_latency_recent_seconds",
                                "Exact quantile of the most recent samples of each hop",
                                labels=["hop", "type"])
        for (hop, kind), values in sorted(samples.items()):
            values.sort()
            for quantile in QUANTILES:
                q.add_sample("hop_latency_recent_seconds", {"hop": hop, "type": kind, "quantile": repr(quantile)},
                             percentile(values, quantile))
            q.add_metric([hop, kind], count_value=hops[(hop, kind)].count, sum_value=hops[(hop, kind)].sum)
        yield q

        r = CounterMetricFamily("messages_received_total", "Valid messages applied, by type", labels=["type"])
        for kind, n in received.items():
            r.add_metric([kind], n)
        yield r
        i = CounterMetricFamily("messages_invalid_total", "Rejected messages, by reason", labels=["reason"])
        for reason, n in invalid.items():
            i.add_metric([reason], n)
        yield i
        yield CounterMetricFamily("messages_duplicate_total", "Messages dropped as duplicates (event_id or seq)",
                                  value=duplicates)
        o = CounterMetricFamily("series_overflow_total", "Messages whose label went to the __overflow__ series",
                                labels=["kind"])
        for kind, n in overflow.items():
            o.add_metric([kind], n)
        yield o

        lost = CounterMetricFamily("messages_lost_total", "Messages never received: gaps in producer seq",
                                   labels=["producer"])
        seen = GaugeMetricFamily("producer_last_seen_seconds", "Receive time of the producer's last message",
                                 labels=["producer"])
        up = GaugeMetricFamily("producer_up", "1 while the producer's heartbeats arrive (3 missed => 0)",
                               labels=["producer"])
        for name, n_lost, _, last_seen in producers:
            lost.add_metric([name], n_lost)
            seen.add_metric([name], last_seen)
            up.add_metric([name], 1.0 if state.producer_up(last_seen, now) else 0.0)
        yield lost
        yield seen
        yield up

        ticks = CounterMetricFamily("ticks_total", "Ticks applied, by symbol and source", labels=["symbol", "source"])
        price = GaugeMetricFamily("tick_last_price", "Last tick price per symbol", labels=["symbol"])
        tick_ts = GaugeMetricFamily("tick_last_ts_seconds", "Event time of the last tick per symbol",
                                    labels=["symbol"])
        spikes = CounterMetricFamily("tick_spikes_total", "Ticks further than the spike fraction from the last price",
                                     labels=["symbol"])
        ooo = CounterMetricFamily("ticks_out_of_order_total", "Ticks older than the symbol's last tick",
                                  labels=["symbol"])
        for name, last_price, last_ts, n_spikes, n_ooo, by_source in symbols:
            for source, n in by_source.items():
                ticks.add_metric([name, source], n)
            if last_ts:
                price.add_metric([name], last_price)
                tick_ts.add_metric([name], last_ts)
            spikes.add_metric([name], n_spikes)
            ooo.add_metric([name], n_ooo)
        yield ticks
        yield price
        yield tick_ts
        yield spikes
        yield ooo
        yield CounterMetricFamily("sidecar_ingest_batches_total", "Socket drain iterations that received frames",
                                  value=batches)
        yield GaugeMetricFamily("sidecar_start_time_seconds", "Sidecar start time, unix seconds",
                                value=state.started_at)


def _copy(h: Histogram) -> Histogram:
    c = Histogram(h.bounds)
    c.counts = list(h.counts)
    c.sum = h.sum
    c.count = h.count
    return c


def _histogram(name: str, doc: str, labels: list[str],
               series: list[tuple[list[str], Histogram]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for values, h in series:
        family.add_metric(values, h.cumulative(), h.sum)
    return family
