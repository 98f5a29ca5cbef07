"""Rolling windows in one-second buckets.

The core keeps the buckets (``core/src/analytics_trades.rs``: per side, a ring of
``span`` buckets, ``span`` = the longest window in seconds; ``analytics_series.rs``:
per symbol, a row per second that had ticks); bucket ``b`` holds the sums of the
events whose time ``t`` has ``floor(t) == b``. An event costs one bucket update, memory
does not grow with the event rate, and a window of ``W`` seconds read at time ``now``
is the ``W`` buckets ``floor(now) - W < b <= floor(now)``: the current, partial second
included (so it covers between W-1 and W seconds). Readers copy the buckets from the
core under ``state.lock`` and reduce them with numpy here, outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .rings import FloatArray

NAN = math.nan
SECONDS_PER_YEAR = 365 * 24 * 3600  # markets in this system trade around the clock

# Trade buckets (per side): second, trades, qty, gaps, sum of gaps, sum of squared gaps.
TRADE_WIDTH = 6
# Tick buckets (per symbol): second, ticks, volume, sum(price*volume), open (for the
# bars; the windows do not read it: the return count is ticks minus the series'
# first tick), sum of log returns, sum of squared returns, high, low, max drawdown
# inside the bucket.
TICK_WIDTH = 10


def window_label(seconds: int) -> str:
    """60 -> "1m", 300 -> "5m", 3600 -> "1h", 90 -> "90s": the ``window`` label value."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class TradeWindowStats:
    trades: int
    volume: float
    gaps: int  # inter-arrival gaps ending inside the window
    burstiness: float | None  # coefficient of variation of those gaps (None: fewer than 2)


@dataclass(frozen=True, slots=True)
class TickWindowStats:
    ticks: int
    tick_rate: float  # ticks per second: ticks / window
    volume: float
    vwap: float | None  # None while the window has no volume
    returns: int  # log returns whose later tick is inside the window
    volatility: float | None  # std (ddof=1) of those log returns; None below 2 returns
    volatility_annualised: float | None  # volatility * sqrt(returns per year at the window's rate)
    max_drawdown: float | None  # max over i<=j of 1 - p_j / p_i, inside the window; None: no tick


def _in_window(buckets: FloatArray, now: float, window: int) -> FloatArray:
    """The buckets of the ``window`` seconds ending at ``now``, oldest first."""
    ids = buckets[:, 0]
    newest = math.floor(now)
    rows = buckets[(ids > newest - window) & (ids <= newest)]
    return rows[np.argsort(rows[:, 0], kind="stable")]


def sample_std(count: float, total: float, total_sq: float) -> float | None:
    """Standard deviation (ddof=1) from the count, sum and sum of squares."""
    if count < 2:
        return None
    var = (total_sq - total * total / count) / (count - 1)
    return math.sqrt(var) if var > 0.0 else 0.0


def trade_window_stats(buckets: FloatArray, now: float, window: int) -> TradeWindowStats:
    rows = _in_window(buckets, now, window)
    gaps = float(rows[:, 3].sum())
    burstiness = None
    std = sample_std(gaps, float(rows[:, 4].sum()), float(rows[:, 5].sum()))
    if std is not None:
        mean = float(rows[:, 4].sum()) / gaps
        burstiness = std / mean if mean > 0.0 else None
    return TradeWindowStats(trades=int(rows[:, 1].sum()), volume=float(rows[:, 2].sum()), gaps=int(gaps),
                            burstiness=burstiness)


def ew_volume(ew: float, ew_t: float, now: float, half_life: float) -> float:
    """The EW volume decayed from its last update to ``now``."""
    return ew * 2.0 ** (-(now - ew_t) / half_life) if now > ew_t else ew


def tick_window_stats(buckets: FloatArray, now: float, window: int, first_ts: float) -> TickWindowStats:
    """``first_ts``: time of the series' first tick, the one tick without a log return."""
    return tick_windows_stats(buckets, now, (window,), first_ts)[window]


def tick_windows_stats(buckets: FloatArray, now: float, windows: tuple[int, ...],
                       first_ts: float) -> dict[int, TickWindowStats]:
    """One symbol's windows: ``TickGrid`` (the scrape's computation for every symbol at
    once) over its rows alone, so both give the same numbers by construction."""
    grid = TickGrid(buckets, np.array([len(buckets)], dtype=np.intp))
    newest = np.array([math.floor(now)], dtype=np.float64)
    first = np.array([first_ts], dtype=np.float64)
    out = {}
    for window in windows:
        c = grid.window(newest, first, window)
        ticks, returns = int(c.ticks[0]), int(c.returns[0])
        out[window] = TickWindowStats(
            ticks=ticks, tick_rate=float(c.tick_rate[0]), volume=float(c.volume[0]), vwap=_defined(c.vwap[0]),
            returns=returns, volatility=_defined(c.volatility[0]),
            volatility_annualised=_defined(c.volatility_annualised[0]), max_drawdown=_defined(c.max_drawdown[0]))
    return out


