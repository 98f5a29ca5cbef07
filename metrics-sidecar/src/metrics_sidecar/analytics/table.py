"""Every symbol's analytics as columns, for the scrape: one array per statistic,
aligned with ``symbols``, NaN where a statistic is undefined (the exposition
writes NaN for those, as ``analytics_exposition`` documents).

The exposition needs all symbols at once, so this is the place to compute them
in bulk; the per-symbol API (``views.symbol_analytics``) must give the same
numbers (a test compares the two).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from .engine import AnalyticsEngine
from .rings import FloatArray
from .views import symbol_analytics
from .windows import window_label

NAN = math.nan


@dataclass(frozen=True, slots=True)
class WindowColumns:
    vwap: FloatArray
    volatility: FloatArray
    volatility_annualised: FloatArray
    max_drawdown: FloatArray
    tick_rate: FloatArray


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


def _nan(x: float | None) -> float:
    return NAN if x is None else x


def symbol_columns(engine: AnalyticsEngine, lock: threading.Lock,
                   now: float) -> tuple[SymbolColumns, list[PositionRow]]:
    """Reference implementation: one ``symbol_analytics`` per symbol (copy under
    ``lock``, one symbol per acquisition; maths outside it)."""
    with lock:
        names = engine.symbols()
    symbols: list[str] = []
    last, sma, vol_ticks, vwap_session = [], [], [], []
    per_window: dict[str, list[list[float]]] = {window_label(w): [[], [], [], [], []] for w in engine.windows}
    positions: list[PositionRow] = []
    for symbol in names:
        with lock:
            snap = engine.symbol_snapshot(symbol)
        if snap is None:
            continue
        a = symbol_analytics(snap, now, engine.windows)
        if a.last_price is not None:
            symbols.append(symbol)
            last.append(a.last_price)
            sma.append(_nan(a.sma))
            vol_ticks.append(_nan(a.volatility_ticks))
            vwap_session.append(_nan(a.vwap_session))
            for label, w in a.windows.items():
                for col, value in zip(per_window[label], (w.vwap, w.volatility, w.volatility_annualised, w.max_drawdown,
                                             w.tick_rate), strict=True):
                    col.append(_nan(value))
        p = a.position
        if p is not None:
            positions.append(PositionRow(symbol=symbol, qty=p.qty, avg_cost=_nan(p.avg_cost),
                                         realized=p.realized_pnl, unrealized=_nan(p.unrealized_pnl)))

    def arr(values: list[float]) -> FloatArray:
        return np.asarray(values, dtype=np.float64)

    columns = SymbolColumns(
        symbols=symbols, last_price=arr(last), sma=arr(sma), volatility_ticks=arr(vol_ticks),
        vwap_session=arr(vwap_session),
        windows={label: WindowColumns(*(arr(c) for c in cols)) for label, cols in per_window.items()})
    return columns, positions
