"""Prometheus exposition at scrape time: ``TelemetryState`` rendered straight to
the text format (textformat.py). The ingest path never touches
prometheus_client; labels and formatting are paid once per scrape, not once
per message, and without building a ``Sample`` object per series.

The state is copied through the read model (read_model.py: one hold of
``state.lock``, plain lists and dicts) and written out after the lock is released, so a scrape never holds up ingest for
the formatting. The hop-latency families (and trade_latency_seconds) are written
by the compiled core itself (histogram.py), under the lock; the analytics
families come from analytics_exposition.py; the process/platform families from
prometheus_client's own collectors.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as _generate_openmetrics

from . import protobuf_exposition, read_model
from .analytics_exposition import write_analytics
from .clock_probe import write_offset_methods
from .histogram import HOP_CLOCKS
from .persistence import DurableState
from .state import TelemetryState
from .textformat import Writer, labels

CONTENT_TYPE = CONTENT_TYPE_LATEST
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


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
    out = Writer(openmetrics, capacity=_body_size[openmetrics] * 9 // 8)
    write_state(state, out, now)
    write_offset_methods(state, out, now)
    if isinstance(state.journal, DurableState):
        write_journal(state.journal, out)
    if state.analytics is not None:
        write_analytics(state, out, now)
    if openmetrics:  # prometheus_client's OpenMetrics output ends with the "# EOF" line
        out.raw(_generate_openmetrics(process) if process is not None else b"# EOF\n")
    elif process is not None:
        out.raw(_generate_latest(process))
    body = out.body()
    _body_size[openmetrics] = len(body)
    return body


# The last body's size, text and OpenMetrics (the next scrape's buffer is reserved at once).
_body_size = {False: 0, True: 0}


def render_protobuf(state: TelemetryState, process: CollectorRegistry | None = None) -> bytes:
    """The protobuf exposition (protobuf_exposition.py): every family, and the hop-latency
    histograms with their native buckets."""
    text = render(state, process).decode()
    native = read_model.native_hops(state)
    return protobuf_exposition.encode(text, native, "hop_latency_seconds")


def write_state(state: TelemetryState, out: Writer, now: float) -> None:
    """The write side's families. Every number is copied in one hold of ``state.lock`` (one
    consistent view; the trade and symbol tables copied by the core); the per-series families
    are then written by the core, one call each, into the writer's one buffer."""
    copy = read_model.state_copy(state, out.openmetrics, now)
    tables, last_trade_ts, received, invalid = copy.tables, copy.last_trade_ts, copy.received, copy.invalid
    overflow, producers, offsets = copy.overflow, copy.producers, copy.offsets
    duplicates, ack_mismatches, latency_text, batches = (copy.duplicates, copy.ack_mismatches, copy.latency_text,
                                                         copy.batches)

    out.family("trades_total", "counter", "Trades received, by side and symbol (symbol empty for seed messages)")
    out.table("trades_total", tables, "trade_count")
    out.family("volume_total", "counter", "Sum of trade qty, by side and symbol")
    out.table("volume_total", tables, "trade_volume")
    out.family("last_trade_ts_seconds", "gauge", "Event time (ts) of the last trade received, unix seconds")
    if last_trade_ts is not None:
        out.sample("last_trade_ts_seconds", "", last_trade_ts)

    # trade_latency_seconds, hop_latency_seconds (exemplars in OpenMetrics),
    # hop_latency_recent_seconds (a summary: a `quantile` label is reserved for
    # summaries), hop_latency_negative_total, hop_latency_max_seconds: the core's.
    out.raw(latency_text)
    write_clocks(out, offsets)

    out.family("messages_received_total", "counter", "Valid messages applied, by type")
    out.series("messages_received_total", (("type", [k for k, _ in received]),), [n for _, n in received])
    out.family("messages_invalid_total", "counter", "Rejected messages, by reason")
    out.series("messages_invalid_total", (("reason", [k for k, _ in invalid]),), [n for _, n in invalid])
    out.family("messages_duplicate_total", "counter", "Messages dropped as duplicates (event_id or seq)")
    out.sample("messages_duplicate_total", "", duplicates)
    out.family("reliable_ack_mismatch_total", "counter",
               "Reliable batch headers whose acked went beyond what the sidecar saw of the stream (ignored)")
    out.sample("reliable_ack_mismatch_total", "", ack_mismatches)
    out.family("series_overflow_total", "counter", "Messages whose label went to the __overflow__ series")
    out.series("series_overflow_total", (("kind", list(overflow)),), list(overflow.values()))

    names, lost, seen, restarts = _columns(producers, 4)
    by_producer = (("producer", names),)
    out.family("messages_lost_total", "counter", "Messages never received: gaps in producer seq")
    out.series("messages_lost_total", by_producer, lost)
    out.family("producer_restarts_total", "counter",
               "Seq went back within one producer stream (to <= 1, or far behind): a restart, not duplicates")
    out.series("producer_restarts_total", by_producer, restarts)
    out.family("producer_last_seen_seconds", "gauge", "Receive time of the producer's last message")
    out.series("producer_last_seen_seconds", by_producer, seen)
    out.family("producer_up", "gauge", "1 while the producer's heartbeats arrive (3 missed => 0)")
    out.series("producer_up", by_producer, [1.0 if state.producer_up(t, now) else 0.0 for t in seen])

    out.family("ticks_total", "counter", "Ticks applied, by symbol and source")
    out.table("ticks_total", tables, "source_ticks")
    out.family("tick_last_price", "gauge", "Last tick price per symbol")
    out.table("tick_last_price", tables, "last_price")
    out.family("tick_last_ts_seconds", "gauge", "Event time of the last tick per symbol")
    out.table("tick_last_ts_seconds", tables, "last_ts")
    out.family("tick_spikes_total", "counter", "Ticks further than the spike fraction from the last price")
    out.table("tick_spikes_total", tables, "spikes")
    out.family("ticks_out_of_order_total", "counter", "Ticks older than the symbol's last tick")
    out.table("ticks_out_of_order_total", tables, "out_of_order")
    out.family("sidecar_ingest_batches_total", "counter", "Socket drain iterations that received frames")
    out.sample("sidecar_ingest_batches_total", "", batches)
    out.family("sidecar_start_time_seconds", "gauge", "Sidecar start time, unix seconds")
    out.sample("sidecar_start_time_seconds", "", state.started_at)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows of ``width`` fields as ``width`` columns (empty columns for no rows)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def write_clocks(out: Writer, offsets: dict[str, float]) -> None:
    """Which hops cross clocks, and the producers' estimated clock offsets."""
    out.family("hop_latency_clock_info", "gauge",
               "1 per hop and type: clock=same when both its timestamps come from one clock, cross when from two")
    for (hop, kind), clock in sorted(HOP_CLOCKS.items()):
        out.sample("hop_latency_clock_info", labels((("clock", clock), ("hop", hop), ("type", kind))), 1)
    out.family("producer_clock_offset_seconds", "gauge",
               "Producer clock minus sidecar clock over the last 50-60 s: round-trip probes on the reliable channel, "
               "else -min(receive - sent_ts)")
    out.series("producer_clock_offset_seconds", (("producer", list(offsets)),), list(offsets.values()))


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
