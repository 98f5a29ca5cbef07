"""Every rolling statistic against a pandas/numpy reference computed from the raw
events, on seeded random streams and hypothesis-generated ones: window eviction,
empty windows and one-element windows included.

The definition under test (docs/analytics.md): a window of W seconds read at
``now`` holds the events with ``floor(now) - W < floor(t) <= floor(now)``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics_sidecar.analytics.engine import AnalyticsEngine
from metrics_sidecar.analytics.series import SeriesSnapshot
from metrics_sidecar.analytics.windows import (
    SECONDS_PER_YEAR,
    ew_volume,
    tick_window_stats,
    trade_window_stats,
    window_label,
)
from metrics_sidecar.decode import Tick, Trade
from metrics_sidecar.settings import Settings

T0 = 1_700_000_000.0
SPAN = 300
WINDOWS = (1, 60, 300)
HALF_LIFE = 30.0
REL = 1e-9


class Table:
    """The engine's view of the state's symbol table."""

    def __init__(self) -> None:
        self.symbols = frozenset({"S"})
        self.trades: dict[tuple[str, str], list[float]] = {}


def engine(history: int = 1000) -> AnalyticsEngine:
    return AnalyticsEngine(Settings.model_validate({
        "analytics_long_window_seconds": SPAN, "analytics_ew_half_life_seconds": HALF_LIFE,
        "analytics_history_size": history, "analytics_ohlc_bars": 10}), Table())


class TradeWindow:
    """The buy side's window in the core, fed trades as the engine feeds them."""

    def __init__(self) -> None:
        self.engine = engine()

    def add(self, t: float, qty: float) -> None:
        self.add_many([t], [qty])

    def add_many(self, t: list[float], qty: list[float]) -> None:
        """One batch: one core call."""
        for ti, qi in zip(t, qty, strict=True):
            event = Trade(side="buy", qty=qi, ts=ti)
            event.ts_s = event.recv_ts = ti
            self.engine.inbox.append(event)
        self.engine.absorb()

    def copy(self) -> tuple[list[float], float, float, float]:
        side = self.engine.side_snapshots()[0]
        return side.buckets.reshape(-1).tolist(), side.last_t, side.ew, side.ew_t


class TickSeries:
    """One symbol's series in the core, fed ticks as the engine feeds them."""

    def __init__(self, history: int) -> None:
        self.engine = engine(history)

    def add(self, ts: float, price: float, volume: float) -> None:
        event = Tick(symbol="S", price=price, ts=ts, volume=volume)
        event.ts_s = event.recv_ts = ts
        self.engine.inbox.append(event)

    def snapshot(self) -> SeriesSnapshot:
        snap = self.engine.symbol_snapshot("S")
        assert snap is not None and snap.series is not None
        return snap.series


def approx(x: float | None) -> object:
    return None if x is None else pytest.approx(x, rel=REL, abs=1e-12)


def in_window(t: pd.Series, now: float, window: int) -> pd.Series:
    b = np.floor(t)
    return (b > math.floor(now) - window) & (b <= math.floor(now))


# -- reference computations (pandas, straight from the definitions) -------------------
@dataclass
class TradeRef:
    trades: int
    volume: float
    gaps: int
    burstiness: float | None
    ew: float


def trade_reference(t: list[float], q: list[float], now: float, window: int) -> TradeRef:
    df = pd.DataFrame({"t": t, "q": q})
    df["gap"] = df["t"].diff()  # a gap belongs to the trade that ends it
    w = df[in_window(df["t"], now, window)]
    gaps = w["gap"].dropna()
    cv = float(gaps.std(ddof=1) / gaps.mean()) if len(gaps) >= 2 and gaps.mean() > 0 else None
    ew = float((df["q"] * 0.5 ** ((now - df["t"]) / HALF_LIFE)).sum())
    return TradeRef(len(w), float(w["q"].sum()), len(gaps), cv, ew)


