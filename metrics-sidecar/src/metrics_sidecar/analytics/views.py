"""The read side: statistics computed from snapshots the engine copied under
``state.lock``, with numpy, outside the lock (per request or per scrape, never
per message)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .positions import PositionView, position_view
from .rings import FloatArray
from .series import SESSION_SECONDS, SeriesSnapshot
from .windows import (
    TickWindowStats,
    TradeWindowStats,
    ew_volume,
    tick_windows_stats,
    trade_window_stats,
    window_label,
)


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    qty: float
    avg_cost: float
    realized: float
    trades: int
    unpriced: int


@dataclass(frozen=True, slots=True)
class SymbolSnapshot:
    symbol: str
    series: SeriesSnapshot | None  # None: trades seen, no tick yet
    position: PositionSnapshot | None  # None: ticks seen, no trade yet


@dataclass(frozen=True, slots=True)
class SideSnapshot:
    side: str
    buckets: FloatArray  # rows of TRADE_WIDTH
    last_t: float
    ew: float
    ew_t: float


@dataclass(frozen=True, slots=True)
class SymbolAnalytics:
    symbol: str
    last_price: float | None
    last_tick_ts: float | None
    sma: float | None  # mean of the last ``sma_ticks`` prices
    sma_ticks: int
    volatility_ticks: float | None  # std (ddof=1) of the log returns between those prices
    vwap_session: float | None  # since 00:00 UTC of the current day
    windows: dict[str, TickWindowStats]
    position: PositionView | None


@dataclass(frozen=True, slots=True)
class SideAnalytics:
    side: str
    ew_volume: float
    windows: dict[str, TradeWindowStats]


def symbol_analytics(snap: SymbolSnapshot, now: float, windows: tuple[int, ...]) -> SymbolAnalytics:
    series = snap.series
    mark = series.last_price if series is not None else None
    position = None
    if snap.position is not None:
        p = snap.position
        position = position_view(p.qty, p.avg_cost, p.realized, p.trades, p.unpriced, mark)
    if series is None:
        return SymbolAnalytics(symbol=snap.symbol, last_price=None, last_tick_ts=None, sma=None,
                               sma_ticks=0, volatility_ticks=None, vwap_session=None, windows={},
                               position=position)
    # A feed clock slightly ahead of ours must not push its newest ticks out of the windows.
    now = max(now, series.last_ts)
    prices = series.recent
    sma, volatility = recent_stats(prices, np.array([len(prices)], dtype=np.intp))
    vwap_session = None
    day, volume, turnover = series.session
    if day == math.floor(now) // SESSION_SECONDS * SESSION_SECONDS and volume > 0.0:
        vwap_session = turnover / volume
    return SymbolAnalytics(
        symbol=snap.symbol, last_price=series.last_price, last_tick_ts=series.last_ts,
        sma=float(sma[0]), sma_ticks=len(prices), volatility_ticks=None if math.isnan(volatility[0]) else float(
            volatility[0]), vwap_session=vwap_session,
        windows={window_label(w): stats for w, stats in
                 tick_windows_stats(series.buckets, now, windows, series.first_ts).items()},
        position=position)


def side_analytics(snap: SideSnapshot, now: float, windows: tuple[int, ...], half_life: float) -> SideAnalytics:
    now = max(now, snap.last_t)
    buckets = snap.buckets
    return SideAnalytics(
        side=snap.side, ew_volume=ew_volume(snap.ew, snap.ew_t, now, half_life),
        windows={window_label(w): trade_window_stats(buckets, now, w) for w in windows})


def recent_stats(prices: FloatArray, counts: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
    """SMA and tick volatility (sample std of the log returns; NaN below 3 prices) per
    symbol, from the symbols' last N prices stacked (``counts`` per symbol). Symbols with
    the same count go through one 2-D block, reduced along rows (numpy sums each row
    as it sums a 1-D array: pairwise)."""
    s = len(counts)
    sma, vol = np.full(s, math.nan), np.full(s, math.nan)
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