def _defined(x: np.float64) -> float | None:
    return None if math.isnan(x) else float(x)


@dataclass(frozen=True, slots=True)
class WindowColumns:
    """One window's statistics for every symbol of a ``TickGrid`` (NaN: undefined)."""

    vwap: FloatArray
    volatility: FloatArray
    volatility_annualised: FloatArray
    max_drawdown: FloatArray
    tick_rate: FloatArray
    ticks: FloatArray
    volume: FloatArray
    returns: FloatArray


class TickGrid:
    """Symbols' window rows, stacked (for the sums) and in a (symbol, row position)
    grid padded after each symbol's newest row (for the drawdown's running high).
    ``rows``: every symbol's rows, symbol by symbol, oldest first; ``counts``: rows
    per symbol."""

    def __init__(self, rows: FloatArray, counts: npt.NDArray[np.intp]) -> None:
        s, depth = len(counts), int(counts.max()) if len(counts) else 0
        self.s = s
        self.seg = np.repeat(np.arange(s), counts)
        self.second = rows[:, 0]
        self.columns = [rows[:, c] for c in (1, 2, 3, 5, 6)]  # ticks, volume, turnover, sum r, sum r^2
        # Rows come symbol by symbol, oldest first: their grid cells, in increasing order.
        self.shape = (s, depth)
        self.cell = np.arange(len(rows)) + np.repeat(np.arange(s) * depth - (np.cumsum(counts) - counts), counts)
        self.high = self._grid(rows[:, 7], -np.inf)
        self.low = self._grid(rows[:, 8], np.inf)  # padding: 1 - inf / peak = -inf, never the max
        self.drawdown = self._grid(rows[:, 9], -np.inf)
        self.second_grid = self._grid(rows[:, 0], -np.inf)  # padding: never inside a window

    def _grid(self, values: FloatArray, pad: float) -> FloatArray:
        out = np.full(self.shape, pad)
        out.reshape(-1)[self.cell] = values
        return out

    def window(self, newest: FloatArray, first_ts: FloatArray, window: int) -> WindowColumns:
        """One window's statistics for every symbol, read at second ``newest`` (per symbol)."""
        oldest = newest - window
        inside = (self.second > oldest[self.seg]) & (self.second <= newest[self.seg])
        # bincount adds in row order (rows outside the window add +0.0).
        ticks, volume, turnover, sum_r, sum_r2 = (
            np.bincount(self.seg, weights=column * inside, minlength=self.s).astype(np.float64, copy=False)
            for column in self.columns)
        returns = ticks - ((ticks > 0) & (oldest < np.floor(first_ts)))
        with np.errstate(divide="ignore", invalid="ignore"):
            var = (sum_r2 - sum_r * sum_r / returns) / (returns - 1)
            volatility = np.where(returns < 2, NAN, np.where(var > 0.0, np.sqrt(np.maximum(var, 0.0)), 0.0))
            annualised = volatility * np.sqrt(returns / window * SECONDS_PER_YEAR)
            vwap = np.where(volume > 0.0, turnover / volume, NAN)
        # Max drawdown: inside a second, or a later second's low against the highest high
        # of the window's earlier seconds.
        cells = (self.second_grid > oldest[:, None]) & (self.second_grid <= newest[:, None])
        best = np.where(cells, self.drawdown, -np.inf).max(axis=1, initial=-np.inf)
        if self.shape[1] > 1:
            peak = np.maximum.accumulate(np.where(cells, self.high, -np.inf), axis=1)[:, :-1]
            low = np.where(cells[:, 1:], self.low[:, 1:], np.inf)
            with np.errstate(divide="ignore", invalid="ignore"):
                cross = np.where(peak > -np.inf, 1.0 - low / peak, -np.inf)
            best = np.maximum(best, cross.max(axis=1))
        return WindowColumns(vwap=vwap, volatility=volatility, volatility_annualised=annualised,
                             max_drawdown=np.where(ticks > 0, best, NAN), tick_rate=ticks / window,
                             ticks=ticks, volume=volume, returns=returns)
