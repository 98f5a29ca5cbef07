"""Every symbol's analytics as columns, for the scrape: one array per statistic,
aligned with ``symbols``, NaN where a statistic is undefined (the exposition
writes NaN for those, as ``analytics_exposition`` documents).

The exposition needs all symbols at once, so they are computed in bulk: each
symbol's raw data (window rows, last N prices, a few scalars) is copied under the
lock, one symbol per acquisition, as flat ``array('d')`` slices (no numpy per
symbol); then every statistic is computed for all symbols together with numpy,
outside the lock. The per-symbol API (``views.symbol_analytics``) gives the same
numbers (a test compares the two to 1e-12): same formulas, and sums taken in the
same order.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from .engine import AnalyticsEngine
from .rings import FloatArray
from .series import SESSION_SECONDS
from .windows import SECONDS_PER_YEAR, TICK_WIDTH, window_label

NAN = math.nan
CHUNK_ROWS = 16384  # window rows computed together (see symbol_columns)


@dataclass(frozen=True, slots=True)
class WindowColumns:
    vwap: FloatArray
    volatility: FloatArray
    volatility_annualised: FloatArray
    max_drawdown: FloatArray
    tick_rate: FloatArray


_WINDOW_FIELDS = tuple(f.name for f in fields(WindowColumns))


@dataclass(frozen=True, slots=True)
class SymbolColumns:
    symbols: list[str]  # symbols with at least one tick, sorted
    last_price: FloatArray
    sma: FloatArray
    volatility_ticks: FloatArray
    vwap_session: FloatArray
    windows: dict[str, WindowColumns]  # by window label ("1m", "5m")


@dataclass(frozen=True, slots=True)
class PositionRow:
    symbol: str
    qty: float
    avg_cost: float  # NaN while flat
    realized: float
    unrealized: float  # NaN while open with no tick price


def symbol_columns(engine: AnalyticsEngine, lock: threading.Lock,
                   now: float) -> tuple[SymbolColumns, list[PositionRow]]:
    """All symbols' analytics (copy under ``lock``, one symbol per acquisition; maths outside).

    Symbols go through in chunks of about ``CHUNK_ROWS`` window rows: each chunk's arrays
    stay small (cache-sized, ~128 KB a column), where one pass over every symbol's rows
    would allocate fresh megabytes per scrape and pay a page fault per 4 KB of them."""
    with lock:
        engine.fold_ticks()
        names = engine.symbols()
    positions: list[PositionRow] = []
    chunks: list[SymbolColumns] = []
    done = 0
    while done < len(names) or not chunks:
        chunk, done = _chunk(engine, lock, now, names, done, positions)
        chunks.append(chunk)
    if len(chunks) == 1:
        return chunks[0], positions
    return SymbolColumns(
        symbols=[name for c in chunks for name in c.symbols],
        last_price=_join(c.last_price for c in chunks), sma=_join(c.sma for c in chunks),
        volatility_ticks=_join(c.volatility_ticks for c in chunks),
        vwap_session=_join(c.vwap_session for c in chunks),
        windows={label: WindowColumns(*(_join(getattr(c.windows[label], f) for c in chunks) for f in _WINDOW_FIELDS))
                 for label in chunks[0].windows} if chunks else {}), positions


def _join(parts: Iterable[FloatArray]) -> FloatArray:
    return np.concatenate(list(parts))


def _chunk(engine: AnalyticsEngine, lock: threading.Lock, now: float, names: list[str], first: int,
           positions: list[PositionRow]) -> tuple[SymbolColumns, int]:
    """Copy symbols from ``names[first]`` on (one lock acquisition each) until ``CHUNK_ROWS``
    window rows; compute their columns, add their positions. Returns where it stopped."""
    recent_n = engine.sma_ticks
    symbols: list[str] = []
    scalars: list[tuple[float, ...]] = []  # last_price, last_ts, first_ts, session day, volume, turnover
    rows: list[array[float]] = []  # per symbol: window rows, flat
    history: list[array[float]] = []  # per symbol: the last N ticks, flat
    size = 0
    while first < len(names) and size < CHUNK_ROWS * TICK_WIDTH:
        symbol = names[first]
        first += 1
        with lock:
            engine.fold_ticks()  # readers see every applied event (nothing to do: one check)
            series = engine.series.get(symbol)
            position = engine.positions.get(symbol)
            if series is not None:
                head, window_rows, ticks = series.table_copy(recent_n)
            if position is not None:
                qty, avg_cost, realized = position.qty, position.avg_cost, position.realized
        mark = NAN
        if series is not None:
            mark = head[0]
            symbols.append(symbol)
            scalars.append(head)
            rows.append(window_rows)
            history.append(ticks)
            size += len(window_rows)
        if position is not None:
            unrealized = 0.0 if qty == 0.0 else qty * (mark - avg_cost)  # NaN: open, no tick yet
            positions.append(PositionRow(symbol=symbol, qty=qty, avg_cost=avg_cost if qty != 0.0 else NAN,
                                         realized=realized, unrealized=unrealized))
    return _columns(symbols, scalars, _stack(rows, TICK_WIDTH), _stack(history, 3), now, engine.windows), first


def _stack(parts: list[array[float]], width: int) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """The symbols' rows stacked (one join, one copy), and each symbol's row count."""
    counts = np.fromiter(map(len, parts), dtype=np.intp, count=len(parts)) // width
    return np.frombuffer(b"".join(parts), dtype=np.float64).reshape(-1, width), counts


def _columns(symbols: list[str], scalars: list[tuple[float, ...]], rows: tuple[FloatArray, npt.NDArray[np.intp]],
             recent: tuple[FloatArray, npt.NDArray[np.intp]], now: float, windows: tuple[int, ...]) -> SymbolColumns:
    s = len(symbols)
    sc = np.array(scalars, dtype=np.float64).reshape(s, 6)
    last_price, last_ts, first_ts = sc[:, 0], sc[:, 1], sc[:, 2]
    # A feed clock slightly ahead of ours must not push its newest ticks out of the windows.
    newest = np.floor(np.maximum(now, last_ts))
    day = newest // SESSION_SECONDS * SESSION_SECONDS
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap_session = np.where((sc[:, 3] == day) & (sc[:, 4] > 0.0), sc[:, 5] / sc[:, 4], NAN)
    sma, vol_ticks = _recent_stats(*recent)
    grid = _Grid(*rows)
    out = {window_label(w): grid.window(newest, first_ts, w) for w in windows}
    return SymbolColumns(symbols=symbols, last_price=last_price.copy(), sma=sma, volatility_ticks=vol_ticks,
                         vwap_session=vwap_session, windows=out)


def _recent_stats(ticks: FloatArray, counts: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
    """SMA and tick volatility per symbol. Symbols with the same count go through one 2-D
    block, reduced along rows: numpy sums each row exactly as it sums a 1-D array
    (pairwise), so the result equals ``views``' ``prices.mean()`` / ``np.std``."""
    s = len(counts)
    sma, vol = np.full(s, NAN), np.full(s, NAN)
    prices = ticks[:, 1]
    starts = np.cumsum(counts) - counts
    for k in np.unique(counts).tolist():
        if k == 0:
            continue
        members = np.flatnonzero(counts == k)
        block = prices[starts[members][:, None] + np.arange(k)]
        sma[members] = np.add.reduce(block, axis=1) / k
        if k >= 3:
            r = np.diff(np.log(block), axis=1)
            dev = r - (np.add.reduce(r, axis=1) / (k - 1))[:, None]
            vol[members] = np.sqrt(np.add.reduce(dev * dev, axis=1) / (k - 2))
    return sma, vol


