"""Fan-out of ticks and trades to Server-Sent-Events clients, built so that no
client can slow ingest.

The ingest thread hands each drained batch's trades and ticks to ``publish``
once: it keys them in one pass (ticks by symbol, so the batch's ticks of a symbol
conflate to the newest; trades by a fresh number each), then offers the keyed
batch to every subscribed client's pending map under one hold of that client's
lock (a ``dict.update``, never across I/O). Ticks are conflated per symbol: a
client that reads slower than ticks arrive sees the newest price, not a backlog.
Trades are kept one by one. A client whose pending map would pass ``capacity``
is dropped on the spot (reason ``queue_full``); the HTTP side also drops a client
whose socket does not accept a write in time (reason ``slow``). Either way ingest
only ever did dict inserts. (``publish_tick``/``publish_trade`` offer one event,
with the same rules.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..decode import Tick, Trade

DROP_REASONS = ("queue_full", "slow")
EVENT_TYPES = ("tick", "trade", "analytics")


class StreamClient:
    __slots__ = ("capacity", "dropped", "lock", "pending", "symbols")

    def __init__(self, symbols: frozenset[str] | None, capacity: int) -> None:
        self.symbols = symbols  # None: every symbol (and trades without one)
        self.capacity = capacity
        self.pending: dict[object, Tick | Trade] = {}
        self.lock = threading.Lock()
        self.dropped = False

    def wants(self, symbol: str | None) -> bool:
        return self.symbols is None or symbol in self.symbols

    def offer(self, key: object, item: Tick | Trade) -> bool:
        """Queue ``item`` (replacing the pending one with the same key); False when full."""
        with self.lock:
            pending = self.pending
            if len(pending) >= self.capacity and key not in pending:
                return False
            pending[key] = item
            return True

    def offer_batch(self, keyed: dict[object, Tick | Trade]) -> bool:
        """Queue a keyed batch (``StreamHub.publish``) under one hold of the lock, as
        ``offer`` would each item in order; False (nothing queued) when it does not fit."""
        wanted = self.symbols
        if wanted is not None:
            keyed = {key: item for key, item in keyed.items() if item.symbol in wanted}
            if not keyed:
                return True
        with self.lock:
            pending = self.pending
            if len(pending) + len(keyed) > self.capacity and len(pending.keys() | keyed.keys()) > self.capacity:
                return False
            pending.update(keyed)
            return True

    def take(self) -> list[Tick | Trade]:
        """Everything pending, oldest first; the map starts empty again."""
        with self.lock:
            items, self.pending = self.pending, {}
        return list(items.values())


class StreamHub:
    def __init__(self, capacity: int, max_clients: int,
                 on_change: Callable[[tuple[StreamClient, ...]], None] | None = None) -> None:
        self.capacity = capacity
        self._on_change = on_change  # told the new client tuple (the engine checks it per event)
        self.max_clients = max_clients
        # Copy-on-write: ingest iterates the tuple it read, membership changes swap it.
        self.clients: tuple[StreamClient, ...] = ()
        self._members = threading.Lock()
        self.dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.sent: dict[str, int] = dict.fromkeys(EVENT_TYPES, 0)
        self.closed = threading.Event()  # set on shutdown: every stream ends
        self._trade_key = 0

    def subscribe(self, symbols: frozenset[str] | None) -> StreamClient | None:
        """A new client, or None when ``max_clients`` are already connected."""
        with self._members:
            if len(self.clients) >= self.max_clients:
                return None
            client = StreamClient(symbols, self.capacity)
            self._set((*self.clients, client))
            return client

    def _set(self, clients: tuple[StreamClient, ...]) -> None:
        self.clients = clients
        if self._on_change is not None:
            self._on_change(clients)

    def unsubscribe(self, client: StreamClient) -> None:
        with self._members:
            self._set(tuple(c for c in self.clients if c is not client))

    def drop(self, client: StreamClient, reason: str) -> None:
        """Disconnect a client that cannot keep up; its pending events are freed."""
        with self._members:
            if client.dropped:
                return
            client.dropped = True
            self.dropped[reason] += 1
            self._set(tuple(c for c in self.clients if c is not client))
        with client.lock:
            client.pending = {}

    # -- ingest side (state.lock held; called only while ``clients`` is non-empty) ---
    def publish(self, events: list[Tick | Trade]) -> None:
        """A batch of trades and ticks, in order, to every client: keyed once (ticks
        by symbol, so a symbol's ticks conflate in this pass; everything else by a
        fresh number: an int never equals a symbol key, so trades never conflate),
        then one ``offer_batch`` per client."""
        clients = self.clients
        if not clients or not events:
            return
        start = self._trade_key
        self._trade_key = start + len(events)
        numbers = range(start + 1, start + len(events) + 1)
        keyed: dict[object, Tick | Trade]
        if Tick in map(type, events):
            keyed = {event.symbol if type(event) is Tick else number: event
                     for number, event in zip(numbers, events, strict=True)}
        else:  # trades only: nothing to conflate
            keyed = dict(zip(numbers, events, strict=True))
        for client in clients:
            if not client.offer_batch(keyed):
                self.drop(client, "queue_full")

    def publish_tick(self, tick: Tick) -> None:
        symbol = tick.symbol
        for client in self.clients:
            if client.wants(symbol) and not client.offer(symbol, tick):
                self.drop(client, "queue_full")

    def publish_trade(self, trade: Trade) -> None:
        self._trade_key += 1
        key = self._trade_key  # an int never equals a symbol key: trades are not conflated
        for client in self.clients:
            if client.wants(trade.symbol) and not client.offer(key, trade):
                self.drop(client, "queue_full")
