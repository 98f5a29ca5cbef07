"""Prometheus exposition at scrape time: ``TelemetryState`` rendered straight to
the text format (textformat.py). The ingest path never touches
prometheus_client; labels and formatting are paid once per scrape, not once
per message, and without building a ``Sample`` object per series.

The state is copied under ``state.lock`` (plain lists and dicts, cheap) and
written out after the lock is released, so a scrape never holds up ingest for
the formatting. The analytics families come from analytics_exposition.py; the
process/platform families from prometheus_client's own collectors.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as _generate_openmetrics

from . import protobuf_exposition
from .analytics_exposition import write_analytics
from .clock_probe import write_offset_methods
from .decode import Heartbeat, Tick, Trade
from .histogram import Histogram, percentile
from .persistence import DurableState
from .state import HOP_CLOCKS, HOPS, TelemetryState
from .textformat import Writer, exemplar, labels

CONTENT_TYPE = CONTENT_TYPE_LATEST
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
QUANTILES = (0.5, 0.95, 0.99, 0.999)


def process_registry() -> CollectorRegistry:
    """process_* and python_* families (CPU, RSS, fds, GC), as any Python exporter has."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def wants_openmetrics(accept: str | None) -> bool:
    """The scraper asked for OpenMetrics (Prometheus does, first, in its Accept header)."""
    return accept is not None and "application/openmetrics-text" in accept


def render(state: TelemetryState, process: CollectorRegistry | None = None, openmetrics: bool = False) -> bytes:
    """The whole ``/metrics/`` body: the text format, or OpenMetrics (with exemplars on the
    hop-latency buckets) when ``openmetrics``."""
    now = time.time()
    out = Writer(openmetrics)
    write_state(state, out, now)
    write_offset_methods(state, out, now)
    if isinstance(state.journal, DurableState):
        write_journal(state.journal, out)
    if state.analytics is not None:
        write_analytics(state, out, now)
    body = out.text().encode()
    if openmetrics:  # prometheus_client's OpenMetrics output ends with the "# EOF" line
        return body + (_generate_openmetrics(process) if process is not None else b"# EOF\n")
    return body + _generate_latest(process) if process is not None else body


def render_protobuf(state: TelemetryState, process: CollectorRegistry | None = None) -> bytes:
    """The protobuf exposition (protobuf_exposition.py): every family, and the hop-latency
    histograms with their native buckets."""
    text = render(state, process).decode()
    with state.lock:
        native: dict[tuple[tuple[str, str], ...], protobuf_exposition.NativeBuckets] = {
            (("hop", hop), ("type", kind)): (h.native_zero, dict(h.native))
                  for (hop, kind), h in state.hops.items() if h.count and h.native is not None}
    return protobuf_exposition.encode(text, native, "hop_latency_seconds")


