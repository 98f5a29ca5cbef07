"""The batched tick path (engine appends, ``fold`` vectorizes across symbols) gives
the series exactly what ``TickSeries.add`` per tick gives: window rows, history,
bars, session sums; seeded random streams over many symbols, with batches that
cut seconds in two, history rings that wrap, and out-of-order ticks."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from metrics_sidecar.analytics.engine import AnalyticsEngine
from metrics_sidecar.analytics.fold import VECTORIZE_FROM
from metrics_sidecar.analytics.ohlc import SPANS
from metrics_sidecar.analytics.series import TickSeries
from metrics_sidecar.decode import Tick
from metrics_sidecar.settings import Settings

T0 = 1_700_000_000.0


class Symbols:
    """The engine's view of the state's symbol table."""

    def __init__(self) -> None:
        self.symbols = {f"S{i}" for i in range(100)}
        self.trades: dict[tuple[str, str], list[float]] = {}


def stream(seed: int, n: int, symbols: int) -> list[tuple[str, float, float, float]]:
    rng = random.Random(seed)
    t = {f"S{i}": T0 + rng.random() * 5 for i in range(symbols)}
    p = {s: 50.0 + rng.random() * 100 for s in t}
    out = []
    for _ in range(n):
        s = f"S{rng.randrange(symbols)}"
        t[s] += rng.choice([0.0, 0.0, 0.01, 0.3, 0.9, 2.5, 70.0])
        p[s] *= math.exp(rng.gauss(0.0, 0.01))
        ts = t[s] - (3.0 if rng.random() < 0.02 else 0.0)  # a few out of order
        out.append((s, ts, p[s], rng.choice([0.0, 1.0, 2.5])))
    return out


def close(a: object, b: object) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", range(8))
def test_fold_equals_tick_by_tick(seed: int) -> None:
    settings = Settings.model_validate({"analytics_history_size": 50, "analytics_ohlc_bars": 20})
    engine = AnalyticsEngine(settings, Symbols())
    reference: dict[str, TickSeries] = {}
    rng = random.Random(seed)
    events = stream(seed, 4000, 1 + seed * 7)
    for i, (symbol, ts, price, volume) in enumerate(events):
        tick = Tick(symbol=symbol, price=price, ts=ts, volume=volume)
        tick.ts_s = tick.recv_ts = ts
        engine.inbox.append(tick)  # what TelemetryState.apply does
        ref = reference.get(symbol)
        if ref is None:
            ref = reference[symbol] = TickSeries(engine.span, engine.history_size, engine.bar_capacity)
        if ts >= ref.last_ts:
            ref.add(ts, price, volume)
        if rng.random() < 0.004 or i == len(events) - 1:  # fold at random points, small and large
            engine.absorb()  # what the ingest loop does after each batch
            pending = engine.pending_ticks()
            engine.fold_ticks()
            if pending < VECTORIZE_FROM:
                continue
            for name, series in engine.series.items():
                want = reference[name]
                close(series.window_rows(), want.window_rows())
                close(series.history.last(1000), want.history.last(1000))
                close(series.session_totals(), want.session_totals())
                assert (series.first_ts, series.last_ts, series.last_price) == (
                    want.first_ts, want.last_ts, want.last_price)
                for span in SPANS:
                    close(series.bars(span, 100), want.bars(span, 100))


@pytest.mark.parametrize("seed", range(4))
def test_inlined_position_update_equals_position_apply(seed: int) -> None:
    """``absorb`` inlines ``Position.add``/``reduce``: the same numbers, bit for bit."""
    from metrics_sidecar.analytics.positions import Position
    from metrics_sidecar.decode import Trade

    rng = random.Random(seed)
    engine = AnalyticsEngine(Settings(), Symbols())
    reference = Position()
    for i in range(3000):
        side = rng.choice(["buy", "sell"])
        qty = rng.choice([0.1, 0.2, 0.3, 1.0, 2.0, 2.5, 0.0])
        price = rng.choice([99.0, 100.0, 101.5, 1e-3])
        trade = Trade(side=side, qty=qty, ts=T0 + i, symbol="S1", price=price)  # type: ignore[arg-type]
        trade.ts_s = trade.recv_ts = T0 + i
        engine.inbox.append(trade)
        if qty:
            reference.apply(qty if side == "buy" else -qty, price)
        if rng.random() < 0.5 and i < 2999:
            continue  # absorbed with the next ones: batches of random size
        engine.absorb()
        got = engine.positions["S1"]
        assert (got.qty, got.avg_cost, got.realized) == (reference.qty, reference.avg_cost, reference.realized)


@pytest.mark.parametrize("preallocate", [False, True])
def test_ring_extend_bytes_equals_appends(preallocate: bool) -> None:
    from metrics_sidecar.analytics.rings import FloatRing

    rng = random.Random(3)
    bulk, one = FloatRing(3, 7, preallocate=preallocate), FloatRing(3, 7, preallocate=preallocate)
    value = 0.0
    for _ in range(60):
        rows = [(value + i, 2 * (value + i), 3 * (value + i)) for i in range(rng.choice([0, 1, 2, 6, 7, 8, 20]))]
        value += len(rows)
        bulk.extend_bytes(np.array(rows, dtype=np.float64).tobytes(), len(rows))
        for row in rows:
            one.append3(*row)
        assert bulk.last(10).tolist() == one.last(10).tolist() and len(bulk) == len(one)
