"""The stream's batch fan-out (``StreamHub.publish``: one keyed pass per batch,
one lock hold per client) does exactly what offering each event in order did:
the same pending items in the same order, per-symbol conflation, filters, the
same clients dropped for ``queue_full`` at the same batch, the same counts."""

from __future__ import annotations

import random

import pytest

from metrics_sidecar.analytics.stream import StreamClient, StreamHub
from metrics_sidecar.decode import Tick, Trade

SYMBOLS = ("A", "B", "C", "D")


def tick(symbol: str, price: float) -> Tick:
    t = Tick(symbol=symbol, price=price, ts=1.0)
    t.ts_s = 1.0
    return t


def trade(qty: float, symbol: str | None) -> Trade:
    t = Trade(side="buy", qty=qty, ts=1.0, symbol=symbol)
    t.ts_s = 1.0
    return t


def one_by_one(hub: StreamHub, events: list[Tick | Trade]) -> None:
    """The fan-out as it was: each event offered to each client in turn."""
    for event in events:
        if isinstance(event, Trade):
            hub.publish_trade(event)
        else:
            hub.publish_tick(event)


def _hub(rng: random.Random) -> tuple[StreamHub, list[StreamClient]]:
    hub = StreamHub(capacity=rng.randint(1, 12), max_clients=8)
    clients = []
    for _ in range(rng.randint(1, 4)):
        wanted = None if rng.random() < 0.5 else frozenset(rng.sample(SYMBOLS, rng.randint(1, 3)))
        client = hub.subscribe(wanted)
        assert client is not None
        clients.append(client)
    return hub, clients


def _batch(rng: random.Random) -> list[Tick | Trade]:
    out: list[Tick | Trade] = []
    for i in range(rng.randint(0, 10)):
        if rng.random() < 0.6:
            out.append(tick(rng.choice(SYMBOLS), float(i)))
        else:
            out.append(trade(float(i), rng.choice((*SYMBOLS, None))))
    return out


def _seen(clients: list[StreamClient]) -> list[tuple[bool, list[tuple[str, str | None, float]]]]:
    return [(c.dropped, [(type(e).__name__, e.symbol, e.price if isinstance(e, Tick) else e.qty)
                         for e in c.pending.values()]) for c in clients]


@pytest.mark.parametrize("seed", range(200))
def test_a_batch_is_fanned_out_exactly_as_its_events_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    hub_a, clients_a = _hub(random.Random(seed))
    hub_b, clients_b = _hub(random.Random(seed))
    for _ in range(rng.randint(1, 6)):
        events = _batch(rng)
        one_by_one(hub_a, events)
        hub_b.publish(events)
        assert _seen(clients_b) == _seen(clients_a)
        assert hub_b.dropped == hub_a.dropped and len(hub_b.clients) == len(hub_a.clients)
        if rng.random() < 0.3:  # a reader takes what is pending between batches
            for a, b in zip(clients_a, clients_b, strict=True):
                assert b.take() == a.take()


def test_a_full_client_is_dropped_and_the_others_still_get_the_batch() -> None:
    hub = StreamHub(capacity=3, max_clients=5)
    small, other = hub.subscribe(None), hub.subscribe(frozenset({"A"}))
    assert small is not None and other is not None
    hub.publish([tick("A", 1.0), trade(1.0, "B"), tick("A", 2.0), trade(2.0, None)])  # 3 keys: fits
    assert [e.symbol for e in small.pending.values()] == ["A", "B", None]
    hub.publish([tick("A", 3.0)])  # conflates into the pending A: still fits
    hub.publish([tick("C", 1.0), tick("A", 4.0)])  # a fourth key: full
    assert small.dropped and small.pending == {} and hub.clients == (other,)
    assert hub.dropped == {"queue_full": 1, "slow": 0}
    assert [e.price for e in other.take() if isinstance(e, Tick)] == [4.0]  # A conflated to the newest
