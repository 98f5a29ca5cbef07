"""The analytics as the API reads them (``TelemetryState.apply`` on the write side,
``engine.*_snapshot`` + ``views`` on the read side) against pandas/numpy computed
from the raw events, on seeded random streams: every per-symbol statistic (last
price, SMA and tick volatility over the last N, session VWAP across a UTC
midnight, and the 1m/5m windows), every per-side statistic (trades, volume,
gaps, burstiness, EW volume) with buys and sells interleaved, read mid-stream and
at probe times that evict the events window by window; plus the empty, one- and
two-element cases. No engine internals: only what http_market reads.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from metrics_sidecar.analytics.views import side_analytics, symbol_analytics
from metrics_sidecar.decode import Tick, Trade
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState

DAY = 86400
# 2023-11-14 23:50:00 UTC: the streams below cross 00:00 UTC (a new session).
T0 = 1_700_005_800.0
assert T0 % DAY == DAY - 600
SMA_TICKS = 7
HALF_LIFE = 20.0
WINDOWS = {"1m": 60, "5m": 300}


def make_state() -> TelemetryState:
    return TelemetryState(Settings.from_env({
        "SIDECAR_TICK_MAX_AGE_SECONDS": "1e12", "SIDECAR_ANALYTICS_SMA_TICKS": str(SMA_TICKS),
        "SIDECAR_ANALYTICS_EW_HALF_LIFE_SECONDS": str(HALF_LIFE), "SIDECAR_ANALYTICS_HISTORY_SIZE": "50"},
        env_file=None))


def tick(symbol: str, price: float, t: float, volume: float) -> Tick:
    event = Tick(symbol=symbol, price=price, ts=t, volume=volume)
    event.ts_s = event.recv_ts = t
    return event


def trade(side: str, qty: float, t: float, symbol: str | None = None, price: float | None = None) -> Trade:
    event = Trade(side=side, qty=qty, ts=t, symbol=symbol, price=price)  # type: ignore[arg-type]
    event.ts_s = event.recv_ts = t
    return event


def apply(state: TelemetryState, *events: Tick | Trade) -> None:
    with state.lock:
        for event in events:
            assert state.apply(event) is None


def view(state: TelemetryState, symbol: str, now: float) -> Any:
    engine = state.analytics
    assert engine is not None
    with state.lock:
        snap = engine.symbol_snapshot(symbol)
    assert snap is not None
    return symbol_analytics(snap, now, engine.windows)


def sides(state: TelemetryState, now: float) -> dict[str, Any]:
    engine = state.analytics
    assert engine is not None
    with state.lock:
        snaps = engine.side_snapshots()
    return {s.side: side_analytics(s, now, engine.windows, engine.half_life) for s in snaps}


def close(got: float | None, expected: float | None, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    if expected is None or got is None:
        return got is expected
    return got == pytest.approx(expected, rel=rel, abs=abs_)


# -- per symbol -------------------------------------------------------------------------
def tick_stream(seed: int, n: int) -> pd.DataFrame:
    """Bursts, pauses longer than the 5m window, zero-volume ticks, ties in time."""
    rng = random.Random(seed)
    t, price, rows = T0 + rng.random(), 100.0, []
    for _ in range(n):
        t += rng.choice([0.0, rng.expovariate(4.0), rng.expovariate(0.1), rng.uniform(0.0, 400.0)])
        price *= math.exp(rng.gauss(0.0, 0.01))
        rows.append((t, price, rng.choice([0.0, round(rng.uniform(0.1, 3.0), 3)])))
    return pd.DataFrame(rows, columns=["t", "p", "v"])


def symbol_reference(df: pd.DataFrame, now: float) -> dict[str, Any]:
    """What the view must say at ``now``, from the definitions (docs/analytics.md)."""
    now = max(now, float(df["t"].iloc[-1]))
    last = df["p"].iloc[-SMA_TICKS:]
    log_returns = np.diff(np.log(last.to_numpy()))
    today = df[np.floor(df["t"] / DAY) == math.floor(now) // DAY]
    out: dict[str, Any] = {
        "last_price": float(df["p"].iloc[-1]), "last_tick_ts": float(df["t"].iloc[-1]),
        "sma": float(last.mean()), "sma_ticks": len(last),
        "volatility_ticks": float(np.std(log_returns, ddof=1)) if len(log_returns) >= 2 else None,
        "vwap_session": float((today["p"] * today["v"]).sum() / today["v"].sum()) if today["v"].sum() > 0 else None,
    }
    df = df.assign(r=np.log(df["p"]).diff())
    for label, w in WINDOWS.items():
        b = np.floor(df["t"])
        win = df[(b > math.floor(now) - w) & (b <= math.floor(now))]
        returns = win["r"].dropna()
        vol = float(returns.std(ddof=1)) if len(returns) >= 2 else None
        out[label] = {
            "ticks": len(win), "tick_rate": len(win) / w, "volume": float(win["v"].sum()),
            "vwap": float((win["p"] * win["v"]).sum() / win["v"].sum()) if win["v"].sum() > 0 else None,
            "returns": len(returns), "volatility": vol,
            "volatility_annualised": None if vol is None else vol * math.sqrt(len(returns) / w * 365 * DAY),
            "max_drawdown": float((1 - win["p"] / win["p"].cummax()).max()) if len(win) else None,
        }
    return out


def check_symbol(state: TelemetryState, df: pd.DataFrame, now: float) -> None:
    got = view(state, "SYM", now)
    ref = symbol_reference(df, now)
    where = f"now={now - T0:+.3f}s after T0, {len(df)} ticks"
    assert (got.last_price, got.last_tick_ts, got.sma_ticks) == (
        ref["last_price"], ref["last_tick_ts"], ref["sma_ticks"]), where
    assert close(got.sma, ref["sma"], rel=1e-12), where
    assert close(got.volatility_ticks, ref["volatility_ticks"]), where
    assert close(got.vwap_session, ref["vwap_session"], rel=1e-12), where
    assert set(got.windows) == set(WINDOWS)
    for label in WINDOWS:
        stats, expected = got.windows[label], ref[label]
        assert (stats.ticks, stats.returns) == (expected["ticks"], expected["returns"]), (label, where)
        for name in ("tick_rate", "volume", "vwap", "max_drawdown"):
            assert close(getattr(stats, name), expected[name], rel=1e-9), (name, label, where)
        # From per-second sums of squares: equal returns leave ~1e-9 instead of an exact 0.
        assert close(stats.volatility, expected["volatility"], rel=1e-6, abs_=1e-9), (label, where)
        scale = math.sqrt(max(expected["returns"], 1) / WINDOWS[label] * 365 * DAY)
        assert close(stats.volatility_annualised, expected["volatility_annualised"], rel=1e-6, abs_=1e-9 * scale), (
            label, where)


@pytest.mark.parametrize("seed", range(5))
def test_symbol_view_matches_pandas_on_random_streams(seed: int) -> None:
    df = tick_stream(seed, 240)
    assert df["t"].iloc[-1] > T0 + 600, "the stream must cross 00:00 UTC"
    state = make_state()
    for i, (t, p, v) in enumerate(zip(df["t"].tolist(), df["p"].tolist(), df["v"].tolist(), strict=True)):
        apply(state, tick("SYM", p, t, v))
        if i % 13 == 0 or i < 4:  # the first ticks: SMA/volatility of one, two, three prices
            check_symbol(state, df.iloc[:i + 1], t)
            check_symbol(state, df.iloc[:i + 1], t + 0.999)
    last = float(df["t"].iloc[-1])
    midnight = (math.floor(last) // DAY + 1) * DAY
    for now in (last, last + 0.5, last + 59.0, last + 61.0, last + 299.5, last + 301.0, last + 1000.0,
                midnight + 1.0):  # every window evicted, then a new UTC day: no session VWAP
        check_symbol(state, df, now)


def test_one_and_two_ticks_and_no_tick() -> None:
    state = make_state()
    apply(state, trade("buy", 1.0, T0, symbol="SYM", price=5.0))
    empty = view(state, "SYM", T0)  # a position, no tick: no market analytics at all
    assert (empty.last_price, empty.sma, empty.sma_ticks, empty.volatility_ticks, empty.vwap_session,
            empty.windows) == (None, None, 0, None, None, {})
    assert empty.position is not None and empty.position.unrealized_pnl is None
    apply(state, tick("SYM", 101.0, T0 + 0.25, 2.0))
    one = view(state, "SYM", T0 + 1)
    assert (one.last_price, one.sma, one.sma_ticks, one.volatility_ticks, one.vwap_session) == (
        101.0, 101.0, 1, None, 101.0)
    w = one.windows["1m"]
    assert (w.ticks, w.returns, w.volume, w.vwap, w.volatility, w.max_drawdown) == (1, 0, 2.0, 101.0, None, 0.0)
    apply(state, tick("SYM", 99.0, T0 + 0.75, 0.0))
    two = view(state, "SYM", T0 + 1)
    assert (two.sma, two.sma_ticks, two.volatility_ticks) == (100.0, 2, None)  # one return: no std
    w = two.windows["1m"]
    assert (w.ticks, w.returns, w.volume, w.vwap, w.volatility) == (2, 1, 2.0, 101.0, None)
    assert w.max_drawdown == pytest.approx(2.0 / 101.0, rel=1e-12)
    gone = view(state, "SYM", T0 + 61)  # both ticks evicted from 1m, still in 5m
    assert (gone.windows["1m"].ticks, gone.windows["1m"].vwap, gone.windows["1m"].max_drawdown) == (0, None, None)
    assert gone.windows["5m"].ticks == 2
    assert (gone.sma, gone.sma_ticks) == (100.0, 2)  # the SMA counts ticks, not time


def test_session_vwap_is_the_utc_day() -> None:
    state = make_state()
    apply(state, tick("SYM", 10.0, T0, 1.0), tick("SYM", 20.0, T0 + 1, 3.0))
    assert view(state, "SYM", T0 + 2).vwap_session == pytest.approx(17.5, rel=1e-12)
    apply(state, tick("SYM", 30.0, T0 + 600.0, 2.0))  # 00:00:00 UTC exactly: a new session
    assert view(state, "SYM", T0 + 601).vwap_session == pytest.approx(30.0, rel=1e-12)
    assert view(state, "SYM", T0 + 600 + DAY).vwap_session is None  # a day without ticks


# -- per side ---------------------------------------------------------------------------
def side_reference(df: pd.DataFrame, side: str, now: float) -> dict[str, Any]:
    own = df[df["side"] == side].copy()
    own["gap"] = own["t"].diff()  # a gap belongs to the trade that ends it
    now = max(now, float(own["t"].max())) if len(own) else now
    out: dict[str, Any] = {"ew": float((own["q"] * 0.5 ** ((now - own["t"]) / HALF_LIFE)).sum())}
    for label, w in WINDOWS.items():
        b = np.floor(own["t"])
        win = own[(b > math.floor(now) - w) & (b <= math.floor(now))]
        gaps = win["gap"].dropna()
        cv = float(gaps.std(ddof=1) / gaps.mean()) if len(gaps) >= 2 and gaps.mean() > 0 else None
        out[label] = (len(win), float(win["q"].sum()), len(gaps), cv)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_side_view_matches_pandas_on_random_streams(seed: int) -> None:
    rng = random.Random(seed)
    t, rows = T0, []
    for _ in range(3000):
        t += rng.choice([rng.expovariate(30.0), rng.expovariate(1.0), rng.uniform(0.0, 120.0)])
        rows.append((t, rng.choice(["buy", "buy", "sell"]), round(rng.uniform(0.01, 4.0), 3)))
    df = pd.DataFrame(rows, columns=["t", "side", "q"])
    state = make_state()
    checkpoints = [*sorted(rng.sample(range(len(df)), 8)), len(df) - 1]
    done = 0
    for i in checkpoints:
        part = df.iloc[done:i + 1]
        apply(state, *[trade(side, q, t) for t, side, q in zip(part["t"].tolist(), part["side"].tolist(),
                                                                 part["q"].tolist(), strict=True)])
        done = i + 1
        seen = df.iloc[:done]
        last = float(seen["t"].iloc[-1])
        probes = [last, last + 0.5] if i != len(df) - 1 else [last, last + 30.5, last + 61.0, last + 299.0,
                                                               last + 301.0, last + 5000.0]
        for now in probes:
            got = sides(state, now)
            for side in ("buy", "sell"):
                ref = side_reference(seen, side, now)
                assert got[side].ew_volume == pytest.approx(ref["ew"], rel=1e-9, abs=1e-300), (side, now)
                for label in WINDOWS:
                    stats = got[side].windows[label]
                    trades, volume, gaps, cv = ref[label]
                    assert (stats.trades, stats.gaps) == (trades, gaps), (side, label, now)
                    assert stats.volume == pytest.approx(volume, rel=1e-9, abs=1e-12), (side, label, now)
                    assert close(stats.burstiness, cv, rel=1e-6, abs_=1e-6), (side, label, now)


def test_side_view_empty_one_and_two_trades() -> None:
    state = make_state()
    got = sides(state, T0)
    for side in ("buy", "sell"):
        w = got[side].windows["1m"]
        assert (got[side].ew_volume, w.trades, w.volume, w.gaps, w.burstiness) == (0.0, 0, 0.0, 0, None)
    apply(state, trade("sell", 2.0, T0 + 0.25))
    one = sides(state, T0 + 0.25 + HALF_LIFE)
    w = one["sell"].windows["1m"]
    assert (w.trades, w.volume, w.gaps, w.burstiness) == (1, 2.0, 0, None)
    assert one["sell"].ew_volume == pytest.approx(1.0, rel=1e-12)  # one half-life: halved
    assert one["buy"].windows["1m"].trades == 0
    apply(state, trade("sell", 1.0, T0 + 1.25))
    two = sides(state, T0 + 2)["sell"].windows["1m"]
    assert (two.trades, two.volume, two.gaps, two.burstiness) == (2, 3.0, 1, None)  # one gap: no CV yet
    apply(state, trade("sell", 1.0, T0 + 4.25))
    three = sides(state, T0 + 5)["sell"].windows["1m"]  # gaps 1 and 3: CV = std/mean = sqrt(2)/2
    assert (three.trades, three.gaps) == (3, 2)
    assert three.burstiness == pytest.approx(math.sqrt(2.0) / 2.0, rel=1e-9)
    evicted = sides(state, T0 + 65)["sell"].windows
    assert (evicted["1m"].trades, evicted["1m"].burstiness, evicted["5m"].trades) == (0, None, 3)
