"""The batch ingest feeds the analytics in the core (py_ingest.rs): symbol admission
from the state's symbol table, and event objects for the SSE stream only while it
has clients (every trade, and the ticks that moved the analytics)."""

from __future__ import annotations

import json
import time

from metrics_sidecar.decode import Tick, Trade
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState


def ingest(state: TelemetryState, messages: list[dict[str, object]], now: float) -> None:
    frames = [json.dumps(m).encode() for m in messages]
    with state.lock:
        state.ingest(frames, [now] * len(frames), None, True, 65536)
        state.end_batch()


def test_a_symbol_over_the_limit_gets_no_analytics() -> None:
    state = TelemetryState(Settings(max_symbols=1))
    engine = state.analytics
    assert engine is not None
    now = time.time()
    ingest(state, [{"type": "tick", "symbol": "AAA", "price": 10.0, "ts": now},
                   {"type": "tick", "symbol": "BBB", "price": 20.0, "ts": now},
                   {"type": "trade", "side": "buy", "qty": 2.0, "symbol": "AAA", "ts": now},
                   {"type": "trade", "side": "sell", "qty": 3.0, "symbol": "BBB", "price": 20.0, "ts": now}], now)
    assert engine.symbols() == ["AAA"]
    assert engine.symbol_snapshot("BBB") is None
    snap = engine.symbol_snapshot("AAA")
    assert snap is not None and snap.position is not None and snap.series is not None
    assert (snap.position.qty, snap.position.avg_cost) == (2.0, 10.0)  # filled at the last tick price
    assert snap.series.last_price == 10.0
    sides = {s.side: s for s in engine.side_snapshots()}
    # The side windows count every trade (columns: second, trades, qty, ...).
    assert (sides["buy"].buckets[:, 1].sum(), sides["buy"].buckets[:, 2].sum()) == (1.0, 2.0)
    assert (sides["sell"].buckets[:, 1].sum(), sides["sell"].buckets[:, 2].sum()) == (1.0, 3.0)


def test_stream_objects_only_while_there_are_clients() -> None:
    state = TelemetryState(Settings())
    engine = state.analytics
    assert engine is not None
    now = time.time()
    batch = [{"type": "trade", "side": "buy", "qty": 1.0, "symbol": "AAA", "price": 5.0, "ts": now},
             {"type": "tick", "symbol": "AAA", "price": 6.0, "ts": now},
             {"type": "tick", "symbol": "AAA", "price": 7.0, "ts": now - 1}]  # out of order: moves nothing
    ingest(state, batch, now)
    assert engine.outbox == []
    client = engine.stream.subscribe(None)
    assert client is not None
    ingest(state, batch, now)
    got = client.take()
    assert [type(e) for e in got] == [Trade, Tick]
    assert [e.price for e in got] == [5.0, 6.0]
    assert engine.outbox == []  # published at the end of the batch
