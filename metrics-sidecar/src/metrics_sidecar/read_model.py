"""The read model: every reader of the state (the exposition, the HTTP API, the
market endpoints, the stream's views, the snapshot persistence.py writes) copies
what it needs through here, in one hold of ``state.lock`` per answer, and computes
outside it. The write side (the ingest loops, ingest.py and reliable.py, through
intake.py) is the only other holder of the lock
(``metrics-sidecar/tests/test_lock_holders.py`` fails on any other).

Each function returns plain data (tuples, lists, frozen dataclasses): a
consistent view of one instant, so a scrape or a response never mixes numbers
from before and after a batch, and formatting never holds up ingest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._core import StateTables
from .histogram import HOP_CLOCKS, HOPS, MESSAGE_TYPES
from .producers import OVERFLOW_LABEL

if TYPE_CHECKING:
    from .analytics.ohlc import Bar
    from .analytics.rings import FloatArray
    from .analytics.table import ColumnsCopy
    from .analytics.views import SideSnapshot, SymbolSnapshot
    from .clock_offset import Method
    from .events import Event
    from .events_query import EventFilter
    from .snapshot import Cursor, StateImage
    from .state import TelemetryState

NativeKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class StateCopy:
    """The write side's families at one instant (exposition.write_state)."""

    tables: StateTables  # the trade and symbol tables, copied by the core (exposition.write_state writes them)
    last_trade_ts: float | None
    received: list[tuple[str, int]]
    invalid: list[tuple[str, int]]
    duplicates: int
    ack_mismatches: int
    overflow: dict[str, int]
    producers: list[tuple[str, float, float, float]]  # name, lost, last seen, restarts
    latency_text: str
    offsets: dict[str, float]
    batches: int


@dataclass(frozen=True, slots=True)
class SymbolRow:
    """One symbol's summary: last price (None before a tick), tick time, counts."""

    symbol: str
    price: float | None
    last_tick_ts: float | None
    ticks: int
    trades: int


def state_copy(state: TelemetryState, openmetrics: bool, now: float) -> StateCopy:
    with state.lock:
        overflow = dict(state.series_overflow)
        overflow["producer"] = state.producers.overflowed
        return StateCopy(
            tables=StateTables(state.core),  # one core copy: no Python object per trade or symbol row
            last_trade_ts=state.last_trade_ts,
            received=list(state.received.items()),
            invalid=list(state.invalid.items()),
            duplicates=state.duplicates,
            ack_mismatches=state.ack_mismatches,
            overflow=overflow,
            # One core read per producer (astuple), not one per field.
            producers=[(name, t[0], t[2], t[4]) for name, s in state.producers.stats.items()
                       for t in (s.astuple(),)],
            latency_text=state.latency.core.write_text(openmetrics, now),
            offsets=state.clock_offsets.estimates(now),
            batches=state.batches,
        )


def native_hops(state: TelemetryState) -> dict[NativeKey, tuple[int, dict[int, int]]]:
    """The hop-latency histograms' native buckets, by their label set."""
    native: dict[NativeKey, tuple[int, dict[int, int]]] = {}
    with state.lock:
        for hop in HOPS:
            for kind in MESSAGE_TYPES:
                if not state.latency.histogram(hop, kind).count:
                    continue
                native[("clock", HOP_CLOCKS[hop, kind]), ("hop", hop), ("type", kind)] = state.latency.native(hop,
                                                                                                            kind)
    return native


def offset_details(state: TelemetryState, now: float) -> dict[str, tuple[float, Method, float | None]]:
    """Each producer's clock-offset estimate: (offset, method, error bound)."""
    with state.lock:
        return state.clock_offsets.details(now)


def recent_events(state: TelemetryState, wanted: EventFilter, limit: int) -> list[Event]:
    """The newest matching events, newest first (GET /events)."""
    from .events_query import select

    with state.lock:
        return select(state.recent(state.settings.events_buffer), wanted, limit)


