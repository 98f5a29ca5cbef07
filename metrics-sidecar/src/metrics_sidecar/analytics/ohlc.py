"""OHLC bars on six timeframes, aligned to UTC boundaries (epoch multiples of the
timeframe: POSIX time has no leap seconds, so these are UTC minutes, hours, days).

The owning series folds each finished second into the active one-minute bar
(``add_bar``; ``add`` is the same for one tick), and readers pass the second in
progress as ``tail``, so the book costs nothing per tick. When a minute ends, its bar is
folded into the five-minute bar being built, and so on up the ladder (each
timeframe divides the next), so a tick costs one bar update whatever the number of
timeframes. A bar is "closed" once wall time passes its end: readers decide that
lazily, so a bar closes at its boundary even when no later tick arrives.

Bars are rows ``(start, open, high, low, close, volume, ticks, turnover)``
(turnover = sum of price * volume, so a bar's VWAP is turnover / volume, and the
daily bar's is the session VWAP); minutes without ticks produce no bar (nothing
is forward-filled).
"""

from __future__ import annotations

import math

from .rings import FloatRing

TIMEFRAMES: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}
# The trading-platform spellings (M1 ... D1) name the same timeframes.
ALIASES: dict[str, str] = {"M1": "1m", "M5": "5m", "M15": "15m", "H1": "1h", "H4": "4h", "D1": "1d"}
SPANS: tuple[int, ...] = tuple(TIMEFRAMES.values())
BAR_WIDTH = 8

Bar = list[float]


def _merge(into: Bar, bar: Bar) -> None:
    """Append ``bar`` (later in time) to ``into``: the open stays, the close moves."""
    if bar[2] > into[2]:
        into[2] = bar[2]
    if bar[3] < into[3]:
        into[3] = bar[3]
    into[4] = bar[4]
    into[5] += bar[5]
    into[6] += bar[6]
    into[7] += bar[7]


class OhlcBook:
    """One symbol's bars: closed bars in a ring per timeframe, plus the bars still
    being built (the active minute and, per higher timeframe, the fold of its
    closed lower bars)."""

    __slots__ = ("closed", "m1", "m1_end", "partial")

    def __init__(self, capacity: int) -> None:
        self.closed = [FloatRing(BAR_WIDTH, capacity) for _ in SPANS]
        self.m1: Bar = []  # the active one-minute bar ([] before the first tick)
        self.m1_end = -math.inf
        self.partial: list[Bar | None] = [None] * len(SPANS)  # index 0 unused

    def add(self, ts: float, price: float, volume: float) -> None:
        """One in-order tick (``ts`` never below the previous one)."""
        self.add_bar(ts, price, price, price, price, volume, 1.0, price * volume)

    def add_bar(self, ts: float, open_: float, high: float, low: float, close: float, volume: float,
                ticks: float, turnover: float) -> None:
        """In-order ticks (one, or one second's) starting at ``ts``, all inside one minute."""
        bar = self.m1
        if ts < self.m1_end:
            if high > bar[2]:
                bar[2] = high
            if low < bar[3]:
                bar[3] = low
            bar[4] = close
            bar[5] += volume
            bar[6] += ticks
            bar[7] += turnover
            return
        if bar:
            self._close(0, bar)
        start = ts - ts % 60.0  # exact: fmod is exact and the multiple of 60 is representable
        self.m1 = [start, open_, high, low, close, volume, ticks, turnover]
        self.m1_end = start + 60.0

    def _close(self, level: int, bar: Bar) -> None:
        self.closed[level].append(tuple(bar))
        up = level + 1
        if up == len(SPANS):
            return
        start = bar[0] - bar[0] % SPANS[up]
        building = self.partial[up]
        if building is not None and building[0] != start:
            self._close(up, building)
            building = None
        if building is None:
            self.partial[up] = [start, *bar[1:]]
        else:
            _merge(building, bar)

    def _pending(self, level: int, tail: Bar | None) -> list[Bar]:
        """Bars of this timeframe not in ``closed`` yet, oldest first (at most a few).
        ``tail``: ticks not folded into the book yet (the series' second in progress)."""
        if level == 0:
            out = [list(self.m1)] if self.m1 else []
            if tail is not None:
                if out and tail[0] < self.m1_end:
                    _merge(out[-1], tail)
                else:
                    out.append([tail[0] - tail[0] % 60.0, *tail[1:]])
            return out
        building = self.partial[level]
        out = [list(building)] if building is not None else []
        span = SPANS[level]
        for bar in self._pending(level - 1, tail):
            start = bar[0] - bar[0] % span
            if out and out[-1][0] == start:
                _merge(out[-1], bar)
            else:
                out.append([start, *bar[1:]])
        return out

    def current(self, span: int, tail: Bar | None = None) -> Bar | None:
        """The newest bar of a timeframe (a copy), closed or not; None before any tick."""
        pending = self._pending(SPANS.index(span), tail)
        return pending[-1] if pending else None

    def bars(self, span: int, count: int, tail: Bar | None = None) -> list[Bar]:
        """The newest ``count`` bars of the timeframe ``span`` seconds, oldest first."""
        level = SPANS.index(span)
        pending = self._pending(level, tail)
        older = max(0, count - len(pending))
        rows: list[Bar] = self.closed[level].last(older).tolist() if older else []
        # A finished bar still in ``pending`` would already have pushed the oldest out of a
        # full ring: at most ``capacity`` closed bars plus the one being built.
        keep = min(count, self.closed[level].capacity + 1)
        return (rows + pending)[-keep:] if keep > 0 else []
