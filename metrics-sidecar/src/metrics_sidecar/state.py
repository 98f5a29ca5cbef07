"""Pre-aggregated telemetry state: the single owner of every number the sidecar
exposes. Only the ingest thread mutates it (under ``lock``, once per batch);
readers (the exposition, the HTTP API) take the lock briefly to copy.

Everything here is plain Python data (dict increments), except what the
compiled core keeps: the hop-latency histograms (histogram.py), the event-id
window (dedup.py) and the per-producer seq tracker (producers.py): one core
call each per applied event. No prometheus_client object is touched per message; the
exposition renders this state at scrape time.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from . import reasons
from .analytics import AnalyticsEngine
from .clock_offset import ClockOffsets
from .decode import Heartbeat, Tick, Trade
from .dedup import RecentIds
from .histogram import HOP_CLOCKS, HOPS, KIND_INDEX, MESSAGE_TYPES, PEAK_SLOT_SECONDS, HopLatency
from .producers import OVERFLOW_LABEL, ProducerTracker
from .schema import TS_SECONDS_BELOW
from .settings import Settings

__all__ = ["HOPS", "HOP_CLOCKS", "MAX_SOURCES", "MESSAGE_TYPES", "PEAK_SLOT_SECONDS", "StateJournal", "SymbolTicks",
           "TelemetryState"]

MAX_SOURCES = 16
_FLOAT_MAX = sys.float_info.max  # a sum above it is +inf: the aggregate would be lost for good


@dataclass(slots=True)
class SymbolTicks:
    last_price: float = 0.0
    last_ts: float = 0.0
    last_recv: float = 0.0
    spikes: int = 0
    out_of_order: int = 0
    by_source: dict[str, int] = field(default_factory=dict)


class StateJournal(Protocol):
    """Records every apply/reject for replay after a restart (persistence.py)."""

    def event(self, event: Trade | Tick | Heartbeat) -> None: ...

    def reject(self, reason: str) -> None: ...


class TelemetryState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.started_at = time.time()
        # trades[(side, symbol)] = [count, volume]; symbol "" for seed messages.
        self.trades: dict[tuple[str, str], list[float]] = {}
        self.last_trade_ts: float | None = None
        self.received: dict[str, int] = dict.fromkeys(MESSAGE_TYPES, 0)
        self.invalid: dict[str, int] = dict.fromkeys(reasons.ALL_REASONS, 0)
        self.duplicates = 0
        self.ack_mismatches = 0  # reliable headers whose acked went beyond the stream (reliable.py)
        self.series_overflow: dict[str, int] = {"symbol": 0, "producer": 0, "source": 0}
        self.symbols: dict[str, SymbolTicks] = {}
        self.producers = ProducerTracker(settings.max_producers)
        # hop_latency_* and trade_latency_seconds, in the core. Every hop value is a
        # difference of two times below TS_SECONDS_BELOW (schema bounds, the future
        # check): the most one observation can add to a sum (see _refusal).
        self.latency = HopLatency(settings.latency_buckets, settings.latency_samples, TS_SECONDS_BELOW)
        self.clock_offsets = ClockOffsets(settings.max_producers)
        self.recent_events: deque[Trade | Tick | Heartbeat] = deque(maxlen=settings.events_buffer)
        self._dedup = RecentIds(settings.dedup_window)
        self._max_symbols = settings.max_symbols
        self._max_age = settings.tick_max_age_seconds
        self._max_future = settings.max_future_seconds
        self._spike = settings.spike_fraction
        self.batches = 0
        # Durability (persistence.py, SIDECAR_STATE_DIR): every apply/reject is journaled and
        # replayed on restart; replay substitutes the journaled apply time for the clock.
        self.journal: StateJournal | None = None
        self.clock: Callable[[], float] = time.time
        # Rolling analytics, bars, positions (analytics/): each applied trade/tick goes to the
        # engine's inbox (one list append), which it absorbs once per batch (end_batch).
        self._analytics: AnalyticsEngine | None = None
        self._analytics_inbox: list[Trade | Tick] | None = None
        self.analytics = AnalyticsEngine(settings, self) if settings.analytics else None

    @property
    def analytics(self) -> AnalyticsEngine | None:
        return self._analytics

    @analytics.setter
    def analytics(self, engine: AnalyticsEngine | None) -> None:
        """None detaches the engine (journal replay does, so replayed events stay out)."""
        self._analytics = engine
        self._analytics_inbox = None if engine is None else engine.inbox

    def end_batch(self) -> None:
        """The ingest loops call this after each drained batch, lock still held: the
        analytics take in what the batch applied (readers would do it anyway, first)."""
        if self._analytics is not None:
            self._analytics.absorb()

    # -- labels -------------------------------------------------------------
    def _symbol_label(self, symbol: str) -> str:
        if symbol in self.symbols:
            return symbol
        if len(self.symbols) >= self._max_symbols:
            self.series_overflow["symbol"] += 1
            symbol = OVERFLOW_LABEL
            if symbol in self.symbols:
                return symbol
        self.symbols[symbol] = SymbolTicks()
        return symbol

    # -- ingest -------------------------------------------------------------
    def reject(self, reason: str) -> None:
        if self.journal is not None:
            self.journal.reject(reason)
        self.invalid[reason] += 1

    def apply(self, event: Trade | Tick | Heartbeat) -> str | None:
        """Apply one decoded event. Returns a rejection reason, or None.

        Called with ``lock`` held. ``event.recv_ts`` and ``event.ts_s`` are set.
        """
        if self.journal is not None:
            self.journal.event(event)
        recv = event.recv_ts
        kind = event.kind
        # Validity first, before anything is touched: a rejected message moves no
        # seq, takes no event id and changes no aggregate.
        reason = self._refusal(event, recv)
        if reason is not None:
            self.invalid[reason] += 1
            return reason
        if event.event_id is not None and self._dedup.seen_before(event.producer, event.event_id):
            self.duplicates += 1
            if event.producer is not None:  # its seq was received: never also a gap (loss)
                self.producers.observe(event.producer, event.instance, event.seq, recv, count=False)
            return None
        producer: str | None = None
        if event.producer is not None:
            producer, duplicate = self.producers.observe(event.producer, event.instance, event.seq, recv)
            if duplicate:
                self.duplicates += 1
                return None

        if type(event) is Trade:
            self._apply_trade(event)
            inbox = self._analytics_inbox
            if inbox is not None:
                inbox.append(event)
        elif type(event) is Tick:
            self._apply_tick(event)
            inbox = self._analytics_inbox
            if inbox is not None:
                inbox.append(event)
        self.received[kind] += 1
        self.recent_events.append(event)

        # Per-hop latency, in the core: every hop of the type (the first two only with
        # sent_ts), the exemplars, peaks and trade_latency_seconds. Clock skew can make
        # a hop negative: such a sample is counted (hop_latency_negative_total) and
        # observed as 0 (the lowest bucket), so the count stays exact and the skew shown.
        sent = event.sent_ts
        self.latency.observe_event(KIND_INDEX[kind], event.ts_s, sent, recv, self.clock(), event.event_id,
                                   event.producer, event.seq)
        if sent is not None and producer is not None:
            self.clock_offsets.observe(producer, sent, recv)
        return None

    def roll_peaks(self, now: float) -> None:
        """Move the hop-max window on to ``now``'s slot (apply does it itself)."""
        self.latency.roll_peaks(now)

    def _refusal(self, event: Trade | Tick | Heartbeat, recv: float) -> str | None:
        """Why a decoded event cannot be applied (future_timestamp, stale, overflow), or None."""
        latest = recv + self._max_future
        sent = event.sent_ts
        if event.ts_s > latest or (sent is not None and sent > latest):
            return reasons.FUTURE_TIMESTAMP
        if type(event) is Tick and event.ts_s < recv - self._max_age:
            return reasons.STALE
        if type(event) is Trade:
            row = self.trades.get((event.side, self._symbol_key(event.symbol)))
            if row is not None and row[1] + event.qty > _FLOAT_MAX:
                return reasons.OVERFLOW
        # A latency sum (the type's hops; trade_latency for a trade) that could not take
        # one more value (the core's check, before anything is touched).
        if self.latency.would_overflow(KIND_INDEX[event.kind]):
            return reasons.OVERFLOW
        return None

    def _symbol_key(self, symbol: str | None) -> str:
        """The trades key a symbol lands on, without creating its series."""
        if symbol is None:
            return ""
        if symbol in self.symbols or len(self.symbols) < self._max_symbols:
            return symbol
        return OVERFLOW_LABEL

    def _apply_trade(self, trade: Trade) -> None:
        symbol = "" if trade.symbol is None else self._symbol_label(trade.symbol)
        key = (trade.side, symbol)
        row = self.trades.get(key)
        if row is None:
            row = self.trades[key] = [0, 0.0]
        row[0] += 1
        row[1] += trade.qty
        self.last_trade_ts = trade.ts_s  # trade_latency_seconds: observed by the core (apply)

    def _apply_tick(self, tick: Tick) -> None:
        sym = self.symbols.get(tick.symbol) or self.symbols[self._symbol_label(tick.symbol)]
        source = tick.source
        if source not in sym.by_source and len(sym.by_source) >= MAX_SOURCES:
            self.series_overflow["source"] += 1
            source = OVERFLOW_LABEL
        sym.by_source[source] = sym.by_source.get(source, 0) + 1
        if tick.ts_s < sym.last_ts:
            sym.out_of_order += 1  # counted, but never rewinds the last price
            return
        last = sym.last_price
        if last > 0.0 and abs(tick.price - last) > self._spike * last:
            sym.spikes += 1
        sym.last_price = tick.price
        sym.last_ts = tick.ts_s
        sym.last_recv = tick.recv_ts

    # -- reads (take ``lock`` first) ----------------------------------------
    def producer_up(self, last_seen: float, now: float) -> bool:
        return now - last_seen <= 3 * self.settings.heartbeat_interval_seconds

    def recent(self, limit: int) -> list[Trade | Tick | Heartbeat]:
        """Newest first."""
        out: list[Trade | Tick | Heartbeat] = []
        for event in reversed(self.recent_events):
            if len(out) >= limit:
                break
            out.append(event)
        return out
