"""The analytics as the state sees them: the state's batch ingest (``StateCore.ingest``,
``core/src/py_ingest.rs``) feeds each applied trade and tick to ``core`` in Rust, no event
object; with stream clients it also queues what they get in ``outbox``.
``TelemetryState.apply`` (one event at a time) appends to ``inbox`` instead, and ``absorb``
hands that list to the compiled core in one call and publishes ``outbox``, with
``state.lock`` held (``core/src/analytics*.rs``:
side windows, positions, tick history, window rows, OHLC bars, session sums; no Python
per event). Readers (``*_snapshot``/``history``/``bars``, ``table``) absorb first, copy
from the core under the same lock (flat float64 bytes numpy wraps without another copy)
and compute outside it."""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Protocol

import numpy as np

from .. import _core
from ..decode import Tick, Trade
from ..settings import Settings
from .ohlc import Bar
from .rings import FloatArray
from .series import SeriesSnapshot, as_rows
from .stream import StreamClient, StreamHub
from .views import PositionSnapshot, SideSnapshot, SymbolSnapshot
from .windows import TRADE_WIDTH

SIDES = ("buy", "sell")


class SymbolTable(Protocol):
    """What the engine reads from its owner (``TelemetryState``)."""

    @property
    def symbols(self) -> Container[str]:
        """Symbols that became series (not the ones counted under __overflow__)."""

    @property
    def trades(self) -> Mapping[tuple[str, str], list[float]]:
        """[count, volume] per (side, symbol)."""


class AnalyticsEngine:
    def __init__(self, settings: Settings, table: SymbolTable) -> None:
        self.windows: tuple[int, ...] = tuple(sorted({settings.analytics_short_window_seconds,
                                                      settings.analytics_long_window_seconds}))
        self.span = self.windows[-1]
        self.half_life = settings.analytics_ew_half_life_seconds
        self.sma_ticks = settings.analytics_sma_ticks
        # The SMA and tick volatility read the last N ticks from the history ring.
        self.history_size = max(settings.analytics_history_size, self.sma_ticks)
        self.bar_capacity = settings.analytics_ohlc_bars
        self.core = _core.Analytics(span=self.span, history=self.history_size, bars=self.bar_capacity,
                                    half_life=self.half_life, trade=Trade, tick=Tick)
        # The stream's clients, mirrored here so a batch checks one attribute.
        self.clients: tuple[StreamClient, ...] = ()
        self.stream = StreamHub(settings.sse_queue_size, settings.sse_max_clients, on_change=self._set_clients)
        # The state's symbol table: a symbol past SIDECAR_MAX_SYMBOLS is not in it (it was
        # counted under __overflow__) and gets no analytics, so memory stays bounded. Read
        # through the owner each time: a restore may replace the dict.
        self._table = table
        # Applied trades and ticks, in order, waiting for ``absorb`` (TelemetryState.apply
        # appends; events are gc=False structs, so holding a batch of them costs no GC work).
        self.inbox: list[Trade | Tick] = []
        # What the stream's clients get from the batch ingest (every trade, and the ticks that
        # moved the analytics), filled only while there are clients; published by ``absorb``.
        self.outbox: list[Trade | Tick] = []

    def _set_clients(self, clients: tuple[StreamClient, ...]) -> None:
        self.clients = clients

    # -- write side (state.lock held) -------------------------------------------
    def absorb(self) -> None:
        """Publish what the batch ingest queued for the stream in ``outbox``, then take
        in the applied trades and ticks ``TelemetryState.apply`` queued in ``inbox``,
        in order, in one core call. The ingest loops call this once per
        drained batch; readers before they read. With stream clients, the core hands
        back what they get (every trade, and the ticks that moved the analytics:
        admitted and in order), published here as one batch (``StreamHub.publish``)."""
        inbox, outbox = self.inbox, self.outbox
        if outbox:  # the batch ingest's, queued before anything in the inbox
            try:
                self._publish(outbox)
            finally:
                del outbox[:]
        if not inbox:
            return
        try:
            published = self.core.absorb(inbox, self._table.symbols, bool(self.clients))
        finally:
            del inbox[:]
        if published:
            self._publish(published)

    def _publish(self, events: list[Trade | Tick]) -> None:
        """To the stream's clients: trades and ticks, in order, as one batch (stream.py)."""
        self.stream.publish(events)

    # The names readers used when trades and ticks waited in Python stages of their own
    # (bench/breakdown_bench.py still calls them): the core has none, absorbing is all.
    flush_trades = fold_ticks = absorb

    # -- read side: copies, under state.lock ---------------------------------------
    def symbols(self) -> list[str]:
        self.absorb()
        return self.core.symbols()

    def symbol_snapshot(self, symbol: str) -> SymbolSnapshot | None:
        self.absorb()
        found = self.core.symbol(symbol, self.sma_ticks)
        if found is None:
            return None
        series, position = found
        return SymbolSnapshot(
            symbol=symbol,
            series=None if series is None else SeriesSnapshot(
                last_price=series[0], last_ts=series[1], first_ts=series[2],
                recent=np.frombuffer(series[3], dtype=np.float64), buckets=as_rows(series[4]),
                session=series[5]),
            position=None if position is None else PositionSnapshot(
                qty=position[0], avg_cost=position[1], realized=position[2], trades=self._trades_of(symbol),
                unpriced=position[3]))

    def _trades_of(self, symbol: str) -> int:
        trades = self._table.trades
        buys, sells = trades.get(("buy", symbol)), trades.get(("sell", symbol))
        return int((buys[0] if buys else 0) + (sells[0] if sells else 0))

    def side_snapshots(self) -> list[SideSnapshot]:
        self.absorb()
        out = []
        for side in SIDES:
            buckets, last_t, ew, ew_t = self.core.side(side == "buy")
            out.append(SideSnapshot(side=side, buckets=np.frombuffer(buckets, dtype=np.float64).reshape(
                -1, TRADE_WIDTH), last_t=last_t, ew=ew, ew_t=ew_t))
        return out

    def history(self, symbol: str, limit: int) -> FloatArray | None:
        """The newest ``limit`` ticks (ts, price, volume), oldest first; None: no ticks."""
        self.absorb()
        rows = self.core.history(symbol, limit)
        return None if rows is None else np.frombuffer(rows, dtype=np.float64).reshape(-1, 3)

    def bars(self, symbol: str, span: int, limit: int) -> list[Bar] | None:
        self.absorb()
        return self.core.bars(symbol, float(span), limit)
