"""Every symbol's analytics as columns, for the scrape: one array per statistic,
aligned with ``symbols``, NaN where a statistic is undefined (the exposition
writes NaN for those, as ``analytics_exposition`` documents).

The raw inputs of every symbol (window rows, last N prices, a few scalars, the
positions) come from the core in one call (``_core.Analytics.columns``, copied by read_model.py:
flat float64 bytes, wrapped by numpy without another copy); the statistics are
computed outside it, for all symbols together, by the same functions the per-symbol
API uses (``windows.TickGrid``, ``views.recent_stats``), so both give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from .rings import FloatArray
from .series import SESSION_SECONDS
from .views import recent_stats
from .windows import TICK_WIDTH, TickGrid, WindowColumns, window_label

NAN = math.nan
CHUNK_ROWS = 16384  # window rows computed together (see symbol_columns)
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


@dataclass(frozen=True, slots=True)
class PositionColumns:
    """Every position as columns (the exposition's); iterating gives ``PositionRow`` s."""

    symbols: list[str]  # symbols with a position, sorted
    qty: FloatArray
    avg_cost: FloatArray  # NaN while flat
    realized: FloatArray
    unrealized: FloatArray  # NaN while open with no tick price

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterator[PositionRow]:
        for row in zip(self.symbols, self.qty.tolist(), self.avg_cost.tolist(), self.realized.tolist(),
                       self.unrealized.tolist(), strict=True):
            yield PositionRow(*row)


# What ``_core.Analytics.columns`` returns (read_model.analytics_columns copies it under the lock):
# names, per-symbol scalars, window rows and their counts, recent prices and their counts, the
# symbols with a position, and the positions (float64/int64 bytes numpy wraps without a copy).
ColumnsCopy = tuple[list[str], bytes, bytes, bytes, bytes, bytes, list[str], bytes]


def symbol_columns(copy: ColumnsCopy, windows: tuple[int, ...],
                   now: float) -> tuple[SymbolColumns, PositionColumns]:
    """All symbols' analytics from one copy out of the core (``read_model.analytics_columns``).

    Symbols go through the maths in chunks of about ``CHUNK_ROWS`` window rows: each
    chunk's arrays stay small (cache-sized, ~128 KB a column), where one pass over every
    symbol's rows would allocate fresh megabytes per scrape and pay a page fault per
    4 KB of them."""
    names, scalars, rows, row_counts, prices, price_counts, held, position = copy
    sc = np.frombuffer(scalars, dtype=np.float64).reshape(-1, 6)
    all_rows = np.frombuffer(rows, dtype=np.float64).reshape(-1, TICK_WIDTH)
    rc = np.frombuffer(row_counts, dtype=np.int64).astype(np.intp)
    pc = np.frombuffer(price_counts, dtype=np.int64).astype(np.intp)
    all_prices = np.frombuffer(prices, dtype=np.float64)
    row_at = np.concatenate(([0], np.cumsum(rc)))
    price_at = np.concatenate(([0], np.cumsum(pc)))
    chunks: list[SymbolColumns] = []
    first = 0
    while first < len(names) or not chunks:
        # Symbols up to CHUNK_ROWS rows (at least one symbol).
        last = max(first + 1, int(np.searchsorted(row_at, row_at[first] + CHUNK_ROWS, side="right")) - 1)
        last = min(last, len(names))
        chunks.append(_columns(names[first:last], sc[first:last],
                               (all_rows[row_at[first]:row_at[last]], rc[first:last]),
                               (all_prices[price_at[first]:price_at[last]], pc[first:last]), now, windows))
        first = last
    pos = np.frombuffer(position, dtype=np.float64).reshape(-1, 4)
    qty, avg_cost, realized, mark = pos[:, 0], pos[:, 1], pos[:, 2], pos[:, 3]
    flat = qty == 0.0
    positions = PositionColumns(symbols=held, qty=qty, avg_cost=np.where(flat, NAN, avg_cost), realized=realized,
                                unrealized=np.where(flat, 0.0, qty * (mark - avg_cost)))  # NaN: open, no tick
    if len(chunks) == 1:
        return chunks[0], positions
    return SymbolColumns(
        symbols=[name for c in chunks for name in c.symbols],
        last_price=_join(c.last_price for c in chunks), sma=_join(c.sma for c in chunks),
        volatility_ticks=_join(c.volatility_ticks for c in chunks),
        vwap_session=_join(c.vwap_session for c in chunks),
        windows={label: WindowColumns(*(_join(getattr(c.windows[label], f) for c in chunks) for f in _WINDOW_FIELDS))
                 for label in chunks[0].windows}), positions


def _join(parts: Iterable[FloatArray]) -> FloatArray:
    return np.concatenate(list(parts))


def _columns(symbols: list[str], sc: FloatArray, rows: tuple[FloatArray, npt.NDArray[np.intp]],
             recent: tuple[FloatArray, npt.NDArray[np.intp]], now: float, windows: tuple[int, ...]) -> SymbolColumns:
    """``sc``: per symbol last price, last tick time, first tick time, session day, volume, turnover."""
    last_price, last_ts, first_ts = sc[:, 0], sc[:, 1], sc[:, 2]
    # A feed clock slightly ahead of ours must not push its newest ticks out of the windows.
    newest = np.floor(np.maximum(now, last_ts))
    day = newest // SESSION_SECONDS * SESSION_SECONDS
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap_session = np.where((sc[:, 3] == day) & (sc[:, 4] > 0.0), sc[:, 5] / sc[:, 4], NAN)
    sma, vol_ticks = recent_stats(*recent)
    grid = TickGrid(*rows)
    out = {window_label(w): grid.window(newest, first_ts, w) for w in windows}
    return SymbolColumns(symbols=symbols, last_price=last_price, sma=sma, volatility_ticks=vol_ticks,
                         vwap_session=vwap_session, windows=out)
