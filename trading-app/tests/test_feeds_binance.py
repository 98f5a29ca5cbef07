"""Binance trade-stream mapping (table-driven, malformed messages counted and
skipped), and the feed against a real local WebSocket server: dropped and closed
connections, reconnects counted, backoff, stop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import zmq
from websockets.asyncio.server import ServerConnection

from telemetry_testkit.binance_ws import LocalStream
from telemetry_testkit.procs import free_port, wait_until
from trading_app.feeds import binance
from trading_app.feeds.base import FeedStats, TickSink
from trading_app.feeds.binance import BinanceFeed, TradeTick, backoff_delays, map_message
from trading_app.prices import LastPrices
from trading_app.telemetry.push import PushPublisher as Publisher

T_MS = 1_700_000_000_123


def trade(t: int, price: str, symbol: str = "BTCUSDT", qty: str = "0.015", trade_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if trade_ms is None else trade_ms
    return json.dumps({"e": "trade", "E": ms, "s": symbol, "t": t, "p": price, "q": qty, "T": ms,
                       "m": True, "M": True})


def event(**fields: Any) -> str:
    base: dict[str, Any] = {"e": "trade", "E": T_MS, "s": "BTCUSDT", "t": 7, "p": "65000.10", "q": "0.5", "T": T_MS}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not DROP})


DROP = object()


@pytest.mark.parametrize(("raw", "expected"), [
    (event(), TradeTick("BTCUSDT", 65000.10, 0.5, T_MS / 1000, "binance-BTCUSDT-7")),
    (event(p=65000.1, q=2), TradeTick("BTCUSDT", 65000.1, 2.0, T_MS / 1000, "binance-BTCUSDT-7")),
    (event(s="ethusdt", q="0"), TradeTick("ETHUSDT", 65000.10, 0.0, T_MS / 1000, "binance-ETHUSDT-7")),
    (event(e=DROP), TradeTick("BTCUSDT", 65000.10, 0.5, T_MS / 1000, "binance-BTCUSDT-7")),
    ('{"stream":"btcusdt@trade","data":' + event(t=9) + "}",
     TradeTick("BTCUSDT", 65000.10, 0.5, T_MS / 1000, "binance-BTCUSDT-9")),
    (event().encode(), TradeTick("BTCUSDT", 65000.10, 0.5, T_MS / 1000, "binance-BTCUSDT-7")),
    ("not json", binance.BAD_JSON),
    ('{"e":"trade",', binance.BAD_JSON),
    (b"\xff\xfe", binance.BAD_JSON),
    ("[" * 100_000, binance.BAD_JSON),
    ("[1,2]", binance.NOT_OBJECT),
    ('"hello"', binance.NOT_OBJECT),
    ("null", binance.NOT_OBJECT),
    ('{"result":null,"id":1}', binance.NOT_TRADE),
    (event(e="aggTrade"), binance.NOT_TRADE),
    (event(s=DROP), binance.MISSING_FIELD),
    (event(p=DROP), binance.MISSING_FIELD),
    (event(q=DROP), binance.MISSING_FIELD),
    (event(T=DROP), binance.MISSING_FIELD),
    (event(t=DROP), binance.MISSING_FIELD),
    (event(p="abc"), binance.BAD_FIELD),
    (event(p="NaN"), binance.BAD_FIELD),
    (event(p="Infinity"), binance.BAD_FIELD),
    (event(p="0.00000000"), binance.BAD_FIELD),
    (event(p="-1"), binance.BAD_FIELD),
    (event(p=None), binance.BAD_FIELD),
    (event(p=True), binance.BAD_FIELD),
    (event(q="-0.1"), binance.BAD_FIELD),
    (event(T="1700000000123"), binance.BAD_FIELD),
    (event(T=1.7e12), binance.BAD_FIELD),
    (event(T=0), binance.BAD_FIELD),
    (event(T=10**17), binance.BAD_FIELD),  # nanoseconds, not milliseconds
    (event(t=-1), binance.BAD_FIELD),
    (event(t=False), binance.BAD_FIELD),
    (event(s=""), binance.BAD_FIELD),
    (event(s="BTC USDT"), binance.BAD_FIELD),
    (event(s=123), binance.BAD_FIELD),
    (event(s="X" * 33), binance.BAD_FIELD),
])
def test_map_message(raw: str | bytes, expected: TradeTick | str) -> None:
    assert map_message(raw) == expected


def test_backoff_doubles_up_to_the_cap() -> None:
    assert backoff_delays(0.5, 30) == [0.5, 1, 2, 4, 8, 16, 30]
    assert backoff_delays(1, 1) == [1]


# -- a real local WebSocket server speaking the Binance trade format ----------

async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("server-side wait timed out")
        await asyncio.sleep(0.005)


def test_relay_survives_a_dropped_and_a_closed_connection(pull: tuple[zmq.Socket, str]) -> None:
    sock, address = pull
    stats = FeedStats("binance")

    async def handler(ws: ServerConnection, index: int) -> None:
        if index == 0:  # 3 trades and 2 malformed messages, then the TCP connection drops (no close frame)
            for i, msg in enumerate([trade(1, "65000.1"), "garbage", trade(2, "65000.2"),
                                     '{"e":"trade","s":"BTCUSDT"}', trade(3, "65000.3")]):
                await ws.send(msg)
                if i == 0:
                    await ws.send(json.dumps({"result": None, "id": 1}))
            await until(lambda: stats.ticks_sent == 3)  # the client has them: now drop it
            ws.transport.abort()
        elif index == 1:  # a clean close, like Binance's 24-hour disconnect
            await ws.send(trade(4, "65000.4"))
            await ws.send(trade(5, "65000.5"))
            await ws.close(1001, "going away")
        else:
            await ws.send(trade(6, "65000.6", symbol="ETHUSDT"))
            await ws.send(trade(7, "65000.7"))
            await ws.wait_closed()

    server = LocalStream(handler)
    prices = LastPrices()
    try:
        with Publisher(address, producer="test-binance", heartbeat_interval=0) as pub:
            assert pub.wait_connected(5)
            feed = BinanceFeed(TickSink(pub, prices, stats), server.url, backoff_initial=0.01, backoff_max=0.05,
                               count=7)
            thread = threading.Thread(target=feed.run)
            started = time.time()
            thread.start()
            thread.join(10)
            assert not thread.is_alive()
            messages = [json.loads(sock.recv()) for _ in range(7) if sock.poll(5000)]
            ended = time.time()
    finally:
        server.close()
    assert [m["event_id"] for m in messages] == [f"binance-{'ETH' if i == 6 else 'BTC'}USDT-{i}" for i in range(1, 8)]
    assert [m["price"] for m in messages] == [65000.1, 65000.2, 65000.3, 65000.4, 65000.5, 65000.6, 65000.7]
    assert {m["source"] for m in messages} == {"binance"}
    # ts is the trade time T (whole ms, stamped by the server above), in seconds; then sent.
    assert all(started - 0.001 <= m["ts"] <= m["sent_ts"] <= ended for m in messages)
    assert server.connections == 3
    snap = stats.snapshot()
    assert (snap["ticks_sent"], snap["reconnects"], snap["disconnects"], snap["connect_failures"]) == (7, 2, 2, 0)
    assert snap["skipped"] == {binance.BAD_JSON: 1, binance.MISSING_FIELD: 1, binance.NOT_TRADE: 1}
    assert feed.reconnects == 2
    assert prices.all() == {"BTCUSDT": 65000.7, "ETHUSDT": 65000.6}


def test_unreachable_stream_backs_off_and_stop_ends_it(pull: tuple[zmq.Socket, str]) -> None:
    _sock, address = pull
    with Publisher(address, heartbeat_interval=0) as pub:
        feed = BinanceFeed(TickSink(pub, None, FeedStats("binance")), f"ws://127.0.0.1:{free_port()}/ws",
                           backoff_initial=0.01, backoff_max=0.04)
        thread = threading.Thread(target=feed.run)
        thread.start()
        wait_until(lambda: feed.stats.connect_failures >= 4, 10, message="four failed attempts")
        feed.stop()
        thread.join(3)
        assert not thread.is_alive()
    assert feed.stats.reconnects == 0 and feed.stats.ticks_sent == 0


def test_stop_while_connected_and_idle(pull: tuple[zmq.Socket, str]) -> None:
    _sock, address = pull

    async def handler(ws: ServerConnection, _index: int) -> None:
        await ws.wait_closed()

    server = LocalStream(handler)
    try:
        with Publisher(address, heartbeat_interval=0) as pub:
            feed = BinanceFeed(TickSink(pub, None, FeedStats("binance")), server.url)
            thread = threading.Thread(target=feed.run)
            thread.start()
            wait_until(lambda: feed.connected, 5, message="connected")
            feed.stop()
            thread.join(3)
            assert not thread.is_alive()
            assert not feed.connected
    finally:
        server.close()


def test_stop_before_run_returns_at_once(pull: tuple[zmq.Socket, str]) -> None:
    _sock, address = pull
    with Publisher(address, heartbeat_interval=0) as pub:
        feed = BinanceFeed(TickSink(pub, None, FeedStats("binance")), f"ws://127.0.0.1:{free_port()}/ws")
        feed.stop()
        feed.run()
    assert feed.stats.connect_failures == 0
