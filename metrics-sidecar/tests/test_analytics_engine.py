"""The engine as the state drives it: batching of the side windows, symbol
bounds, the on/off switch, and the scrape-time collector's output."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from metrics_sidecar.analytics.views import side_analytics
from metrics_sidecar.decode import Heartbeat, Tick, Trade
from metrics_sidecar.exposition import render
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState


def trade(side: str, qty: float, t: float, symbol: str | None = None, price: float | None = None) -> Trade:
    event = Trade(side=side, qty=qty, ts=t, symbol=symbol, price=price)  # type: ignore[arg-type]
    event.ts_s = event.recv_ts = t
    return event


def tick(symbol: str, price: float, t: float, volume: float = 1.0) -> Tick:
    event = Tick(symbol=symbol, price=price, ts=t, volume=volume)
    event.ts_s = event.recv_ts = t
    return event


def apply(state: TelemetryState, events: list[Trade | Tick]) -> None:
    """As the ingest loop does: batches of at most ``batch_max``, each ended by end_batch."""
    size = state.settings.batch_max
    for i in range(0, len(events), size):
        with state.lock:
            for event in events[i:i + size]:
                state.apply(event)
            state.end_batch()


def scrape(state: TelemetryState) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(render(state).decode()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


# The sizes around the Python engine's old flush batch (8,192) stay: batches of any size.
@pytest.mark.parametrize("n", [0, 1, 31, 32, 1000, 8192, 8193, 2 * 8192 + 7])
def test_side_windows_are_exact_across_flush_sizes(n: int) -> None:
    state = TelemetryState(Settings())
    now = time.time()
    t = now - 50 + np.arange(n) * (40.0 / max(n, 1))
    apply(state, [trade("buy" if i % 3 else "sell", 1.0 + i % 4, float(t[i])) for i in range(n)])
    assert state.analytics is not None
    with state.lock:
        sides = {s.side: side_analytics(s, now, (60, 300), 60.0) for s in state.analytics.side_snapshots()}
    buys = [i for i in range(n) if i % 3]
    assert sides["buy"].windows["1m"].trades == len(buys)
    assert sides["sell"].windows["5m"].trades == n - len(buys)
    assert sides["buy"].windows["1m"].volume == sum(1.0 + i % 4 for i in buys)
    assert sides["buy"].windows["1m"].gaps == max(0, len(buys) - 1)
    expected_ew = sum((1.0 + i % 4) * 0.5 ** ((now - t[i]) / 60.0) for i in buys)
    assert sides["buy"].ew_volume == pytest.approx(expected_ew, rel=1e-9)


def test_nothing_stays_pending() -> None:
    state = TelemetryState(Settings())
    now = time.time()
    n = 8192 * 3 + 5
    apply(state, [trade("buy", 1.0, now) for _ in range(n)])
    assert state.analytics is not None
    assert state.analytics.inbox == []  # each batch absorbed at its end, into the core
    buckets, _, _, _ = state.analytics.core.side(True)  # read without absorbing: all there
    assert np.frombuffer(buckets)[1::6].sum() == n


def test_symbols_past_the_limit_get_no_analytics() -> None:
    state = TelemetryState(Settings(max_symbols=2))
    now = time.time()
    apply(state, [tick("A", 1.0, now), tick("B", 1.0, now), tick("C", 1.0, now), tick("D", 2.0, now)])
    assert state.analytics is not None
    assert state.analytics.symbols() == ["A", "B"]
    assert "__overflow__" in state.symbols


def test_out_of_order_ticks_do_not_enter_the_analytics() -> None:
    state = TelemetryState(Settings())
    now = time.time()
    apply(state, [tick("A", 10.0, now), tick("A", 99.0, now - 1), tick("A", 11.0, now)])
    assert state.analytics is not None
    with state.lock:
        rows = state.analytics.history("A", 10)
    assert rows is not None and rows[:, 1].tolist() == [10.0, 11.0]


def test_analytics_off() -> None:
    settings = Settings.from_env({"SIDECAR_ANALYTICS": "false"}, env_file=None)
    state = TelemetryState(settings)
    assert state.analytics is None
    now = time.time()
    apply(state, [tick("A", 10.0, now), trade("buy", 1.0, now, "A", 10.0)])
    metrics = scrape(state)
    assert metrics['trades_total{side="buy",symbol="A"}'] == 1.0
    assert not [k for k in metrics if k.startswith(("trades_rolling", "symbol_", "pnl_", "market_stream"))]


def test_collector_exports_the_gauges() -> None:
    state = TelemetryState(Settings())
    now = time.time()
    prices = [100.0, 102.0, 99.0, 101.0]
    apply(state, [tick("BTC", p, now - 3 + i, volume=2.0) for i, p in enumerate(prices)])
    apply(state, [trade("buy", 2.0, now, "BTC", 100.0), trade("sell", 0.5, now, "BTC", 104.0),
                  trade("buy", 1.0, now, "ETH", 5.0)])
    with state.lock:
        state.apply(Heartbeat(ts=now, recv_ts=now, ts_s=now))
    m = scrape(state)
    returns = np.diff(np.log(prices))
    assert m['symbol_sma_price{symbol="BTC"}'] == pytest.approx(np.mean(prices), rel=1e-12)
    assert m['symbol_vwap_price{symbol="BTC",window="1m"}'] == pytest.approx(100.5, rel=1e-12)
    assert m['symbol_vwap_price{symbol="BTC",window="session"}'] == pytest.approx(100.5, rel=1e-12)
    assert m['symbol_volatility{symbol="BTC",window="ticks"}'] == pytest.approx(np.std(returns, ddof=1), rel=1e-9)
    assert m['symbol_volatility{symbol="BTC",window="1m"}'] == pytest.approx(np.std(returns, ddof=1), rel=1e-6)
    assert m['symbol_max_drawdown_ratio{symbol="BTC",window="5m"}'] == pytest.approx(1 - 99.0 / 102.0)
    assert m['symbol_ticks_per_second{symbol="BTC",window="1m"}'] == pytest.approx(4 / 60)
    assert m['position_quantity{symbol="BTC"}'] == 1.5
    assert m['position_average_cost{symbol="BTC"}'] == 100.0
    assert m['pnl_realized{symbol="BTC"}'] == 2.0
    assert m['pnl_unrealized{symbol="BTC"}'] == 1.5
    # ETH: a position but no tick: open and unmarked -> NaN, and no tick gauges at all.
    assert math.isnan(m['pnl_unrealized{symbol="ETH"}'])
    assert not [k for k in m if k.startswith("symbol_") and 'symbol="ETH"' in k]
    assert m['trades_rolling{side="buy",window="1m"}'] == 2.0
    assert m['volume_rolling{side="buy",window="5m"}'] == 3.0
    assert m['volume_rolling{side="sell",window="1m"}'] == 0.5
    assert math.isnan(m['click_burstiness_ratio{side="sell",window="1m"}'])
    assert m['volume_ewm{side="buy"}'] == pytest.approx(3.0, rel=1e-3)
    assert m["market_stream_clients"] == 0.0
    assert m['market_stream_clients_dropped_total{reason="slow"}'] == 0.0