def write_state(state: TelemetryState, out: Writer, now: float) -> None:
    with state.lock:
        trades = [(k, row[0], row[1]) for k, row in state.trades.items()]
        last_trade_ts = state.last_trade_ts
        received = list(state.received.items())
        invalid = list(state.invalid.items())
        duplicates = state.duplicates
        ack_mismatches = state.ack_mismatches
        overflow = dict(state.series_overflow)
        overflow["producer"] = state.producers.overflowed
        producers = [(name, s.lost, s.last_seen) for name, s in state.producers.stats.items()]
        restarts = [s.restarts for s in state.producers.stats.values()]
        symbols = [(name, s.last_price, s.last_ts, s.spikes, s.out_of_order, list(s.by_source.items()))
                   for name, s in state.symbols.items()]
        trade_latency = _copy(state.trade_latency)
        hops = {key: _copy(h) for key, h in state.hops.items() if h.count}
        samples = {key: state.hop_samples[key].snapshot() for key in hops}
        state.roll_peaks(now)
        maxima = {key: state.hops[key].window_max() for key in hops}
        negative = {(hop, kind): counts[i] for kind, counts in state.hop_negative.items()
                    for i, hop in enumerate(HOPS) if (hop, kind) in hops}
        offsets = state.clock_offsets.estimates(now)
        batches = state.batches

    out.family("trades_total", "counter", "Trades received, by side and symbol (symbol empty for seed messages)")
    trade_labels = [labels((("side", side), ("symbol", symbol))) for (side, symbol), _, _ in trades]
    out.column("trades_total", trade_labels, [count for _, count, _ in trades])
    out.family("volume_total", "counter", "Sum of trade qty, by side and symbol")
    out.column("volume_total", trade_labels, [volume for _, _, volume in trades])
    out.family("last_trade_ts_seconds", "gauge", "Event time (ts) of the last trade received, unix seconds")
    if last_trade_ts is not None:
        out.sample("last_trade_ts_seconds", "", last_trade_ts)

    out.family("trade_latency_seconds", "histogram", "Sidecar receive time minus trade ts")
    out.histogram("trade_latency_seconds", [], trade_latency.cumulative(), trade_latency.sum)
    out.family("hop_latency_seconds", "histogram",
               "Latency of each hop (event, send, receive, apply), by message type")
    for (hop, kind), h in sorted(hops.items()):
        out.histogram("hop_latency_seconds", [("hop", hop), ("type", kind)], h.cumulative(), h.sum,
                      _exemplars(h) if out.openmetrics else None)
    # A summary, not a gauge: a `quantile` label is reserved for summaries
    # (promtool check metrics rejects it on a gauge). Quantiles are exact over
    # the recent samples; _count/_sum are cumulative, like a client summary's.
    out.family("hop_latency_recent_seconds", "summary", "Exact quantile of the most recent samples of each hop")
    for (hop, kind), values in sorted(samples.items()):
        values.sort()
        for quantile in QUANTILES:
            out.sample("hop_latency_recent_seconds",
                       labels((("hop", hop), ("quantile", repr(quantile)), ("type", kind))),
                       percentile(values, quantile))
        pair = labels((("hop", hop), ("type", kind)))
        out.sample("hop_latency_recent_seconds_count", pair, hops[(hop, kind)].count)
        out.sample("hop_latency_recent_seconds_sum", pair, hops[(hop, kind)].sum)

    write_skew_and_tails(out, negative, maxima, offsets)

    out.family("messages_received_total", "counter", "Valid messages applied, by type")
    out.column("messages_received_total", [labels((("type", k),)) for k, _ in received], [n for _, n in received])
    out.family("messages_invalid_total", "counter", "Rejected messages, by reason")
    out.column("messages_invalid_total", [labels((("reason", k),)) for k, _ in invalid], [n for _, n in invalid])
    out.family("messages_duplicate_total", "counter", "Messages dropped as duplicates (event_id or seq)")
    out.sample("messages_duplicate_total", "", duplicates)
    out.family("reliable_ack_mismatch_total", "counter",
               "Reliable batch headers whose acked went beyond what the sidecar saw of the stream (ignored)")
    out.sample("reliable_ack_mismatch_total", "", ack_mismatches)
    out.family("series_overflow_total", "counter", "Messages whose label went to the __overflow__ series")
    out.column("series_overflow_total", [labels((("kind", k),)) for k in overflow], overflow.values())

    producer_labels = [labels((("producer", name),)) for name, _, _ in producers]
    out.family("messages_lost_total", "counter", "Messages never received: gaps in producer seq")
    out.column("messages_lost_total", producer_labels, [lost for _, lost, _ in producers])
    out.family("producer_restarts_total", "counter",
               "Seq went back within one producer stream (to <= 1, or far behind): a restart, not duplicates")
    out.column("producer_restarts_total", producer_labels, restarts)
    out.family("producer_last_seen_seconds", "gauge", "Receive time of the producer's last message")
    out.column("producer_last_seen_seconds", producer_labels, [seen for _, _, seen in producers])
    out.family("producer_up", "gauge", "1 while the producer's heartbeats arrive (3 missed => 0)")
    out.column("producer_up", producer_labels,
               [1.0 if state.producer_up(seen, now) else 0.0 for _, _, seen in producers])

    out.family("ticks_total", "counter", "Ticks applied, by symbol and source")
    for name, _, _, _, _, by_source in symbols:
        for source, n in by_source:
            out.sample("ticks_total", labels((("source", source), ("symbol", name))), n)
    symbol_labels = [labels((("symbol", name),)) for name, *_ in symbols]
    priced = [(lt, row) for lt, row in zip(symbol_labels, symbols, strict=True) if row[2]]
    out.family("tick_last_price", "gauge", "Last tick price per symbol")
    out.column("tick_last_price", [lt for lt, _ in priced], [row[1] for _, row in priced])
    out.family("tick_last_ts_seconds", "gauge", "Event time of the last tick per symbol")
    out.column("tick_last_ts_seconds", [lt for lt, _ in priced], [row[2] for _, row in priced])
    out.family("tick_spikes_total", "counter", "Ticks further than the spike fraction from the last price")
    out.column("tick_spikes_total", symbol_labels, [row[3] for row in symbols])
    out.family("ticks_out_of_order_total", "counter", "Ticks older than the symbol's last tick")
    out.column("ticks_out_of_order_total", symbol_labels, [row[4] for row in symbols])
    out.family("sidecar_ingest_batches_total", "counter", "Socket drain iterations that received frames")
    out.sample("sidecar_ingest_batches_total", "", batches)
    out.family("sidecar_start_time_seconds", "gauge", "Sidecar start time, unix seconds")
    out.sample("sidecar_start_time_seconds", "", state.started_at)