def tick_reference(ts: list[float], p: list[float], v: list[float], now: float, window: int) -> dict[str, object]:
    df = pd.DataFrame({"t": ts, "p": p, "v": v})
    df["r"] = np.log(df["p"]).diff()
    w = df[in_window(df["t"], now, window)]
    returns = w["r"].dropna()
    vol = float(returns.std(ddof=1)) if len(returns) >= 2 else None
    return {
        "ticks": len(w),
        "tick_rate": len(w) / window,
        "volume": float(w["v"].sum()),
        "vwap": float((w["p"] * w["v"]).sum() / w["v"].sum()) if w["v"].sum() > 0 else None,
        "returns": len(returns),
        "volatility": vol,
        "volatility_annualised": None if vol is None else vol * math.sqrt(len(returns) / window * SECONDS_PER_YEAR),
        "max_drawdown": float((1 - w["p"] / w["p"].cummax()).max()) if len(w) else None,
    }


# -- streams ----------------------------------------------------------------------------
def trade_stream(seed: int, n: int) -> tuple[list[float], list[float]]:
    """Clicks with bursts and pauses (some longer than the longest window)."""
    rng = random.Random(seed)
    t, out_t, out_q = T0 + rng.random(), [], []
    for _ in range(n):
        t += rng.choice([rng.expovariate(20.0), rng.expovariate(0.5), rng.uniform(0.0, 90.0)])
        out_t.append(t)
        out_q.append(round(rng.uniform(0.01, 5.0), 4))
    return out_t, out_q


def tick_stream(seed: int, n: int) -> tuple[list[float], list[float], list[float]]:
    rng = random.Random(seed)
    t, price = T0 + rng.random(), 100.0
    ts, ps, vs = [], [], []
    for _ in range(n):
        t += rng.choice([rng.expovariate(5.0), rng.expovariate(0.2), rng.uniform(0.0, 120.0)])
        price *= math.exp(rng.gauss(0.0, 0.01))
        ts.append(t)
        ps.append(price)
        vs.append(rng.choice([0.0, round(rng.uniform(0.1, 3.0), 3)]))
    return ts, ps, vs


def probe_times(last: float) -> list[float]:
    """Right after the last event, inside the windows, and after each one evicts it."""
    return [last, last + 0.5, last + 30, last + 59.5, last + 61, last + 299, last + 301, last + 1000]


def check_trades(window_obj: TradeWindow, t: list[float], q: list[float], now: float) -> None:
    buckets, _, ew, ew_t = window_obj.copy()
    rows = np.asarray(buckets).reshape(-1, 6)
    for w in WINDOWS:
        got = trade_window_stats(rows, now, w)
        ref = trade_reference(t, q, now, w)
        assert (got.trades, got.gaps) == (ref.trades, ref.gaps), (w, now)
        assert got.volume == approx(ref.volume)
        if ref.burstiness is None:
            assert got.burstiness is None
        else:
            # Sums of squares: equal gaps leave ~sqrt(eps) of the mean, not an exact 0.
            assert got.burstiness == pytest.approx(ref.burstiness, rel=1e-6, abs=1e-6)
    assert ew_volume(ew, ew_t, now, HALF_LIFE) == pytest.approx(ref.ew, rel=1e-9)


# -- trade windows ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_trade_windows_match_pandas_one_by_one(seed: int) -> None:
    t, q = trade_stream(seed, 400)
    window = TradeWindow()
    for i, (ti, qi) in enumerate(zip(t, q, strict=True)):
        window.add(ti, qi)
        if i % 37 == 0:  # mid-stream too, not only at the end
            check_trades(window, t[:i + 1], q[:i + 1], ti)
    for now in probe_times(t[-1]):
        check_trades(window, t, q, now)


