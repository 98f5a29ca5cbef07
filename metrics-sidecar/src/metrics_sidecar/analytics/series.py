"""One symbol's market data, updated once per in-order tick in O(1): last price,
a bounded history ring (which also serves the SMA and tick volatility over the
last N ticks) and the current second's window row. Everything coarser than a
second (the window rows of finished seconds, the OHLC bars, the session sums)
moves once per second the symbol ticks in, not once per tick, so a busy symbol
pays per tick only the history write and a handful of float updates.

Memory follows use: a window row exists only for a second that had ticks (rows
are appended in time order, since ticks are in order per symbol) and rows older
than the longest window are dropped, so a symbol that ticked in three seconds
holds three rows, and one ticking every second at most ``span + 1``."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

import numpy as np

from .ohlc import Bar, OhlcBook
from .rings import FloatArray, FloatRing
from .windows import TICK_WIDTH

SESSION_SECONDS = 86400  # the session is the UTC day (the D1 bar)
_COMPACT_FROM = 64 * TICK_WIDTH  # dropped values kept before the array is compacted (amortized O(1))


class TickSeries:
    __slots__ = ("book", "current", "current_end", "first_ts", "folded_price", "history", "index", "last_price",
                 "last_ts", "rows", "session", "span", "start")

    def __init__(self, span: int, history: int, bars: int, index: int = 0) -> None:
        self.span = span
        # The engine's id for this series in its pending-tick batch: a float, since it is
        # appended to an array('d') per tick, where an int costs a conversion (~18 ns).
        self.index = float(index)
        # Finished seconds' window rows (TICK_WIDTH floats each, oldest first from ``start``),
        # and the current second's row as a list: list items are cheaper to update than
        # array items (no float boxing), so a tick writes the list, and the row is appended
        # to ``rows`` when its second is over.
        self.rows = array("d")
        self.start = 0  # values before it left every window
        self.current: list[float] = []
        self.current_end = -math.inf
        self.history = FloatRing(3, history)  # (ts, price, volume)
        self.book = OhlcBook(bars)
        # Session (UTC day) start, volume and turnover of the finished seconds.
        self.session = [-1.0, 0.0, 0.0]
        # The newest tick's time, pending ones included (the engine's order check reads it),
        # its price once folded, and the last price the rows and history hold (the base of
        # the next log return; equal to last_price but set only by add/fold).
        self.last_price = 0.0
        self.last_ts = -math.inf
        self.folded_price = 0.0
        self.first_ts = -math.inf  # the first tick has no log return

    def add(self, ts: float, price: float, volume: float) -> None:
        """One tick no older than the previous one (the caller drops out-of-order ticks),
        applied at once (``fold`` does the same for a batch)."""
        prev = self.folded_price
        self.folded_price = self.last_price = price
        self.last_ts = ts
        # FloatRing.append3, inlined (the per-tick hot path): growing, ``head`` is the
        # array's end; once full (or preallocated) it is the oldest row, overwritten.
        history = self.history
        data = history.data
        head = history.head
        if head < len(data):
            data[head] = ts
            data[head + 1] = price
            data[head + 2] = volume
        else:
            data.append(ts)
            data.append(price)
            data.append(volume)
        head += 3
        history.head = 0 if head == history.limit else head
        if history.size < history.capacity:
            history.size += 1
        row = self.current
        if ts >= self.current_end:
            row = self._next_second(ts, price, prev)
        row[1] += 1.0
        row[2] += volume
        row[3] += price * volume
        high = row[7]
        if price > high:
            row[7] = price
        else:
            drawdown = 1.0 - price / high
            if drawdown > row[9]:
                row[9] = drawdown
            if price < row[8]:
                row[8] = price
        if prev > 0.0:
            r = math.log(price / prev)
            row[5] += r
            row[6] += r * r
        else:
            self.first_ts = ts

    def _next_second(self, ts: float, price: float, close: float) -> list[float]:
        """Finish the current second (``close``: its last price) and start the one of ``ts``."""
        if self.current:
            self.finish(self.current, close)
        second = int(ts)
        # Column 4 (unused by the windows) holds the second's open, for its bar.
        self.current = row = [float(second), 0.0, 0.0, 0.0, price, 0.0, 0.0, price, price, 0.0]
        self.current_end = second + 1.0
        self.evict(second)
        return row

    def finish_rows(self, packed: bytes, rows: list[list[float]], closes: list[float]) -> None:
        """``finish`` for consecutive finished seconds (rows in time order; ``packed``: the
        same rows as float64 bytes)."""
        self.rows.frombytes(packed)
        for row, close in zip(rows, closes, strict=True):
            self._fold_up(row, close)

    def finish(self, row: list[float], close: float) -> None:
        """Append a finished second's row, fold it into the bars and the session."""
        self.rows.extend(row)
        self._fold_up(row, close)

    def _fold_up(self, row: list[float], close: float) -> None:
        """A finished second into the bars and the session sums."""
        second = row[0]
        self.book.add_bar(second, row[4], row[7], row[8], close, row[2], row[1], row[3])
        session = self.session
        day = second - second % SESSION_SECONDS
        if session[0] != day:
            session[0], session[1], session[2] = day, row[2], row[3]
        else:
            session[1] += row[2]
            session[2] += row[3]

    def evict(self, second: int) -> None:
        """Drop rows no window read at ``second`` or later can hold (amortized O(1))."""
        rows, start = self.rows, self.start
        oldest = second - self.span
        while start < len(rows) and rows[start] <= oldest:
            start += TICK_WIDTH
        if start >= _COMPACT_FROM and 2 * start >= len(rows):
            del rows[:start]
            start = 0
        self.start = start

    def tail_bar(self) -> Bar | None:
        """The second in progress as a bar (the book has not seen it yet)."""
        row = self.current
        if not row:
            return None
        return [row[0], row[4], row[7], row[8], self.last_price, row[2], row[1], row[3]]

    def session_totals(self) -> tuple[float, float, float]:
        """(day start, volume, turnover) of the newest tick's UTC day, the current second
        included; day -1 before any tick."""
        row = self.current
        if not row:
            return -1.0, 0.0, 0.0
        day = row[0] - row[0] % SESSION_SECONDS
        session = self.session
        if session[0] == day:
            return day, session[1] + row[2], session[2] + row[3]
        return day, row[2], row[3]

    def window_rows(self) -> array[float]:
        """A copy of the live window rows (flat), the second in progress last."""
        out = self.rows[self.start:]
        out.extend(self.current)
        return out

    def table_copy(self, recent: int) -> tuple[tuple[float, ...], array[float], array[float]]:
        """What ``table`` reads, copied under ``state.lock`` in one call: (last price, last
        tick time, first tick time, session day, volume, turnover), the window rows (flat)
        and the newest ``recent`` history rows (flat)."""
        return ((self.last_price, self.last_ts, self.first_ts, *self.session_totals()), self.window_rows(),
                self.history.last_flat(recent))

    def bars(self, span: int, limit: int) -> list[Bar]:
        return self.book.bars(span, limit, self.tail_bar())

    def snapshot(self, recent: int) -> SeriesSnapshot:
        """Copies of what the readers need (call under ``state.lock``; cheap memcpy)."""
        return SeriesSnapshot(
            last_price=self.last_price, last_ts=self.last_ts, first_ts=self.first_ts,
            recent=self.history.last(recent)[:, 1], buckets=as_rows(self.window_rows()),
            session=self.session_totals())


def as_rows(flat: array[float]) -> FloatArray:
    return np.frombuffer(flat, dtype=np.float64).reshape(-1, TICK_WIDTH)


@dataclass(frozen=True, slots=True)
class SeriesSnapshot:
    last_price: float
    last_ts: float
    first_ts: float
    recent: FloatArray  # the last N prices, oldest first
    buckets: FloatArray  # window rows of the seconds with ticks, oldest first
    session: tuple[float, float, float]  # (day start, volume, turnover) of the newest tick's day
