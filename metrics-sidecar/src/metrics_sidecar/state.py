"""Pre-aggregated telemetry state: the single owner of every number the sidecar
exposes. Only the ingest thread mutates it (under ``lock``, once per batch);
readers (the exposition, the HTTP API) take the lock briefly to copy.

The numbers live in the compiled core (``core/src/state.rs``, ``_core.StateCore``):
trades per (side, symbol), received, invalid, duplicates, the series overflow
counts, the capped symbol table and its tick stats. The core object also holds
the hop-latency histograms (histogram.py), the event-id window (dedup.py), the
per-producer seq tracker (producers.py) and the clock offsets (clock_offset.py):
``apply`` is one core call per event (refusal -> dedup -> producer tracker ->
aggregates -> hops -> clock offset). The attributes below (``trades``,
``received``, ``symbols``, ...) are read views over it: copies, taken under
``lock``. No prometheus_client object is touched per message; the exposition
renders this state at scrape time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, ItemsView, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import _core, reasons
from .analytics import AnalyticsEngine
from .clock_offset import ClockOffsets
from .decode import DECODER, Heartbeat, Tick, Trade
from .dedup import RecentIds
from .histogram import HOP_CLOCKS, HOPS, MESSAGE_TYPES, PEAK_SLOT_SECONDS, HopLatency
from .producers import OVERFLOW_LABEL, ProducerTracker
from .schema import TS_SECONDS_BELOW
from .settings import Settings

__all__ = ["HOPS", "HOP_CLOCKS", "MAX_SOURCES", "MESSAGE_TYPES", "OVERFLOW_LABEL", "PEAK_SLOT_SECONDS", "Stamp",
           "StateJournal", "SymbolTicks", "TelemetryState"]

MAX_SOURCES: int = _core.MAX_SOURCES  # per symbol; more sources share OVERFLOW_LABEL
Stamp = tuple[str, str, int]  # (producer, instance, seq) a reliable batch header gives its payload


@dataclass(slots=True)
class SymbolTicks:
    """A copy of one symbol's tick stats (the core keeps the live ones)."""

    last_price: float = 0.0
    last_ts: float = 0.0
    last_recv: float = 0.0
    spikes: int = 0
    out_of_order: int = 0
    by_source: dict[str, int] = field(default_factory=dict)


def _symbol_ticks(row: _core.SymbolRow) -> SymbolTicks:
    _, price, ts, recv, spikes, out_of_order, sources = row
    return SymbolTicks(price, ts, recv, spikes, out_of_order, dict(sources))


class _Counts(dict[str, int]):
    """A fixed set of named counters in the core (received, invalid, series
    overflow): a copy taken in one call, whose writes (``[name] = n``, ``update``)
    also go to the core; a name outside the set is a KeyError."""

    __slots__ = ("_write",)

    def __init__(self, rows: list[tuple[str, int]], write: Callable[[str, int], None]) -> None:
        super().__init__(rows)
        self._write = write

    def __setitem__(self, key: str, value: int) -> None:
        self._write(key, value)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: int) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __delitem__(self, key: str) -> None:
        raise TypeError("a counter cannot be removed")

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, int]:
        return dict(self)


class _Symbols(Mapping[str, SymbolTicks]):
    """The symbol table: name -> a copy of its ``SymbolTicks``."""

    __slots__ = ("_core",)

    def __init__(self, core: _core.StateCore) -> None:
        self._core = core

    def __getitem__(self, name: str) -> SymbolTicks:
        row = self._core.symbol(name)
        if row is None:
            raise KeyError(name)
        return _symbol_ticks(row)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._core.has_symbol(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._core.symbol_names())

    def __len__(self) -> int:
        return self._core.symbol_count()

    def items(self) -> ItemsView[str, SymbolTicks]:
        return {row[0]: _symbol_ticks(row) for row in self._core.symbols()}.items()

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, SymbolTicks]:
        return dict(self.items())


