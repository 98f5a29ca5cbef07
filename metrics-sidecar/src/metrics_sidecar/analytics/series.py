"""One symbol's market data, updated once per in-order tick in O(1): last price,
a bounded history ring (which also serves the SMA and tick volatility over the
last N ticks), per-second window buckets and the OHLC bars (whose daily bar
carries the session VWAP)."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

import numpy as np

from .ohlc import Bar, OhlcBook
from .rings import FloatArray, FloatRing
from .windows import EMPTY, TICK_WIDTH

SESSION_SECONDS = 86400  # the session is the UTC day (the D1 bar)


class TickSeries:
    __slots__ = ("book", "current", "current_end", "first_ts", "history", "last_price", "last_ts", "slots",
                 "span")

    def __init__(self, span: int, history: int, bars: int) -> None:
        self.span = span
        # The window ring (one row per second), and the current second's row as a list:
        # list items are cheaper to update than array items (no float boxing), so a tick
        # writes the list, and the row goes into the ring when its second is over.
        self.slots = array("d", [EMPTY, *[0.0] * (TICK_WIDTH - 1)] * span)
        self.current: list[float] = []
        self.current_end = -math.inf
        self.history = FloatRing(3, history)  # (ts, price, volume)
        self.book = OhlcBook(bars)
        self.last_price = 0.0
        self.last_ts = -math.inf
        self.first_ts = -math.inf  # the first tick has no log return

    def add(self, ts: float, price: float, volume: float) -> None:
        """One tick no older than the previous one (the caller drops out-of-order ticks)."""
        prev = self.last_price
        self.last_price = price
        self.last_ts = ts
        self.history.append3(ts, price, volume)
        self.book.add(ts, price, volume)
        row = self.current
        if ts >= self.current_end:
            row = self._next_second(ts, price)
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

    def _next_second(self, ts: float, price: float) -> list[float]:
        self._store()
        second = int(ts)
        self.current = row = [float(second), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, price, price, 0.0]
        self.current_end = second + 1.0
        return row

    def _store(self) -> None:
        """Write the current second's row into its ring slot."""
        row = self.current
        if row:
            i = (int(row[0]) % self.span) * TICK_WIDTH
            self.slots[i:i + TICK_WIDTH] = array("d", row)

    def snapshot(self, recent: int) -> SeriesSnapshot:
        """Copies of what the readers need (call under ``state.lock``; cheap memcpy)."""
        self._store()  # the copy includes the second in progress
        return SeriesSnapshot(
            last_price=self.last_price, last_ts=self.last_ts, first_ts=self.first_ts,
            recent=self.history.last(recent)[:, 1], buckets=_as_rows(self.slots),
            session=self.book.current(SESSION_SECONDS))


def _as_rows(slots: array[float]) -> FloatArray:
    return np.frombuffer(slots.tobytes(), dtype=np.float64).reshape(-1, TICK_WIDTH)


@dataclass(frozen=True, slots=True)
class SeriesSnapshot:
    last_price: float
    last_ts: float
    first_ts: float
    recent: FloatArray  # the last N prices, oldest first
    buckets: FloatArray
    session: Bar | None  # the newest daily bar
