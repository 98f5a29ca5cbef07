"""A point-in-time image of ``TelemetryState`` (and the reliable cursors), as
msgpack: what ``persistence.py`` writes as the snapshot and reads back on start.

The file is ``MAGIC <u32 crc32><u64 length>`` then the msgpack body: a flipped
bit, a truncation or a foreign file is reported (``SnapshotError``), never
loaded as numbers. Format-1 files (a bare body, no checksum) are still read.

Everything a scrape shows is captured, plus what the next message's treatment
depends on (per-instance last seq, the event-id dedup window, recent events and
latency samples), so a restored sidecar behaves exactly as if it never stopped.
``PERSISTED``/``NOT_PERSISTED`` name every attribute of the state; a unit test
fails when a new one appears that is in neither, so nothing is silently reset.
"""

from __future__ import annotations

import logging
import struct
import zlib

import msgspec

from .decode import Heartbeat, Tick, Trade
from .histogram import HOPS, MESSAGE_TYPES, HistogramCounts, HopLatency
from .state import TelemetryState

log = logging.getLogger("metrics_sidecar.snapshot")

FORMAT_VERSION = 2
MAGIC = b"\xffSS2"
_HEADER = struct.Struct("<4sIQ")


class SnapshotError(Exception):
    """The snapshot file cannot be trusted (the message says why)."""

PERSISTED = frozenset({
    # core: trades, last_trade_ts, received, invalid, duplicates, series_overflow, symbols
    # core: also the recent events
    "core", "producers", "latency", "_dedup", "batches",
})
# Configuration copies, the lock, the process start time and the durability hooks.
NOT_PERSISTED = frozenset({
    "settings", "lock", "started_at", "_core_apply", "_core_ingest", "journal", "clock",
    "ack_mismatches",  # reliable_ack_mismatch_total: a process counter, starts at 0 (Prometheus sees a reset)
    "_analytics",  # positions, bars, rolling windows: start empty after a restart (persistence.recover)
    "_analytics_inbox",  # the engine's inbox, emptied at the end of every batch
    # The sliding window of the last minute (producer clock offsets): live traffic refills it.
    # (The hop maxima and exemplars, in ``latency``, are not persisted either.)
    "clock_offsets",
})

Cursor = tuple[str, str, int]  # (producer, instance, last seq processed on the reliable channel)


class HistImage(msgspec.Struct, array_like=True):
    bounds: list[float]
    counts: list[int]
    sum: float
    count: int
    # The native (schema 3) buckets of a hop histogram; absent in older snapshots (they
    # restore empty, as the native buckets always did before).
    native_zero: int = 0
    native: dict[int, int] = msgspec.field(default_factory=dict)


class RingImage(msgspec.Struct, array_like=True):
    values: list[float]
    pos: int
    filled: int


class SymbolImage(msgspec.Struct, array_like=True):
    last_price: float
    last_ts: float
    last_recv: float
    spikes: int
    out_of_order: int
    by_source: dict[str, int]


class ProducerImage(msgspec.Struct, array_like=True):
    lost: int
    received: int
    last_seen: float
    instances_seen: int
    restarts: int = 0  # producer_restarts_total; absent from snapshots written before it


class StateImage(msgspec.Struct, kw_only=True):
    version: int = FORMAT_VERSION
    generation: int  # replay journal files from this generation on
    trades: list[tuple[str, str, int, float]]
    last_trade_ts: float | None
    received: dict[str, int]
    invalid: dict[str, int]
    duplicates: int
    series_overflow: dict[str, int]
    symbols: dict[str, SymbolImage]
    producers: dict[str, ProducerImage]
    producer_last_seq: list[tuple[str, str, int]]  # oldest first (the tracker's eviction order)
    producers_overflowed: int
    trade_latency: HistImage
    hops: list[tuple[str, str, HistImage]]
    hop_samples: list[tuple[str, str, RingImage]]
    recent_events: list[Trade | Tick | Heartbeat]
    dedup_ids: list[str]  # oldest first
    batches: int
    cursors: list[Cursor]  # oldest first
    hop_negative: dict[str, list[int]] = msgspec.field(default_factory=dict)  # absent in older snapshots


def _hist(latency: HopLatency, h: HistogramCounts, native: tuple[int, dict[int, int]] = (0, {})) -> HistImage:
    return HistImage(list(latency.bounds), h.counts, h.sum, h.count, native[0], native[1])


def _fits(latency: HopLatency, image: HistImage, name: str) -> bool:
    if tuple(image.bounds) != tuple(latency.bounds) or len(image.counts) != len(latency.bounds) + 1:
        # SIDECAR_LATENCY_BUCKETS changed: old counts do not fit the new buckets.
        log.warning("latency buckets changed since the snapshot: %s starts empty", name)
        return False
    return True


def _capture_hops(latency: HopLatency) -> tuple[list[tuple[str, str, HistImage]], list[tuple[str, str, RingImage]],
                                                dict[str, list[int]]]:
    hops = [(hop, kind, _hist(latency, latency.histogram(hop, kind), latency.native(hop, kind)))
            for hop in HOPS for kind in MESSAGE_TYPES]
    rings = [(hop, kind, RingImage(*latency.core.ring(HOPS.index(hop), MESSAGE_TYPES.index(kind))))
             for hop in HOPS for kind in MESSAGE_TYPES]
    return hops, rings, {kind: latency.negative(kind) for kind in MESSAGE_TYPES}