class StateJournal(Protocol):
    """Records every apply/reject for replay after a restart (persistence.py)."""

    def event(self, event: Trade | Tick | Heartbeat) -> None: ...

    def reject(self, reason: str) -> None: ...

    def core_records(self, records: bytes) -> None:
        """A batch ingest's journal records (the core's binary records, one call per batch)."""


class TelemetryState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.started_at = time.time()
        self.ack_mismatches = 0  # reliable headers whose acked went beyond the stream (reliable.py)
        self.producers = ProducerTracker(settings.max_producers)
        # hop_latency_* and trade_latency_seconds, in the core. Every hop value is a
        # difference of two times below TS_SECONDS_BELOW (schema bounds, the future
        # check): the most one observation can add to a sum (the core's overflow refusal).
        self.latency = HopLatency(settings.latency_buckets, settings.latency_samples, TS_SECONDS_BELOW)
        self.clock_offsets = ClockOffsets(settings.max_producers)
        self._dedup = RecentIds(settings.dedup_window)
        # The aggregates, holding the four parts above: one apply call per event.
        self.core = _core.StateCore(
            max_symbols=settings.max_symbols, max_age=settings.tick_max_age_seconds,
            max_future=settings.max_future_seconds, spike=settings.spike_fraction,
            reasons=list(reasons.ALL_REASONS), dedup=self._dedup, producers=self.producers,
            hops=self.latency.core, clocks=self.clock_offsets, events_buffer=settings.events_buffer,
            decoder=DECODER)
        self._core_apply = self.core.apply
        self._core_ingest = self.core.ingest
        self.batches = 0
        # Durability (persistence.py, SIDECAR_STATE_DIR): every apply/reject is journaled and
        # replayed on restart; replay substitutes the journaled apply time for the clock.
        self.journal: StateJournal | None = None
        self.clock: Callable[[], float] = time.time
        # Rolling analytics, bars, positions (analytics/): the batch ingest feeds each applied
        # trade/tick to the engine's core in Rust (no event object); ``apply`` appends to the
        # engine's inbox, which it absorbs once per batch (end_batch).
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

    # -- read views over the core (take ``lock`` first) -------------------------------
    @property
    def trades(self) -> dict[tuple[str, str], list[float]]:
        """(side, symbol) -> [count, volume]; symbol "" for seed messages. A copy."""
        return {(side, symbol): [count, volume] for side, symbol, count, volume in self.core.trades()}

    @trades.setter
    def trades(self, rows: Mapping[tuple[str, str], list[float]]) -> None:
        self.core.set_trades([(side, symbol, int(row[0]), float(row[1])) for (side, symbol), row in rows.items()])

    @property
    def last_trade_ts(self) -> float | None:
        return self.core.last_trade_ts

    @last_trade_ts.setter
    def last_trade_ts(self, value: float | None) -> None:
        self.core.last_trade_ts = value

    @property
    def duplicates(self) -> int:
        return self.core.duplicates

    @duplicates.setter
    def duplicates(self, value: int) -> None:
        self.core.duplicates = value

    @property
    def received(self) -> dict[str, int]:
        """type -> messages applied (MESSAGE_TYPES order)."""
        return _Counts(self.core.received(), self.core.set_received)

    @property
    def invalid(self) -> dict[str, int]:
        """reason -> messages rejected (reasons.ALL_REASONS order)."""
        return _Counts(self.core.invalid(), self.core.set_invalid)

    @property
    def series_overflow(self) -> dict[str, int]:
        """symbol/producer/source -> messages whose label went to OVERFLOW_LABEL."""
        return _Counts(self.core.overflow(), self.core.set_overflow)

    @property
    def symbols(self) -> Mapping[str, SymbolTicks]:
        """The symbol table (at most SIDECAR_MAX_SYMBOLS, then OVERFLOW_LABEL)."""
        return _Symbols(self.core)

    @symbols.setter
    def symbols(self, table: Mapping[str, SymbolTicks]) -> None:
        self.core.set_symbols([(name, s.last_price, s.last_ts, s.last_recv, s.spikes, s.out_of_order,
                                list(s.by_source.items())) for name, s in table.items()])

    # -- ingest -------------------------------------------------------------
    def reject(self, reason: str) -> None:
        if self.journal is not None:
            self.journal.reject(reason)
        self.core.reject(reason)

    def ingest(self, frames: list[bytes], recv: list[float], stamps: list[Stamp | None] | None, arrays: bool,
               max_bytes: int) -> tuple[int, list[tuple[str, bytes | None]]]:
        """Decode and apply a drained batch of frames in one core call (intake.py):
        (messages they held, [(reason, frame prefix or None)] rejected). Called with
        ``lock`` held. Event objects are built only for the SSE stream while it has
        clients and ``recent_events``: the core feeds each applied trade and tick to
        the analytics core itself, and journals in binary records handed to
        ``journal.core_records`` once per call (with a journal, the apply times are
        the system clock's, recorded with each event for replay)."""
        return self._core_ingest(frames, recv, stamps, arrays, max_bytes=max_bytes, **self._hooks())

    def drain(self, lib: _core.LibZmq, socket: int, first: bytes | None, first_more: bool, in_multipart: bool,
              budget: int, max_bytes: int, delay: float) -> tuple[int, list[tuple[str, bytes | None]], bool, int]:
        """The PULL socket's drain in the core (drains.CoreDrain, via intake.py): ``ingest``
        for the frames the core receives itself from ``socket`` (pyzmq's handle), after
        ``first``. Called with ``lock`` held: (messages, rejected, in_multipart, errno or 0)."""
        return self.core.drain(lib, socket, first, first_more, in_multipart, budget, max_bytes=max_bytes,
                               delay=delay, **self._hooks())

    def _hooks(self) -> dict[str, Any]:
        """What a batch in the core calls out to: the journal, the apply clock (none with a
        journal: the system clock's times are recorded for replay), the analytics."""
        journal = self.journal
        clock = None if journal is not None or self.clock is time.time else self.clock
        engine = self._analytics
        if engine is None:
            core = published = None
        else:
            if engine.inbox:  # events ``apply`` queued go in first, in order
                engine.absorb()
            core, published = engine.core, engine.outbox if engine.clients else None
        return {"journal": journal, "clock": clock, "analytics": core, "published": published}

    def apply(self, event: Trade | Tick | Heartbeat) -> str | None:
        """Apply one decoded event. Returns a rejection reason, or None.

        Called with ``lock`` held. ``event.recv_ts`` and ``event.ts_s`` are set.
        The core decides and counts the refusals (future_timestamp, stale, overflow)
        before it changes anything, and drops duplicates (event id, then seq).
        """
        if self.journal is not None:
            self.journal.event(event)  # raises UnrecordableError before any change
        outcome = self._core_apply(event, self.clock())
        if outcome is None:  # the core keeps it in the recent-events ring
            if not isinstance(event, Heartbeat):
                inbox = self._analytics_inbox
                if inbox is not None:
                    inbox.append(event)
            return None
        return outcome or None  # "": a duplicate

    def roll_peaks(self, now: float) -> None:
        """Move the hop-max window on to ``now``'s slot (apply does it itself)."""
        self.latency.roll_peaks(now)

    # -- reads (take ``lock`` first) ----------------------------------------
    def producer_up(self, last_seen: float, now: float) -> bool:
        return now - last_seen <= 3 * self.settings.heartbeat_interval_seconds

    @property
    def recent_events(self) -> list[Trade | Tick | Heartbeat]:
        """The last SIDECAR_EVENTS_BUFFER applied events, oldest first (a copy, built
        from the core's ring)."""
        return self.core.recent(None, False)

    def recent(self, limit: int) -> list[Trade | Tick | Heartbeat]:
        """Newest first."""
        return self.core.recent(limit)
