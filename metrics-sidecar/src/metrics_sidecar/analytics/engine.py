"""The write side of the analytics: ``TelemetryState.apply`` calls ``on_trade`` /
``on_tick`` once per applied event, with ``state.lock`` held. Each call is a few
dict lookups and float updates (O(1), no numpy, no allocation beyond a bar per
minute); the ``*_snapshot``/``history``/``bars`` readers copy under the same lock
and ``views`` computes outside it."""

from __future__ import annotations

from collections.abc import Container, Mapping
from operator import attrgetter
from typing import Protocol

import numpy as np

from ..decode import Tick, Trade
from ..settings import Settings
from .ohlc import Bar
from .positions import Position
from .rings import FloatArray
from .series import TickSeries
from .stream import StreamHub
from .views import PositionSnapshot, SideSnapshot, SymbolSnapshot
from .windows import TradeWindow

SIDES = ("buy", "sell")
FLUSH_TRADES = 1024  # trades batched before the side windows are updated (or sooner, on read)
VECTORIZE_FROM = 32  # smaller batches are cheaper in plain Python than through numpy
_recv_ts = attrgetter("recv_ts")
_qty = attrgetter("qty")


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
        self.sides = {side: TradeWindow(self.span, self.half_life) for side in SIDES}
        self.series: dict[str, TickSeries] = {}
        self.positions: dict[str, Position] = {}
        self._pending: dict[str, list[Trade]] = {side: [] for side in SIDES}
        self.stream = StreamHub(settings.sse_queue_size, settings.sse_max_clients)
        # The state's symbol table: a symbol past SIDECAR_MAX_SYMBOLS is not in it (it was
        # counted under __overflow__) and gets no analytics, so memory stays bounded. Read
        # through the owner each time: a restore may replace the dict.
        self._table = table

    # -- write side (state.lock held) -------------------------------------------
    def on_trade(self, trade: Trade) -> None:
        # The side windows are order-free sums: batch them (flush_trades) instead of
        # paying Python per trade. Positions depend on order, so they move right here.
        pending = self._pending[trade.side]
        pending.append(trade)
        if len(pending) >= FLUSH_TRADES:
            self.flush_trades()
        symbol = trade.symbol
        if symbol is not None:
            position = self.positions.get(symbol)
            if position is None:
                if symbol not in self._table.symbols:
                    return  # over SIDECAR_MAX_SYMBOLS
                position = self.positions[symbol] = Position()
            price = trade.price
            if price is None:
                series = self.series.get(symbol)
                if series is None:
                    position.unpriced += 1
                    price = 0.0
                else:
                    price = series.last_price
            qty = trade.qty
            if price and qty:
                position.apply(qty if trade.side == "buy" else -qty, price)
        if self.stream.clients:
            self.stream.publish_trade(trade)

    def flush_trades(self) -> None:
        """Apply the batched trades to the side windows (readers call this first)."""
        for side, pending in self._pending.items():
            if not pending:
                continue
            self._pending[side] = []
            window = self.sides[side]
            if len(pending) < VECTORIZE_FROM:
                for trade in pending:
                    window.add(trade.recv_ts, trade.qty)
            else:
                window.add_many(np.array(list(map(_recv_ts, pending)), dtype=np.float64),
                                np.array(list(map(_qty, pending)), dtype=np.float64))

    def on_tick(self, tick: Tick) -> None:
        symbol = tick.symbol
        series = self.series.get(symbol)
        if series is None:
            if symbol not in self._table.symbols:
                return
            series = self.series[symbol] = TickSeries(self.span, self.history_size, self.bar_capacity)
        ts = tick.ts_s
        if ts < series.last_ts:
            return  # out of order: counted by the state, never rewinds the analytics
        series.add(ts, tick.price, tick.volume)
        if self.stream.clients:
            self.stream.publish_tick(tick)

    # -- read side: copies, under state.lock ---------------------------------------
    def symbols(self) -> list[str]:
        return sorted(self.series.keys() | self.positions.keys())

    def symbol_snapshot(self, symbol: str) -> SymbolSnapshot | None:
        series = self.series.get(symbol)
        position = self.positions.get(symbol)
        if series is None and position is None:
            return None
        return SymbolSnapshot(
            symbol=symbol, series=series.snapshot(self.sma_ticks) if series is not None else None,
            position=None if position is None else PositionSnapshot(
                qty=position.qty, avg_cost=position.avg_cost, realized=position.realized,
                trades=sum(int(self._table.trades.get((side, symbol), (0,))[0]) for side in SIDES),
                unpriced=position.unpriced))

    def side_snapshots(self) -> list[SideSnapshot]:
        self.flush_trades()
        out = []
        for side, window in self.sides.items():
            buckets, last_t, ew, ew_t = window.copy()
            out.append(SideSnapshot(side=side, buckets=buckets, last_t=last_t, ew=ew, ew_t=ew_t))
        return out

    def history(self, symbol: str, limit: int) -> FloatArray | None:
        """The newest ``limit`` ticks (ts, price, volume), oldest first; None: no ticks."""
        series = self.series.get(symbol)
        return None if series is None else series.history.last(limit)

    def bars(self, symbol: str, span: int, limit: int) -> list[Bar] | None:
        series = self.series.get(symbol)
        return None if series is None else series.book.bars(span, limit)