@pytest.mark.parametrize("seed", range(4))
def test_trade_windows_batched_equal_one_by_one(seed: int) -> None:
    """Batches of any size (one core call each) give the same answers as one by one."""
    t, q = trade_stream(100 + seed, 600)
    rng = random.Random(seed)
    batched = TradeWindow()
    i = 0
    while i < len(t):
        j = min(len(t), i + rng.choice([1, 2, 50, 200]))
        batched.add_many(t[i:j], q[i:j])
        i = j
    for now in probe_times(t[-1]):
        check_trades(batched, t, q, now)


def test_clock_steps_back_batched_equal_one_by_one() -> None:
    """Receive times can step back (NTP): a gap is measured from the latest earlier
    trade, a step back past the ring is dropped from the buckets; both paths agree."""
    t = [T0 + i * 0.7 for i in range(50)] + [T0 + 30.0 + i * 0.3 for i in range(40)]
    t += [T0 - 400.0, T0 + 40.0, T0 + 41.0]
    q = [1.0 + i % 3 for i in range(len(t))]
    one, batched = TradeWindow(), TradeWindow()
    for ti, qi in zip(t, q, strict=True):
        one.add(ti, qi)
    batched.add_many(t, q)
    for now in (T0 + 45, T0 + 100, T0 + 290):
        a = trade_window_stats(np.asarray(one.copy()[0]).reshape(-1, 6), now, 300)
        b = trade_window_stats(np.asarray(batched.copy()[0]).reshape(-1, 6), now, 300)
        assert (a.trades, a.gaps) == (b.trades, b.gaps) and a.volume == pytest.approx(b.volume)
        assert a.burstiness == pytest.approx(b.burstiness, rel=1e-9)
    assert one.copy()[1:] == pytest.approx(batched.copy()[1:], rel=1e-12)


def test_trade_windows_empty_and_single() -> None:
    window = TradeWindow()
    rows = np.asarray(window.copy()[0]).reshape(-1, 6)
    empty = trade_window_stats(rows, T0, 60)
    assert (empty.trades, empty.volume, empty.gaps, empty.burstiness) == (0, 0.0, 0, None)
    assert ew_volume(0.0, 0.0, T0, HALF_LIFE) == 0.0
    window.add(T0 + 0.25, 2.0)
    buckets, _, ew, ew_t = window.copy()
    one = trade_window_stats(np.asarray(buckets).reshape(-1, 6), T0 + 0.5, 60)
    assert (one.trades, one.volume, one.gaps, one.burstiness) == (1, 2.0, 0, None)
    # One half-life later the EW volume has halved exactly.
    assert ew_volume(ew, ew_t, T0 + 0.25 + HALF_LIFE, HALF_LIFE) == pytest.approx(1.0, rel=1e-12)
    # Two trades: one gap, still no coefficient of variation.
    window.add(T0 + 1.25, 1.0)
    two = trade_window_stats(np.asarray(window.copy()[0]).reshape(-1, 6), T0 + 2, 60)
    assert (two.trades, two.gaps, two.burstiness) == (2, 1, None)


def test_periodic_clicks_have_zero_burstiness_and_poisson_about_one() -> None:
    periodic = TradeWindow()
    for i in range(100):
        periodic.add(T0 + 0.5 * i, 1.0)
    stats = trade_window_stats(np.asarray(periodic.copy()[0]).reshape(-1, 6), T0 + 50, 300)
    assert stats.gaps == 99 and stats.burstiness == pytest.approx(0.0, abs=1e-6)
    rng = random.Random(7)
    poisson, t = TradeWindow(), T0
    for _ in range(5000):
        t += rng.expovariate(50.0)
        poisson.add(t, 1.0)
    cv = trade_window_stats(np.asarray(poisson.copy()[0]).reshape(-1, 6), t, 300).burstiness
    assert cv is not None and 0.95 < cv < 1.05


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.floats(0.0, 200.0), min_size=0, max_size=40),
       qty=st.floats(0.0, 10.0), offset=st.floats(0.0, 400.0))