def _restore_hops(latency: HopLatency, image: StateImage) -> None:
    core = latency.core
    trade = image.trade_latency
    if _fits(latency, trade, "trade_latency_seconds"):
        core.restore_trade_latency(trade.counts, trade.sum, trade.count)
    for hop, kind, h in image.hops:
        if hop in HOPS and kind in MESSAGE_TYPES and _fits(latency, h, f"hop_latency_seconds{{{hop},{kind}}}"):
            index = HOPS.index(hop), MESSAGE_TYPES.index(kind)
            core.restore_histogram(*index, h.counts, h.sum, h.count)
            core.restore_native(*index, h.native_zero, h.native)
    for hop, kind, r in image.hop_samples:
        if hop in HOPS and kind in MESSAGE_TYPES:  # of another SIDECAR_LATENCY_SAMPLES: the newest that fit
            core.restore_ring(HOPS.index(hop), MESSAGE_TYPES.index(kind), r.values, r.pos, r.filled)
    for kind, counts in image.hop_negative.items():
        if kind in MESSAGE_TYPES and len(counts) == len(HOPS):
            core.restore_negative(MESSAGE_TYPES.index(kind), counts)


def capture(state: TelemetryState, generation: int, cursors: list[Cursor]) -> StateImage:
    """Copy the state (call with ``state.lock`` held)."""
    tracker = state.producers
    dedup = state._dedup
    hops, rings, negative = _capture_hops(state.latency)
    return StateImage(
        generation=generation,
        trades=[(side, symbol, count, volume) for side, symbol, count, volume in state.core.trades()],
        last_trade_ts=state.last_trade_ts,
        received=dict(state.core.received()),
        invalid=dict(state.core.invalid()),
        duplicates=state.duplicates,
        series_overflow=dict(state.core.overflow()),
        symbols={name: SymbolImage(price, ts, recv, spikes, out_of_order, dict(sources))
                 for name, price, ts, recv, spikes, out_of_order, sources in state.core.symbols()},
        producers={name: ProducerImage(lost, received, seen, instances, restarts)
                   for name, lost, received, seen, instances, restarts in tracker.rows()},
        producer_last_seq=tracker.last_seqs(),
        producers_overflowed=tracker.overflowed,
        trade_latency=_hist(state.latency, state.latency.trade_latency()),
        hops=hops,
        hop_samples=rings,
        recent_events=state.core.recent(None, False),
        dedup_ids=dedup.keys(),
        batches=state.batches,
        cursors=cursors,
        hop_negative=negative,
    )


def restore(state: TelemetryState, image: StateImage) -> None:
    """Load an image into a fresh state, in place (other objects may hold references)."""
    core = state.core
    core.set_trades([(side, symbol, count, volume) for side, symbol, count, volume in image.trades])
    core.last_trade_ts = image.last_trade_ts
    # Names this version does not count (an older or newer image) are left out.
    for counts, image_counts, write in ((core.received(), image.received, core.set_received),
                                        (core.invalid(), image.invalid, core.set_invalid),
                                        (core.overflow(), image.series_overflow, core.set_overflow)):
        for name, _ in counts:
            if name in image_counts:
                write(name, image_counts[name])
    core.duplicates = image.duplicates
    core.set_symbols([(name, s.last_price, s.last_ts, s.last_recv, s.spikes, s.out_of_order,
                       list(s.by_source.items())) for name, s in image.symbols.items()])
    producers = [(name, (p.lost, p.received, p.last_seen, p.instances_seen, p.restarts))
                 for name, p in image.producers.items()]
    state.producers.restore(producers, image.producer_last_seq, image.producers_overflowed)
    _restore_hops(state.latency, image)
    state.core.set_recent(list(image.recent_events))
    for event_id in image.dedup_ids:
        state._dedup.remember(event_id)
    state.batches = image.batches


_encode_body = msgspec.msgpack.Encoder().encode
_decode_body = msgspec.msgpack.Decoder(StateImage).decode


def encode(image: StateImage) -> bytes:
    body = _encode_body(image)
    return _HEADER.pack(MAGIC, zlib.crc32(body), len(body)) + body


def decode(data: bytes) -> StateImage:
    """The image, or ``SnapshotError`` saying what is wrong with the file."""
    if not data:
        raise SnapshotError("the file is empty")
    if not data.startswith(MAGIC):
        return _decode_format1(data)
    if len(data) < _HEADER.size:
        raise SnapshotError(f"truncated: {len(data)} bytes, shorter than the {_HEADER.size}-byte header")
    _, crc, length = _HEADER.unpack_from(data)
    body = data[_HEADER.size:]
    if len(body) != length:
        raise SnapshotError(f"truncated or extended: the header says {length} bytes of body, the file has {len(body)}")
    if zlib.crc32(body) != crc:
        raise SnapshotError("checksum mismatch: the file is damaged")
    try:
        return _decode_body(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotError(f"valid checksum but undecodable body ({exc})") from None


def _decode_format1(data: bytes) -> StateImage:
    """Before checksums: a bare msgpack body (version 1). Accepted only if it
    decodes completely as one; anything else is not a snapshot."""
    try:
        image = _decode_body(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise SnapshotError("not a sidecar snapshot (unknown header)") from None
    if image.version != 1:
        raise SnapshotError("not a sidecar snapshot (unknown header)")
    log.warning("snapshot in format 1 (no checksum): rewritten with one at this start")
    return image
