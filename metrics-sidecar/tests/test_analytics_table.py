"""``table.symbol_columns`` (every symbol at once, vectorized) gives the numbers
``views.symbol_analytics`` gives per symbol, to 1e-12 relative: seeded random
streams over many symbols, with symbols that ticked once, symbols with no tick in
the window, trades only (a position, no price) and window eviction."""

from __future__ import annotations

import math
import random

import pytest

from metrics_sidecar import read_model
from metrics_sidecar.analytics import table
from metrics_sidecar.analytics.table import symbol_columns
from metrics_sidecar.analytics.views import symbol_analytics
from metrics_sidecar.decode import Tick, Trade
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState

T0 = 1_700_000_000.0


def tick(symbol: str, price: float, t: float, volume: float) -> Tick:
    event = Tick(symbol=symbol, price=price, ts=t, volume=volume)
    event.ts_s = event.recv_ts = t
    return event


def trade(symbol: str, side: str, qty: float, t: float, price: float | None) -> Trade:
    event = Trade(side=side, qty=qty, ts=t, symbol=symbol, price=price)  # type: ignore[arg-type]
    event.ts_s = event.recv_ts = t
    return event


def feed(seed: int, symbols: int) -> tuple[TelemetryState, float]:
    rng = random.Random(seed)
    state = TelemetryState(Settings.model_validate({"max_symbols": 10_000, "tick_max_age_seconds": 1e9}))
    t = T0
    price = {f"S{i}": 10.0 + 90.0 * rng.random() for i in range(symbols)}
    kinds = {s: rng.choice(["busy", "busy", "busy", "once", "stale", "trades"]) for s in price}
    stale_until = T0 + 200  # "stale" symbols stop ticking here: nothing in the 1m window at the end
    events: list[Tick | Trade] = []
    once_done: set[str] = set()
    for _ in range(6000):
        t += rng.expovariate(10.0)
        s = f"S{rng.randrange(symbols)}"
        kind = kinds[s]
        if kind != "trades" and rng.random() < 0.8:
            if (kind == "once" and s in once_done) or (kind == "stale" and t > stale_until):
                continue
            once_done.add(s)
            price[s] *= math.exp(rng.gauss(0.0, 0.01))
            events.append(tick(s, price[s], t, rng.choice([0.0, 1.0, 3.0])))
        else:
            with_price = kind == "trades" or rng.random() < 0.5
            events.append(trade(s, rng.choice(["buy", "sell"]), rng.choice([1.0, 2.0, 0.5]), t,
                                price[s] if with_price else None))
    with state.lock:
        for event in events:
            state.apply(event)
    return state, t


def same(a: float, b: float | None) -> bool:
    if b is None:
        return math.isnan(a)
    return a == pytest.approx(b, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("seed", "symbols"), [(0, 40), (1, 300), (2, 5)])
@pytest.mark.parametrize("later", [0.0, 45.0, 400.0])  # read at the end, inside 5m only, after eviction
@pytest.mark.parametrize("chunk_rows", [table.CHUNK_ROWS, 7])  # one chunk, or many
def test_symbol_columns_equal_symbol_analytics(seed: int, symbols: int, later: float, chunk_rows: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table, "CHUNK_ROWS", chunk_rows)
    state, end = feed(seed, symbols)
    engine = state.analytics
    assert engine is not None
    now = end + later
    columns, positions = symbol_columns(read_model.analytics_columns(state), engine.windows, now)
    with state.lock:
        names = engine.symbols()
        snaps = [engine.symbol_snapshot(s) for s in names]
    expected = [symbol_analytics(snap, now, engine.windows) for snap in snaps if snap is not None]
    ticked = [a for a in expected if a.last_price is not None]
    assert columns.symbols == [a.symbol for a in ticked]
    assert len(ticked) < len(expected)  # some symbols only traded
    for i, a in enumerate(ticked):
        assert same(columns.last_price[i], a.last_price)
        assert same(columns.sma[i], a.sma), a.symbol
        assert same(columns.volatility_ticks[i], a.volatility_ticks), a.symbol
        assert same(columns.vwap_session[i], a.vwap_session), a.symbol
        for label, w in a.windows.items():
            got = columns.windows[label]
            for name in ("vwap", "volatility", "volatility_annualised", "max_drawdown", "tick_rate"):
                assert same(float(getattr(got, name)[i]), getattr(w, name)), (a.symbol, label, name)
    held = [a for a in expected if a.position is not None]
    assert [p.symbol for p in positions] == [a.symbol for a in held]
    for row, a in zip(positions, held, strict=True):
        p = a.position
        assert p is not None
        assert (row.qty, row.realized) == (p.qty, p.realized_pnl)
        assert same(row.avg_cost, p.avg_cost) and same(row.unrealized, p.unrealized_pnl)
    # The cases the test is about actually occur.
    windows = columns.windows["1m"]
    assert any(math.isnan(x) for x in windows.max_drawdown) or later == 0.0
    assert any(math.isnan(p.unrealized) for p in positions)