def test_trade_windows_property(gaps: list[float], qty: float, offset: float) -> None:
    t = list(np.cumsum([T0, *gaps]))
    q = [qty + i % 3 for i in range(len(t))]
    window = TradeWindow()
    for ti, qi in zip(t, q, strict=True):
        window.add(ti, qi)
    check_trades(window, t, q, t[-1] + offset)


# -- tick windows -----------------------------------------------------------------------
def check_ticks(series: TickSeries, ts: list[float], ps: list[float], vs: list[float], now: float) -> None:
    snap = series.snapshot()
    for w in WINDOWS:
        got = tick_window_stats(snap.buckets, now, w, snap.first_ts)
        ref = tick_reference(ts, ps, vs, now, w)
        for name, expected in ref.items():
            value = getattr(got, name)
            if expected is None:
                assert value is None, (name, w, now)
            elif name == "volatility":
                # From per-second sums of squares: equal returns leave ~1e-9, not an exact 0.
                assert value == pytest.approx(expected, rel=1e-6, abs=1e-9), (name, w, now)
            elif name == "volatility_annualised":
                factor = math.sqrt(got.returns / w * SECONDS_PER_YEAR)
                assert got.volatility is not None and value == pytest.approx(got.volatility * factor)
                assert value == pytest.approx(expected, rel=1e-6, abs=1e-9 * factor), (name, w, now)
            else:
                assert value == approx(expected), (name, w, now)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(6))
def test_tick_windows_match_pandas(seed: int) -> None:
    ts, ps, vs = tick_stream(seed, 500)
    series = TickSeries(1000)
    for i, (t, p, v) in enumerate(zip(ts, ps, vs, strict=True)):
        series.add(t, p, v)
        if i % 41 == 0:
            check_ticks(series, ts[:i + 1], ps[:i + 1], vs[:i + 1], t)
    for now in probe_times(ts[-1]):
        check_ticks(series, ts, ps, vs, now)


def test_tick_windows_empty_and_single() -> None:
    series = TickSeries(10)
    series.add(T0 + 0.5, 101.0, 2.0)
    snap = series.snapshot()
    one = tick_window_stats(snap.buckets, T0 + 1, 60, snap.first_ts)
    assert (one.ticks, one.returns, one.volume, one.vwap, one.volatility, one.max_drawdown) == (
        1, 0, 2.0, 101.0, None, 0.0)
    gone = tick_window_stats(snap.buckets, T0 + 61, 60, snap.first_ts)  # evicted
    assert (gone.ticks, gone.tick_rate, gone.volume, gone.vwap, gone.volatility, gone.max_drawdown) == (
        0, 0.0, 0.0, None, None, None)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(0.0, 100.0), st.floats(-0.05, 0.05), st.sampled_from([0.0, 1.0, 2.5])),
                      min_size=1, max_size=40),
       offset=st.floats(0.0, 400.0))
def test_tick_windows_property(steps: list[tuple[float, float, float]], offset: float) -> None:
    ts, ps, vs = [], [], []
    t, p = T0, 50.0
    for gap, r, v in steps:
        t += gap
        p *= math.exp(r)
        ts.append(t)
        ps.append(p)
        vs.append(v)
    series = TickSeries(100)
    for args in zip(ts, ps, vs, strict=True):
        series.add(*args)
    check_ticks(series, ts, ps, vs, ts[-1] + offset)


@pytest.mark.parametrize("n", [1, 2, 3, 20, 57])
def test_sma_and_tick_volatility_over_the_last_n(n: int) -> None:
    _, ps, _ = tick_stream(42, n)
    series = TickSeries(100)
    for i, p in enumerate(ps):
        series.add(T0 + i, p, 1.0)
    recent = series.snapshot().recent
    last = np.array(ps[-20:])
    assert recent.tolist() == last.tolist()
    assert float(recent.mean()) == pytest.approx(float(pd.Series(last).mean()), rel=1e-12)


def test_window_labels() -> None:
    assert [window_label(s) for s in (60, 300, 3600, 90, 1, 7200)] == ["1m", "5m", "1h", "90s", "1s", "2h"]
