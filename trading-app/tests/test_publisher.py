"""The publisher against real ZeroMQ sockets: never blocks, counts what it could
not send, stamps producer/instance/seq, is thread-safe, and emits schema-valid JSON."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest
import zmq

from telemetry_testkit.fixtures import load_messages
from telemetry_testkit.procs import free_port, wait_until
from trading_app.telemetry.messages import heartbeat_message, tick_message, trade_message
from trading_app.telemetry.push import DURATION_SAMPLE
from trading_app.telemetry.push import PushPublisher as Publisher

STAMP = ("producer", "instance", "seq", "event_id", "sent_ts")
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "schema" / "message.json").read_text())


def recv_json(sock: zmq.Socket, n: int) -> list[dict[str, object]]:
    out = []
    for _ in range(n):
        assert sock.poll(5000), "message did not arrive"
        out.append(json.loads(sock.recv()))
    return out


def test_without_a_sidecar_publish_returns_at_once_and_counts_the_drop() -> None:
    """Nothing waits for the missing peer: each call is a counted ``no_peer`` drop and
    nothing is held back, so a peer that appears later gets only what comes after
    (how long a call takes is benchmark B3's business, sidecar down)."""
    port = free_port()
    with Publisher(f"tcp://127.0.0.1:{port}", heartbeat_interval=0) as pub:
        results = [pub.trade("buy", 1) for _ in range(100)]
        assert not any(r.queued for r in results)
        assert {r.reason for r in results} == {"no_peer"}
        assert pub.stats().dropped == {("trade", "no_peer"): 100}
        assert [r.seq for r in results] == list(range(1, 101))  # drops still consume seq: loss is visible
        # One call in DURATION_SAMPLE is timed (the one whose seq is a multiple of it): seq 64.
        assert sum(pub.stats().duration_counts) == sum(1 for r in results if r.seq % DURATION_SAMPLE == 0) == 1
        assert pub.backlog() == 0  # nothing queued to wait for the peer
        assert pub.connected is False
        context = zmq.Context()
        late = context.socket(zmq.PULL)
        late.setsockopt(zmq.LINGER, 0)
        try:
            late.bind(f"tcp://127.0.0.1:{port}")
            wait_until(lambda: pub.connected, 10, message="the publisher connects to the late peer")
            assert pub.trade("sell", 2).queued
            # One ordered connection: anything held back would arrive before this.
            first, = recv_json(late, 1)
            assert (first["seq"], first["side"]) == (101, "sell")
        finally:
            late.close()
            context.term()


def test_messages_arrive_stamped_and_schema_valid(pull: tuple[zmq.Socket, str]) -> None:
    sock, addr = pull
    with Publisher(addr, producer="unit", heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 5, message="monitor reports CONNECTED")
        before = time.time()
        pub.trade("sell", 2.5, symbol="BTCUSDT", price=101.5)
        pub.tick("BTCUSDT", 101.0, volume=3, event_id="feed-1", bid=100.9, ask=101.1)
        pub.heartbeat()
        trade, tick, heartbeat = recv_json(sock, 3)
        after = time.time()
    assert trade["type"] == "trade" and trade["side"] == "sell" and trade["qty"] == 2.5
    assert (trade["producer"], trade["seq"], tick["seq"], heartbeat["seq"]) == ("unit", 1, 2, 3)
    assert trade["instance"] == tick["instance"] == heartbeat["instance"]
    assert tick["event_id"] == "feed-1" and trade["event_id"] == f"{trade['instance']}-1"
    for message in (trade, tick, heartbeat):
        jsonschema.validate(message, SCHEMA)
        # Stamped by the calls above: the event time first, then the send time.
        assert before <= float(message["ts"]) <= float(message["sent_ts"]) <= after  # type: ignore[arg-type]


def test_builder_messages_are_stamped_in_place_and_leave_without_placeholders(pull: tuple[zmq.Socket, str]) -> None:
    """The builders write the stamp's keys as None placeholders (and their optional
    fields, deleted when absent), so publish() only overwrites values: the dict's
    table is never regrown in the caller. On the wire no placeholder is left, an
    absent optional field is absent, and an ``event_id`` given as None is generated
    like a missing one."""
    sock, addr = pull
    built = [trade_message("buy", 1), trade_message("sell", 2, symbol="ETHUSDT", price=10),
             tick_message("BTCUSDT", 101.0), tick_message("BTCUSDT", 101.0, event_id="feed-7", bid=100.0, ask=102.0),
             heartbeat_message()]
    plain = {"type": "trade", "side": "buy", "qty": 3.0, "ts": time.time(), "event_id": None}
    with Publisher(addr, producer="unit", heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 5, message="monitor reports CONNECTED")
        sizes = [sys.getsizeof(m) for m in built]
        results = [pub.publish(m) for m in [*built, plain]]
        assert [sys.getsizeof(m) for m in built] == sizes  # stamped in place: no resize
        received = recv_json(sock, 6)
    assert [r.queued for r in results] == [True] * 6
    assert [m["seq"] for m in received] == [1, 2, 3, 4, 5, 6]
    assert [sorted(m) for m in received] == [
        sorted(["type", "side", "qty", "ts", *STAMP]),
        sorted(["type", "side", "qty", "ts", "symbol", "price", *STAMP]),
        sorted(["type", "symbol", "price", "volume", "source", "ts", *STAMP]),
        sorted(["type", "symbol", "price", "volume", "source", "ts", "bid", "ask", *STAMP]),
        sorted(["type", "ts", *STAMP]),
        sorted(["type", "side", "qty", "ts", *STAMP])]
    instance = received[0]["instance"]
    assert [m["event_id"] for m in received] == [f"{instance}-1", f"{instance}-2", f"{instance}-3", "feed-7",
                                                 f"{instance}-5", f"{instance}-6"]
    assert [r.event_id for r in results] == [m["event_id"] for m in received]
    for message in received:
        assert None not in message.values()
        jsonschema.validate(message, SCHEMA)


@pytest.mark.parametrize(("name", "raw"), load_messages("valid"))
def test_shared_valid_fixtures_satisfy_the_published_schema(name: str, raw: bytes) -> None:
    jsonschema.validate(json.loads(raw), SCHEMA)


def test_concurrent_publishers_get_unique_contiguous_seqs(pull: tuple[zmq.Socket, str]) -> None:
    sock, addr = pull
    with Publisher(addr, heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 5, message="connected")

        def work() -> None:
            for _ in range(500):
                pub.trade("buy", 1)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seqs = sorted(int(m["seq"]) for m in recv_json(sock, 2000))  # type: ignore[call-overload]
        assert seqs == list(range(1, 2001))
        assert pub.stats().sent == {"trade": 2000}


def test_monitor_sees_disconnect_and_reconnect() -> None:
    port = free_port()
    ctx = zmq.Context()
    with Publisher(f"tcp://127.0.0.1:{port}", heartbeat_interval=0) as pub:
        assert pub.connected is False
        sock = ctx.socket(zmq.PULL)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(f"tcp://127.0.0.1:{port}")
        wait_until(lambda: pub.connected, 5, message="CONNECTED")
        assert pub.trade("buy", 1).queued
        sock.close()
        wait_until(lambda: not pub.connected, 5, message="DISCONNECTED")
        assert pub.trade("buy", 1).reason == "no_peer"
    ctx.term()


def test_shards_by_symbol_with_a_seq_per_endpoint() -> None:
    ctx = zmq.Context()
    socks = [ctx.socket(zmq.PULL) for _ in range(2)]
    addrs = [f"tcp://127.0.0.1:{s.bind_to_random_port('tcp://127.0.0.1')}" for s in socks]
    symbols = [f"SYM{i}" for i in range(20)]
    with Publisher(",".join(addrs), heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 5, message="both connected")
        for _ in range(3):
            for symbol in symbols:
                pub.tick(symbol, 1.0)
        seen: list[dict[str, str]] = [{}, {}]
        per_socket = [0, 0]
        for i, sock in enumerate(socks):
            while sock.poll(300):
                msg = json.loads(sock.recv())
                per_socket[i] += 1
                assert msg["seq"] == per_socket[i]  # contiguous per endpoint: exact loss accounting
                seen[i][msg["symbol"]] = addrs[i]
    assert sum(per_socket) == 60 and all(per_socket)
    assert not set(seen[0]) & set(seen[1]) and set(seen[0]) | set(seen[1]) == set(symbols)
    for s in socks:
        s.close(linger=0)
    ctx.term()


@pytest.mark.parametrize("batch_backlog", [False, True])
def test_a_message_json_cannot_hold_is_a_counted_drop_and_the_sender_goes_on(
        pull: tuple[zmq.Socket, str], batch_backlog: bool) -> None:
    """publish() takes the caller's dict and the sender thread encodes it later: a value
    JSON cannot hold costs that message (``unencodable``, its seq lost), never the
    sender thread, alone or inside a backlog batch."""
    sock, addr = pull
    with Publisher(addr, producer="unit", heartbeat_interval=0, batch_backlog=batch_backlog) as pub:
        wait_until(lambda: pub.connected, 5, message="monitor reports CONNECTED")
        bad = {"type": "trade", "side": "buy", "qty": 1.0, "note": object()}
        results = [pub.trade("buy", 1), pub.publish(bad), pub.trade("sell", 2)]
        assert [r.queued for r in results] == [True, True, True]  # the caller is never the one to find out
        received: list[dict[str, object]] = []
        while len(received) < 2:
            assert sock.poll(5000), "message did not arrive"
            frame = json.loads(sock.recv())
            received.extend(frame if isinstance(frame, list) else [frame])
        assert [(m["seq"], m["side"]) for m in received] == [(1, "buy"), (3, "sell")]
        wait_until(lambda: pub.stats().dropped == {("trade", "unencodable"): 1}, 5, message="the drop counted")
        assert pub.trade("buy", 3).queued  # the sender thread is alive: later messages still leave
        later, = recv_json(sock, 1)
        assert (later["seq"], later["side"]) == (4, "buy")