def snapshot_image(state: TelemetryState, switch: Callable[[], tuple[int, list[Cursor]]]) -> StateImage:
    """The state's image for a snapshot (snapshot.py), in one hold of ``state.lock``:
    first ``switch()`` (persistence.py: write what is pending and start the next
    journal generation; it returns that generation and the reliable cursors), then
    the copy. The image is therefore exactly what the journals before that
    generation hold; it is encoded and written outside the lock."""
    from .snapshot import capture

    with state.lock:
        generation, cursors = switch()
        return capture(state, generation, cursors)


# -- symbols --------------------------------------------------------------------
def _known(state: TelemetryState, symbol: str) -> bool:
    return symbol in state.symbols and symbol != OVERFLOW_LABEL


def _row(state: TelemetryState, symbol: str) -> SymbolRow:
    s = state.symbols[symbol]
    trades = sum(int(state.trades.get((side, symbol), (0,))[0]) for side in ("buy", "sell"))
    return SymbolRow(symbol, s.last_price if s.last_ts else None, s.last_ts or None, sum(s.by_source.values()),
                     trades)


def known(state: TelemetryState, *symbols: str) -> tuple[bool, ...]:
    """Whether each symbol has series of its own (not one counted under __overflow__)."""
    with state.lock:
        return tuple(_known(state, symbol) for symbol in symbols)


def symbol_rows(state: TelemetryState) -> list[SymbolRow]:
    """Every symbol with series of its own, sorted (GET /symbols)."""
    with state.lock:
        rows = [_row(state, name) for name in state.symbols if name != OVERFLOW_LABEL]
    return sorted(rows, key=lambda r: r.symbol)


def symbol_with_analytics(state: TelemetryState, name: str) -> tuple[SymbolRow, SymbolSnapshot | None] | None:
    """One symbol's row and its analytics snapshot (None: unknown symbol)."""
    engine = state.analytics
    with state.lock:
        if not _known(state, name):
            return None
        return _row(state, name), (engine.symbol_snapshot(name) if engine is not None else None)


def side_snapshots(state: TelemetryState) -> list[SideSnapshot]:
    engine = state.analytics
    assert engine is not None
    with state.lock:
        return engine.side_snapshots()


def history(state: TelemetryState, name: str, limit: int) -> tuple[bool, FloatArray | None]:
    """(known, the newest ``limit`` ticks as rows of ts, price, volume; None: no ticks)."""
    engine = state.analytics
    assert engine is not None
    with state.lock:
        return _known(state, name), engine.history(name, limit)


def bars(state: TelemetryState, name: str, span: int, limit: int) -> tuple[bool, list[Bar] | None]:
    """(known, the newest ``limit`` bars of ``span`` seconds; None: no ticks)."""
    engine = state.analytics
    assert engine is not None
    with state.lock:
        return _known(state, name), engine.bars(name, span, limit)


# -- analytics ------------------------------------------------------------------
StreamCounts = tuple[int, list[tuple[str, int]], list[tuple[str, int]]]  # clients, dropped, sent


def analytics_columns(state: TelemetryState) -> ColumnsCopy:
    """Every symbol's analytics inputs, one copy out of the core (analytics/table.py)."""
    engine = state.analytics
    assert engine is not None
    with state.lock:
        return analytics_columns_locked(state)


def analytics_scrape(state: TelemetryState) -> tuple[list[SideSnapshot], StreamCounts, ColumnsCopy]:
    """What the analytics families need, at one instant: the side windows, the
    stream's counts and every symbol's inputs."""
    engine = state.analytics
    assert engine is not None
    with state.lock:
        sides = engine.side_snapshots()
        hub = engine.stream
        counts = (len(hub.clients), list(hub.dropped.items()), list(hub.sent.items()))
        return sides, counts, analytics_columns_locked(state)


def analytics_columns_locked(state: TelemetryState) -> ColumnsCopy:
    engine = state.analytics
    assert engine is not None
    engine.absorb()
    return engine.core.columns(engine.sma_ticks)
