"""Position and PnL: scripted buys, sells and price moves against hand-computed
realized and unrealized PnL (average-cost method), through the engine as the
state feeds it; trades without a price take the last tick price."""

from __future__ import annotations

import random

import pytest

from metrics_sidecar.analytics.positions import position_view
from metrics_sidecar.analytics.views import symbol_analytics
from metrics_sidecar.decode import Tick, Trade
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState

T0 = 1_700_000_000.0


def feed(state: TelemetryState, *events: Trade | Tick) -> None:
    with state.lock:
        for event in events:
            event.recv_ts = T0 + 1
            assert state.apply(event) is None


def trade(side: str, qty: float, price: float | None = None, symbol: str | None = "ETHUSDT") -> Trade:
    t = Trade(side=side, qty=qty, ts=T0, symbol=symbol, price=price)  # type: ignore[arg-type]
    t.ts_s = T0
    return t


def tick(price: float, ts: float = T0, symbol: str = "ETHUSDT") -> Tick:
    t = Tick(symbol=symbol, price=price, ts=ts)
    t.ts_s = ts
    return t


def pnl(state: TelemetryState, symbol: str = "ETHUSDT") -> tuple[float, float | None, float, float | None]:
    """(qty, avg_cost, realized, unrealized) as the API reports them."""
    assert state.analytics is not None
    with state.lock:
        snap = state.analytics.symbol_snapshot(symbol)
    assert snap is not None
    p = symbol_analytics(snap, T0 + 2, state.analytics.windows).position
    assert p is not None
    return p.qty, p.avg_cost, p.realized_pnl, p.unrealized_pnl


@pytest.fixture
def state() -> TelemetryState:
    return TelemetryState(Settings(tick_max_age_seconds=1e9))


def test_scripted_session(state: TelemetryState) -> None:
    feed(state, trade("buy", 2, 100.0))
    assert pnl(state) == (2.0, 100.0, 0.0, None)  # open, no tick yet: unrealized unknown
    feed(state, tick(103.0))
    assert pnl(state) == (2.0, 100.0, 0.0, 6.0)  # 2 * (103 - 100)
    feed(state, trade("buy", 1, 106.0))
    assert pnl(state) == (3.0, 102.0, 0.0, 3.0)  # cost (200 + 106) / 3 = 102; 3 * (103 - 102)
    feed(state, trade("sell", 2, 110.0))
    assert pnl(state) == (1.0, 102.0, 16.0, 1.0)  # realized 2 * (110 - 102); cost unchanged
    feed(state, tick(99.0))
    assert pnl(state) == (1.0, 102.0, 16.0, -3.0)
    feed(state, trade("sell", 3, 101.0))  # closes 1 (-1 realized), opens a 2 short at 101
    assert pnl(state) == (-2.0, 101.0, 15.0, 4.0)  # short: -2 * (99 - 101)
    feed(state, trade("buy", 0.5, 95.0))
    assert pnl(state) == (-1.5, 101.0, 18.0, 3.0)  # realized 0.5 * (101 - 95)
    feed(state, trade("sell", 1.5, 97.0))
    assert pnl(state) == (-3.0, 99.0, 18.0, 0.0)  # cost (1.5*101 + 1.5*97) / 3
    feed(state, trade("buy", 3))  # no price: fills at the last tick (99): flat
    assert pnl(state) == (0.0, None, 18.0, 0.0)


def test_trade_without_price_or_tick_is_counted_but_moves_nothing(state: TelemetryState) -> None:
    feed(state, trade("buy", 5), trade("buy", 1, 50.0), trade("sell", 2))
    # The first trade had neither price nor tick; the sell has no price and still no tick.
    assert state.analytics is not None
    with state.lock:
        snap = state.analytics.symbol_snapshot("ETHUSDT")
    assert snap is not None and snap.position is not None
    assert (snap.position.trades, snap.position.unpriced) == (3, 2)
    assert pnl(state) == (1.0, 50.0, 0.0, None)
    feed(state, tick(52.0), trade("sell", 1))
    assert pnl(state) == (0.0, None, 2.0, 0.0)


def test_out_of_order_tick_does_not_mark(state: TelemetryState) -> None:
    feed(state, tick(10.0, T0), trade("buy", 1, 10.0), tick(12.0, T0 - 5))
    assert pnl(state) == (1.0, 10.0, 0.0, 0.0)


def test_seed_trades_and_overflow_symbols_have_no_position() -> None:
    state = TelemetryState(Settings(max_symbols=1))
    feed(state, trade("buy", 1, 10.0, symbol=None), trade("buy", 1, 10.0, symbol="A"),
         trade("buy", 1, 10.0, symbol="B"))
    assert state.analytics is not None
    assert state.analytics.symbols() == ["A"]  # B went to __overflow__


def position_after(fills: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(qty, avg_cost, realized) after the signed-qty fills, through the engine as the state feeds it."""
    state = TelemetryState(Settings(tick_max_age_seconds=1e9))
    feed(state, *(trade("buy" if q > 0 else "sell", abs(q), price) for q, price in fills))
    assert state.analytics is not None
    with state.lock:
        snap = state.analytics.symbol_snapshot("ETHUSDT")
    assert snap is not None and snap.position is not None
    return snap.position.qty, snap.position.avg_cost, snap.position.realized


def test_float_noise_closes_to_flat() -> None:
    qty, avg_cost, realized = position_after([(0.1, 10.0), (0.2, 10.0), (-0.3, 11.0)])
    assert (qty, avg_cost) == (0.0, 0.0)
    assert realized == pytest.approx(0.3)


def test_random_round_trips_realize_exactly_the_cash_flow() -> None:
    """A position that ends flat has realized PnL = sum(sell cash) - sum(buy cash)."""
    rng = random.Random(3)
    for _ in range(50):
        fills, cash, qty = [], 0.0, 0
        for _ in range(rng.randint(1, 30)):
            d = rng.choice([-3, -2, -1, 1, 2, 4])
            price = float(rng.randint(90, 110))
            fills.append((float(d), price))
            cash -= d * price
            qty += d
        if qty:
            fills.append((float(-qty), 100.0))
            cash += qty * 100.0
        final_qty, _, realized = position_after(fills)
        assert final_qty == 0.0 and realized == pytest.approx(cash, abs=1e-9)


def test_position_view_marks() -> None:
    view = position_view(-2.0, 50.0, 1.0, 4, 0, 45.0)
    assert (view.unrealized_pnl, view.total_pnl, view.avg_cost) == (10.0, 11.0, 50.0)
    assert position_view(0.0, 0.0, 1.0, 4, 0, None).unrealized_pnl == 0.0