class _Grid:
    """Every symbol's window rows, stacked (for the sums) and in a (symbol, row position)
    grid padded after each symbol's newest row (for the drawdown's running high)."""

    def __init__(self, rows: FloatArray, counts: npt.NDArray[np.intp]) -> None:
        s, depth = len(counts), int(counts.max()) if len(counts) else 0
        self.s = s
        self.seg = np.repeat(np.arange(s), counts)
        self.second = rows[:, 0]
        self.columns = [rows[:, c] for c in (1, 2, 3, 5, 6)]  # ticks, volume, turnover, sum r, sum r^2
        # Rows come symbol by symbol, oldest first: their grid cells, in increasing order.
        cell = np.arange(len(rows)) + np.repeat(np.arange(s) * depth - (np.cumsum(counts) - counts), counts)
        self.shape = (s, depth)
        self.cell = cell
        self.high = self._grid(rows[:, 7], -np.inf)
        self.low = self._grid(rows[:, 8], np.inf)  # padding: 1 - inf / peak = -inf, never the max
        self.drawdown = self._grid(rows[:, 9], -np.inf)
        self.second_grid = self._grid(rows[:, 0], -np.inf)  # padding: never inside a window

    def _grid(self, values: FloatArray, pad: float) -> FloatArray:
        out = np.full(self.shape, pad)
        out.reshape(-1)[self.cell] = values
        return out

    def window(self, newest: FloatArray, first_ts: FloatArray, window: int) -> WindowColumns:
        """One window's statistics for every symbol (``windows.tick_windows_stats`` in bulk)."""
        oldest = newest - window
        inside = self.second > oldest[self.seg]  # rows are never newer than ``newest``
        # bincount adds in row order, like the per-symbol ``sum(axis=0)`` (rows outside the
        # window add +0.0 first): the sums, hence the statistics, are bit for bit the same.
        ticks, volume, turnover, sum_r, sum_r2 = (
            np.bincount(self.seg, weights=column * inside, minlength=self.s) for column in self.columns)
        returns = ticks - ((ticks > 0) & (oldest < np.floor(first_ts)))
        with np.errstate(divide="ignore", invalid="ignore"):
            var = (sum_r2 - sum_r * sum_r / returns) / (returns - 1)
            volatility = np.where(returns < 2, NAN, np.where(var > 0.0, np.sqrt(np.maximum(var, 0.0)), 0.0))
            annualised = volatility * np.sqrt(returns / window * SECONDS_PER_YEAR)
            vwap = np.where(volume > 0.0, turnover / volume, NAN)
        # Max drawdown: inside a second, or a later second's low against the highest high
        # of the window's earlier seconds.
        cells = self.second_grid > oldest[:, None]
        best = np.where(cells, self.drawdown, -np.inf).max(axis=1, initial=-np.inf)
        if self.shape[1] > 1:
            peak = np.maximum.accumulate(np.where(cells, self.high, -np.inf), axis=1)[:, :-1]
            with np.errstate(divide="ignore", invalid="ignore"):
                cross = np.where(peak > -np.inf, 1.0 - self.low[:, 1:] / peak, -np.inf)
            best = np.maximum(best, cross.max(axis=1))
        return WindowColumns(vwap=vwap, volatility=volatility, volatility_annualised=annualised,
                             max_drawdown=np.where(ticks > 0, best, NAN), tick_rate=ticks / window)
