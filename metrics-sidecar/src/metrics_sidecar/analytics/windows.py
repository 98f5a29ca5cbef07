"""Rolling windows in one-second buckets.

Every series keeps a ring of ``span`` buckets (``span`` = the longest window, in
seconds); bucket ``b`` holds the sums of the events whose time ``t`` has
``floor(t) == b``. An event costs one bucket update (O(1), a handful of float
adds), memory does not grow with the event rate, and a window of ``W`` seconds
read at time ``now`` is the ``W`` buckets ``floor(now) - W < b <= floor(now)``:
the current, partial second included (so it covers between W-1 and W seconds).
Readers copy the ring under ``state.lock`` and reduce it with numpy outside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .rings import FloatArray

SECONDS_PER_YEAR = 365 * 24 * 3600  # markets in this system trade around the clock

# Trade buckets (per side): second, trades, qty, gaps, sum of gaps, sum of squared gaps.
TRADE_WIDTH = 6
# Tick buckets (per symbol): second, ticks, volume, sum(price*volume), open (for the
# bars; the windows do not read it: the return count is ticks minus the series'
# first tick), sum of log returns, sum of squared returns, high, low, max drawdown
# inside the bucket.
TICK_WIDTH = 10
EMPTY = -1.0  # bucket id of a slot never written


def window_label(seconds: int) -> str:
    """60 -> "1m", 300 -> "5m", 3600 -> "1h", 90 -> "90s": the ``window`` label value."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


class TradeWindow:
    """One side's trades: per-second buckets over the last ``span`` seconds, plus an
    exponentially weighted volume ``sum(qty * 2 ** (-(now - t) / half_life))``.

    Times are sidecar receive times (``recv_ts``): always in order, and on the same
    clock as the reader's ``now``. Inter-arrival gaps feed the burstiness; a gap
    belongs to the bucket of the trade that ends it.
    """

    __slots__ = ("ew", "ew_k", "ew_t", "last_t", "slots", "span")

    def __init__(self, span: int, half_life: float) -> None:
        self.span = span
        self.slots: list[float] = [EMPTY, 0.0, 0.0, 0.0, 0.0, 0.0] * span
        self.last_t = -1.0  # time of the previous trade (-1: none yet)
        self.ew = 0.0  # EW volume as of ``ew_t``
        self.ew_t = 0.0
        self.ew_k = math.log(2.0) / half_life  # decay rate per second

    def add(self, t: float, qty: float) -> None:
        # EW volume first: it needs no bucket, so a clock step back never loses it.
        ew_t = self.ew_t
        if t >= ew_t:
            self.ew = self.ew * math.exp((ew_t - t) * self.ew_k) + qty
            self.ew_t = t
        else:
            self.ew += qty * math.exp((t - ew_t) * self.ew_k)
        gap = t - self.last_t if self.last_t >= 0.0 else -1.0
        if t > self.last_t:
            self.last_t = t
        b = int(t)
        s = self.slots
        i = (b % self.span) * TRADE_WIDTH
        if s[i] != b:
            if s[i] > b:  # the wall clock stepped back more than ``span``: no bucket left
                return
            s[i] = b
            s[i + 1] = 1.0
            s[i + 2] = qty
            s[i + 3] = s[i + 4] = s[i + 5] = 0.0
        else:
            s[i + 1] += 1.0
            s[i + 2] += qty
        if gap >= 0.0:
            s[i + 3] += 1.0
            s[i + 4] += gap
            s[i + 5] += gap * gap

    def add_many(self, t: FloatArray, qty: FloatArray) -> None:
        """``add`` for every (t, qty) in arrival order, vectorized: the same buckets, gaps
        and EW volume, at numpy cost per batch instead of Python cost per trade."""
        newest = float(t.max())
        ew_t = self.ew_t
        if newest > ew_t:
            self.ew = self.ew * math.exp((ew_t - newest) * self.ew_k)
            self.ew_t = ew_t = newest
        # Not np.dot: a BLAS call wakes OpenBLAS threads that then spin on the ingest's cores.
        self.ew += float((qty * np.exp((t - ew_t) * self.ew_k)).sum())
        # A gap runs from the latest earlier trade (running max, as in ``add``) to this one.
        before = np.maximum.accumulate(np.concatenate(([self.last_t], t)))[:-1]
        gap = t - before
        has_gap = (before >= 0.0) & (gap >= 0.0)
        gap[~has_gap] = 0.0
        if newest > self.last_t:
            self.last_t = newest
        seconds = np.floor(t).astype(np.int64)
        columns = np.column_stack((np.ones_like(t), qty, has_gap, gap, gap * gap))
        if len(seconds) < 2 or bool((seconds[1:] >= seconds[:-1]).all()):
            # Receive times arrive sorted: each second is one run, summed by reduceat.
            starts = np.flatnonzero(np.concatenate(([True], seconds[1:] != seconds[:-1])))
            unique, sums = seconds[starts], np.add.reduceat(columns, starts, axis=0)
        else:  # the wall clock stepped back inside the batch
            unique, where = np.unique(seconds, return_inverse=True)
            sums = np.zeros((len(unique), 5))
            np.add.at(sums, where, columns)
        s = self.slots
        for b, row in zip(unique.tolist(), sums.tolist(), strict=True):  # ascending: newer wins a slot
            i = (b % self.span) * TRADE_WIDTH
            if s[i] != b:
                if s[i] > b:
                    continue
                s[i] = b
                s[i + 1] = s[i + 2] = s[i + 3] = s[i + 4] = s[i + 5] = 0.0
            for f in range(5):
                s[i + 1 + f] += row[f]

    def copy(self) -> tuple[list[float], float, float, float]:
        """(buckets, last trade time, EW volume, EW time): what a reader needs, copied."""
        return list(self.slots), self.last_t, self.ew, self.ew_t


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
    """Every window from one sort of the ring: a shorter window is a suffix of a longer one."""
    newest = math.floor(now)
    live = _in_window(buckets, now, max(windows))
    out = {}
    for window in windows:
        rows = live[np.searchsorted(live[:, 0], newest - window, side="right"):]
        ticks_f, volume, turnover, _, sum_r, sum_r2 = rows[:, 1:7].sum(axis=0).tolist()
        ticks = int(ticks_f)
        returns = ticks - (1 if ticks and newest - window < math.floor(first_ts) else 0)
        volatility = sample_std(returns, sum_r, sum_r2)
        annualised = None
        if volatility is not None:
            annualised = volatility * math.sqrt(returns / window * SECONDS_PER_YEAR)
        drawdown = None
        if ticks:
            high, low = rows[:, 7], rows[:, 8]
            drawdown = float(rows[:, 9].max())
            if len(rows) > 1:
                # A trough in a later bucket against the highest price of every earlier one.
                peak_before = np.maximum.accumulate(high)[:-1]
                drawdown = max(drawdown, float((1.0 - low[1:] / peak_before).max()))
        out[window] = TickWindowStats(
            ticks=ticks, tick_rate=ticks / window, volume=volume,
            vwap=turnover / volume if volume > 0.0 else None, returns=returns, volatility=volatility,
            volatility_annualised=annualised, max_drawdown=drawdown)
    return out
