"""The write side of the analytics: ``TelemetryState.apply`` appends each applied
trade and tick to ``inbox`` (one list append per event), and ``absorb`` takes them in,
in order, once per drained batch, with ``state.lock`` held. Per event that is a few
``array('d')`` appends and float updates in plain Python (O(1); no numpy per event): a
tick goes to the pending ticks (``fold.py`` folds them into their series, across
symbols, in one numpy step per ``FOLD_TICKS`` or per read), a trade's time and signed
qty to the side windows' batch (one numpy step per ``FLUSH_TRADES`` or per read), and
its position moves at once. Readers (``*_snapshot``/``history``/``bars``, ``table``)
absorb, fold and flush first, copy under the same lock, and compute outside it:
amortized O(1) per event, and every applied event is seen."""

from __future__ import annotations

import math
from array import array
from collections.abc import Container, Mapping
from typing import Protocol

import numpy as np

from ..decode import Tick, Trade
from ..settings import Settings
from .fold import fold
from .ohlc import Bar
from .positions import _FLAT, Position
from .rings import FloatArray
from .series import TickSeries
from .stream import StreamClient, StreamHub
from .views import PositionSnapshot, SideSnapshot, SymbolSnapshot
from .windows import TradeWindow

SIDES = ("buy", "sell")
FLUSH_TRADES = 8192  # trades batched before the side windows are updated (or sooner, on read)
VECTORIZE_FROM = 32  # smaller batches are cheaper in plain Python than through numpy
FOLD_TICKS = 4096  # pending ticks folded at once (or sooner, on read) ...
# ... or more with many symbols, so a fold gives each several: the Python part of a fold
# is per series (measured at 1,000 symbols: 0.12 us an event at 16, 0.05 at 64).
FOLD_TICKS_PER_SERIES = 64
MAX_FOLD_TICKS = 65536  # 2 MB of pending doubles at most


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
        self._by_index: list[TickSeries] = []  # series by TickSeries.index
        # Pending ticks, flat: (series index, ts, price, volume) each; see fold.py. An
        # array('d') holds raw doubles: no float object stays alive per value (which, by the
        # thousand, costs cache misses and allocator work), and numpy copies it in one memcpy.
        self._ticks = array("d")
        self._fold_at = 4 * FOLD_TICKS
        self.positions: dict[str, Position] = {}
        # Receive time and signed qty (< 0, or -0.0: a sell) of the trades not yet in the
        # side windows. Raw doubles, not the events (up to FLUSH_TRADES of them would stay
        # alive until the flush) nor float objects (array('d'), as for the ticks: measured
        # -0.3 us a trade in the ingest loop against a list of floats).
        self._times = array("d")
        self._signed_qty = array("d")
        # The stream's clients, mirrored here so an event checks one attribute.
        self.clients: tuple[StreamClient, ...] = ()
        self.stream = StreamHub(settings.sse_queue_size, settings.sse_max_clients, on_change=self._set_clients)
        # The state's symbol table: a symbol past SIDECAR_MAX_SYMBOLS is not in it (it was
        # counted under __overflow__) and gets no analytics, so memory stays bounded. Read
        # through the owner each time: a restore may replace the dict.
        self._table = table
        # Applied trades and ticks, in order, waiting for ``absorb`` (TelemetryState.apply
        # appends; events are gc=False structs, so holding a batch of them costs no GC work).
        self.inbox: list[Trade | Tick] = []

    def _set_clients(self, clients: tuple[StreamClient, ...]) -> None:
        self.clients = clients

    # -- write side (state.lock held) -------------------------------------------
    def absorb(self) -> None:
        """Take in the applied trades and ticks ``TelemetryState.apply`` queued in
        ``inbox``, in order. The ingest loops call this once per drained batch;
        readers (through ``fold_ticks``/``flush_trades``) before they read.

        The hot path of the ingest benchmark, so one loop with everything in locals
        rather than a method call per event (that call and its attribute lookups cost
        more than the work): per trade, two appends for the side windows (order-free
        sums, vectorized in ``_flush``) and the position update (it depends on order
        and on the last tick price, so it runs right here); per tick, the order check
        and four appends (folded across symbols in ``_fold``)."""
        inbox = self.inbox
        if not inbox:
            return
        times_append = self._times.append
        signed_append = self._signed_qty.append
        ticks_append = self._ticks.append
        positions = self.positions
        series_of = self.series
        clients = self.clients
        for event in inbox:
            if type(event) is Trade:
                qty = event.qty
                signed = qty if event.side == "buy" else -qty  # a zero-qty sell is -0.0: its sign says "sell"
                times_append(event.recv_ts)
                signed_append(signed)
                symbol = event.symbol
                if symbol is not None:
                    position = positions.get(symbol) or self._new_position(symbol)
                    if position is not None:
                        price = event.price
                        if price is None:
                            price = self._last_tick_price(symbol, position)
                        if price and qty:
                            # Position.add / Position.reduce, inlined with fewer branches (keep in step).
                            held = position.qty
                            new = held + signed
                            if held * signed >= 0.0:  # opening or adding
                                position.avg_cost = (held * position.avg_cost + signed * price) / new
                                position.qty = new
                            else:  # reducing, closing or flipping
                                if held * held < signed * signed:  # |held| < |signed|: closed and flipped
                                    position.realized += held * (price - position.avg_cost)
                                    tolerance = _FLAT * qty
                                    position.avg_cost = price  # the rest opened at this price (0 below if flat)
                                else:
                                    position.realized -= signed * (price - position.avg_cost)
                                    tolerance = _FLAT * (held if held > 0.0 else -held)
                                if -tolerance <= new <= tolerance:
                                    new = position.avg_cost = 0.0  # flat (float noise such as 0.1 + 0.2 - 0.3)
                                position.qty = new
                if clients:
                    self.stream.publish_trade(event)
            elif type(event) is Tick:
                series = series_of.get(event.symbol) or self._new_series(event.symbol)
                if series is None:
                    continue  # over SIDECAR_MAX_SYMBOLS
                ts = event.ts_s
                if ts < series.last_ts:
                    continue  # out of order: counted by the state, never rewinds the analytics
                series.last_ts = ts
                ticks_append(series.index)
                ticks_append(ts)
                ticks_append(event.price)
                ticks_append(event.volume)
                if clients:
                    self.stream.publish_tick(event)
        del inbox[:]
        if len(self._times) >= FLUSH_TRADES:
            self._flush()
        if len(self._ticks) >= self._fold_at:
            self._fold()

    def _last_tick_price(self, symbol: str, position: Position) -> float:
        """What a trade without a price fills at; 0.0 (no PnL effect, counted) before any tick."""
        series = self.series.get(symbol)
        if series is None:
            position.unpriced += 1
            return 0.0
        self._fold()  # the last price moves at the fold (rare path: trades carry a price)
        return series.last_price

    def _new_position(self, symbol: str) -> Position | None:
        if symbol not in self._table.symbols:
            return None  # over SIDECAR_MAX_SYMBOLS (counted under __overflow__): no position
        position = self.positions[symbol] = Position()
        return position

    def _new_series(self, symbol: str) -> TickSeries | None:
        if symbol not in self._table.symbols:
            return None  # over SIDECAR_MAX_SYMBOLS (counted under __overflow__): no analytics
        series = self.series[symbol] = TickSeries(self.span, self.history_size, self.bar_capacity,
                                                  len(self._by_index))
        self._by_index.append(series)
        # Batches grow with the symbols so each series gets several ticks per fold.
        self._fold_at = 4 * min(MAX_FOLD_TICKS, max(FOLD_TICKS, FOLD_TICKS_PER_SERIES * len(self._by_index)))
        return series

    def flush_trades(self) -> None:
        """Everything applied so far into the side windows (readers call this first)."""
        self.absorb()
        self._flush()

    def fold_ticks(self) -> None:
        """Everything applied so far into the tick series (readers call this first)."""
        self.absorb()
        self._fold()

    def _flush(self) -> None:
        times, signed = self._times, self._signed_qty
        if not times:
            return
        n = len(times)
        if n < VECTORIZE_FROM:
            buys, sells = self.sides["buy"], self.sides["sell"]
            for t, q in zip(times, signed, strict=True):
                if math.copysign(1.0, q) > 0.0:
                    buys.add(t, q)
                else:
                    sells.add(t, -q)
        else:
            # array('d') to numpy is a memcpy (the buffer protocol).
            t_all = np.array(times, dtype=np.float64)
            q_all = np.array(signed, dtype=np.float64)
            sell = np.signbit(q_all)
            for side, mask in (("buy", ~sell), ("sell", sell)):
                if mask.any():
                    self.sides[side].add_many(t_all[mask], np.abs(q_all[mask]))
        del times[:]
        del signed[:]

    def _fold(self) -> None:
        if self._ticks:
            fold(self._by_index, self._ticks)
            del self._ticks[:]

    def pending_ticks(self) -> int:
        """Ticks absorbed but not yet folded into their series."""
        return len(self._ticks) // 4

    # -- read side: copies, under state.lock ---------------------------------------
    def symbols(self) -> list[str]:
        self.absorb()
        return sorted(self.series.keys() | self.positions.keys())

    def symbol_snapshot(self, symbol: str) -> SymbolSnapshot | None:
        self.fold_ticks()
        series = self.series.get(symbol)
        position = self.positions.get(symbol)
        if series is None and position is None:
            return None
        return SymbolSnapshot(
            symbol=symbol, series=series.snapshot(self.sma_ticks) if series is not None else None,
            position=None if position is None else PositionSnapshot(
                qty=position.qty, avg_cost=position.avg_cost, realized=position.realized,
                trades=self._trades_of(symbol),
                unpriced=position.unpriced))

    def _trades_of(self, symbol: str) -> int:
        trades = self._table.trades
        buys, sells = trades.get(("buy", symbol)), trades.get(("sell", symbol))
        return int((buys[0] if buys else 0) + (sells[0] if sells else 0))

    def side_snapshots(self) -> list[SideSnapshot]:
        self.flush_trades()
        out = []
        for side, window in self.sides.items():
            buckets, last_t, ew, ew_t = window.copy()
            out.append(SideSnapshot(side=side, buckets=buckets, last_t=last_t, ew=ew, ew_t=ew_t))
        return out

    def history(self, symbol: str, limit: int) -> FloatArray | None:
        """The newest ``limit`` ticks (ts, price, volume), oldest first; None: no ticks."""
        self.fold_ticks()
        series = self.series.get(symbol)
        return None if series is None else series.history.last(limit)

    def bars(self, symbol: str, span: int, limit: int) -> list[Bar] | None:
        self.fold_ticks()
        series = self.series.get(symbol)
        return None if series is None else series.bars(span, limit)
