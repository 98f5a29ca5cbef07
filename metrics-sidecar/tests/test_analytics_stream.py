"""The stream fan-out: ticks conflate per symbol, trades never do, symbol
filters, a full client is dropped without ever blocking the publisher, and the
client limit."""

from __future__ import annotations

import threading

from metrics_sidecar.analytics.stream import StreamHub
from metrics_sidecar.decode import Tick, Trade
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState


def tick(symbol: str, price: float) -> Tick:
    t = Tick(symbol=symbol, price=price, ts=1.0)
    t.ts_s = 1.0
    return t


def trade(qty: float, symbol: str | None = None) -> Trade:
    t = Trade(side="buy", qty=qty, ts=1.0, symbol=symbol)
    t.ts_s = 1.0
    return t


def test_ticks_conflate_and_trades_do_not() -> None:
    hub = StreamHub(capacity=10, max_clients=5)
    client = hub.subscribe(None)
    assert client is not None
    for price in (1.0, 2.0, 3.0):
        hub.publish_tick(tick("A", price))
    hub.publish_tick(tick("B", 7.0))
    hub.publish_trade(trade(1.0))
    hub.publish_trade(trade(2.0, "A"))
    items = client.take()
    assert [(type(i).__name__, getattr(i, "price", None) if type(i) is Tick else i.qty) for i in items] == [  # type: ignore[union-attr]
        ("Tick", 3.0), ("Tick", 7.0), ("Trade", 1.0), ("Trade", 2.0)]
    assert client.take() == []


def test_symbol_filter() -> None:
    hub = StreamHub(capacity=10, max_clients=5)
    client = hub.subscribe(frozenset({"A"}))
    assert client is not None
    hub.publish_tick(tick("B", 1.0))
    hub.publish_trade(trade(1.0))  # no symbol: only for unfiltered clients
    hub.publish_trade(trade(2.0, "A"))
    hub.publish_tick(tick("A", 2.0))
    assert [type(i).__name__ for i in client.take()] == ["Trade", "Tick"]


def test_a_full_client_is_dropped_and_the_others_keep_going() -> None:
    hub = StreamHub(capacity=3, max_clients=5)
    stalled, reader = hub.subscribe(None), hub.subscribe(None)
    assert stalled is not None and reader is not None
    for i in range(3):
        hub.publish_trade(trade(float(i)))
    assert len(reader.take()) == 3
    hub.publish_trade(trade(9.0))  # the stalled client had 3 pending: now full
    assert stalled.dropped and not reader.dropped
    assert hub.clients == (reader,) and hub.dropped == {"queue_full": 1, "slow": 0}
    assert stalled.take() == []  # its backlog was freed
    hub.drop(stalled, "slow")  # dropping twice counts once
    assert hub.dropped == {"queue_full": 1, "slow": 0}
    assert [t.qty for t in reader.take()] == [9.0]  # type: ignore[union-attr]
    for symbol in "ABC":  # ticks of known symbols replace each other: never full
        for _ in range(100):
            hub.publish_tick(tick(symbol, 1.0))
    assert not reader.dropped


def test_client_limit_and_unsubscribe() -> None:
    hub = StreamHub(capacity=3, max_clients=2)
    a, b = hub.subscribe(None), hub.subscribe(None)
    assert a is not None and b is not None and hub.subscribe(None) is None
    hub.unsubscribe(a)
    assert hub.clients == (b,) and hub.subscribe(None) is not None


def test_publishing_never_waits_for_a_reader() -> None:
    """The reader holds its lock only to swap the map: a publisher thread running
    against a busy reader finishes, and every trade is either read or counted full."""
    state = TelemetryState(Settings(sse_queue_size=100_000))
    assert state.analytics is not None
    hub = state.analytics.stream
    client = hub.subscribe(None)
    assert client is not None
    got: list[object] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            got.extend(client.take())
        got.extend(client.take())

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(20_000):
        hub.publish_trade(trade(float(i)))
    done.set()
    thread.join(10)  # a deadline for the reader's last take, not a speed target
    assert not thread.is_alive()
    assert len(got) == 20_000 and not client.dropped
    assert [t.qty for t in got] == [float(i) for i in range(20_000)]  # type: ignore[attr-defined]