def write_skew_and_tails(out: Writer, negative: dict[tuple[str, str], int],
                         maxima: dict[tuple[str, str], float | None], offsets: dict[str, float]) -> None:
    """Clock skew (negative samples, producer offsets) and the recent maximum of each hop."""
    out.family("hop_latency_negative_total", "counter",
               "Hop samples that came out negative (clock skew); observed as 0 in the histogram")
    for (hop, kind), n in sorted(negative.items()):
        out.sample("hop_latency_negative_total", _hop_labels(hop, kind), n)
    out.family("hop_latency_max_seconds", "gauge", "Largest sample of each hop over the last 15-30 s")
    for (hop, kind), top in sorted(maxima.items()):
        if top is not None:
            out.sample("hop_latency_max_seconds", _hop_labels(hop, kind), top)
    out.family("hop_latency_clock_info", "gauge",
               "1 per hop and type: clock=same when both its timestamps come from one clock, cross when from two")
    for (hop, kind), clock in sorted(HOP_CLOCKS.items()):
        out.sample("hop_latency_clock_info", labels((("clock", clock), ("hop", hop), ("type", kind))), 1)
    out.family("producer_clock_offset_seconds", "gauge",
               "Producer clock minus sidecar clock over the last 50-60 s: round-trip probes on the reliable channel, "
               "else -min(receive - sent_ts)")
    out.column("producer_clock_offset_seconds", [labels((("producer", p),)) for p in offsets], offsets.values())


def _hop_labels(hop: str, kind: str) -> str:
    return labels((("clock", HOP_CLOCKS[hop, kind]), ("hop", hop), ("type", kind)))


def write_journal(durable: DurableState, out: Writer) -> None:
    """The state dir's health, counted by this process (they restart at zero with it)."""
    out.family("sidecar_journal_write_errors_total", "counter",
               "Journal write or fsync attempts that failed (disk full, I/O error); each is retried")
    out.sample("sidecar_journal_write_errors_total", "", durable.write_errors)
    out.family("sidecar_journal_stalls_total", "counter",
               "Times applying paused because the journal could not be written")
    out.sample("sidecar_journal_stalls_total", "", durable.stalls)
    out.family("sidecar_journal_frames_skipped_total", "counter",
               "Damaged journal frames skipped at start-up (every intact frame after them was replayed)")
    out.sample("sidecar_journal_frames_skipped_total", "", durable.frames_skipped)


def _exemplars(h: Histogram) -> list[str]:
    """Per bucket, the exemplar text of its most recent event: event_id, producer and seq
    (those it has; event_id kept longest under the 128-character limit), value, receive time."""
    out: list[str] = []
    for kept in h.exemplars:
        if kept is None:
            out.append("")
            continue
        event, value = kept
        assert isinstance(event, Trade | Tick | Heartbeat)
        pairs = [(name, v) for name, v in (("producer", event.producer),
                                            ("seq", None if event.seq is None else str(event.seq)),
                                            ("event_id", event.event_id)) if v is not None]
        out.append(exemplar(pairs, value, event.recv_ts))
    return out


def _copy(h: Histogram) -> Histogram:
    c = Histogram(h.bounds)
    c.counts = list(h.counts)
    c.exemplars = list(h.exemplars)
    c.sum = h.sum
    c.count = h.count
    return c
