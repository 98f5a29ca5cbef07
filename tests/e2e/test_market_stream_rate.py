"""GET /stream of a real sidecar fed through a real PUSH socket: the per-client
write rate (``max_rate``, capped at SIDECAR_SSE_MAX_RATE) bounds how many updates a
client gets while ticks arrive far faster (conflated: always the newest price);
a client whose queue fills is dropped with ``queue_full`` while ingest goes on;
and stalled clients never block ingest (what they cost in time is benchmark B11)."""

from __future__ import annotations

import itertools
import json
import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from telemetry_testkit.procs import Service, running_sidecar, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.sockets import push_socket
from telemetry_testkit.sse import SseReader, stalled_client


def connect(sidecar: Service, readers: list[SseReader], **params: Any) -> SseReader:
    reader = SseReader(sidecar.http, params)
    readers.append(reader)
    reader.until(":", 10, lambda text: text == "connected")
    return reader


@pytest.fixture
def readers() -> Iterator[list[SseReader]]:
    out: list[SseReader] = []
    yield out
    for r in out:
        r.close()


def test_each_client_gets_at_most_its_rate_of_writes(tmp_path: Path, readers: list[SseReader]) -> None:
    env = {"SIDECAR_SSE_MAX_RATE": "20", "SIDECAR_SSE_HEARTBEAT_SECONDS": "60",
           "SIDECAR_SSE_ANALYTICS_INTERVAL_SECONDS": "1000"}
    with running_sidecar(tmp_path / "rate", env) as service, push_socket(service.zmq, unbounded=True) as push:
        slow = connect(service, readers, symbols="RATE", max_rate=2)
        default = connect(service, readers, symbols="RATE")  # SIDECAR_SSE_MAX_RATE: 20
        greedy = connect(service, readers, symbols="RATE", max_rate=1000)  # capped at 20
        # 1,200 ticks, 20 every 50 ms (at most 400 a second, 3 s at least), each price
        # higher than the one before.
        started = time.monotonic()
        for i in range(1, 1201):
            push.send(json.dumps({"type": "tick", "symbol": "RATE", "price": 100 + i / 1000, "ts": time.time()})
                      .encode())
            if i % 20 == 0:
                time.sleep(0.05)  # pace the sender: the stream, not this loop, must be the limit
        ended = time.monotonic()
        push.send(json.dumps({"type": "tick", "symbol": "RATE", "price": 999.0, "ts": time.time()}).encode())
        duration = ended - started
        for name, reader, rate in (("slow", slow, 2.0), ("default", default, 20.0), ("greedy", greedy, 20.0)):
            events = reader.until("tick", 10, lambda tick: tick["price"] == 999.0)  # the newest always arrives
            ticks = [(at, data["price"]) for at, event, data in events if event == "tick"]
            prices = [p for _, p in ticks]
            assert prices == sorted(set(prices)), name  # never an older price after a newer one
            during = [at for at, _ in ticks if started <= at <= ended]
            # Upper bounds only, which a correct limiter guarantees however slow the
            # machine: one write per 1/rate at most (+1 for a write at each end of the
            # interval). The exact writes (how many, when, which price) are
            # metrics-sidecar/tests/test_stream_rate_clock.py, under a controlled clock.
            assert len(during) <= rate * duration + 2, (name, len(during), duration)
            gaps = [b - a for a, b in itertools.pairwise(during)]
            assert not gaps or statistics.median(gaps) >= 0.8 / rate, (name, gaps)


def read_until(sock: socket.socket, marker: bytes, timeout: float) -> bytes:
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return data


def test_a_client_whose_queue_fills_is_dropped_and_ingest_goes_on(tmp_path: Path, readers: list[SseReader]) -> None:
    # One write every 2 s: the 500 trades below all arrive between two writes.
    env = {"SIDECAR_SSE_QUEUE_SIZE": "50", "SIDECAR_SSE_MAX_RATE": "0.5", "SIDECAR_SSE_WRITE_TIMEOUT_SECONDS": "60"}
    with running_sidecar(tmp_path / "full", env) as service, push_socket(service.zmq, unbounded=True) as push, \
            closing(stalled_client(service.http)) as stalled:
        wait_until(lambda: scrape(service.http + "/metrics/")["market_stream_clients"] == 1, 10,
                   message="stalled client in")
        now = time.time()
        for i in range(500):
            push.send(b'{"type":"trade","side":"buy","qty":1,"ts":%f,"symbol":"Q%d"}' % (now, i % 3))
        metrics = wait_until(lambda: (m := scrape(service.http + "/metrics/"))
                             and m['messages_received_total{type="trade"}'] == 500 and m, 20,
                             message="500 trades counted")
        assert sum(metrics[f'trades_total{{side="buy",symbol="Q{k}"}}'] for k in range(3)) == 500
        assert metrics['market_stream_clients_dropped_total{reason="queue_full"}'] == 1
        assert metrics['market_stream_clients_dropped_total{reason="slow"}'] == 0
        assert metrics["market_stream_clients"] == 0
        # What the dropped client gets when it reads again: the reason, then the end of the stream.
        body = read_until(stalled, b"0\r\n\r\n", 10)
        assert b": connected" in body
        assert b'event: error\ndata: {"reason":"queue_full"}\n\n' in body, body[-300:]
        # The stream is open to the next client.
        fresh = connect(service, readers)
        push.send(b'{"type":"trade","side":"sell","qty":2,"ts":%f,"symbol":"Q0"}' % time.time())
        got = fresh.until("trade", 10)[-1][2]
        assert (got["side"], got["qty"], got["symbol"], got["price"]) == ("sell", 2.0, "Q0", None)
        assert scrape(service.http + "/metrics/")["market_stream_clients"] == 1


def test_stalled_clients_never_block_ingest(tmp_path: Path) -> None:
    """A flood ingested while three stream clients never read: every message is counted
    while they stay connected (nobody dropped, nothing waits on them). How much they cost
    in time is a benchmark's business, not this test's."""
    env = {"SIDECAR_SSE_QUEUE_SIZE": "1000000", "SIDECAR_SSE_WRITE_TIMEOUT_SECONDS": "600"}
    with running_sidecar(tmp_path / "speed", env) as service, push_socket(service.zmq, unbounded=True) as push:
        n = 40_000
        stalled: list[socket.socket] = []
        counted = 0

        def flood() -> None:
            nonlocal counted
            now = time.time()
            template = b'{"type":"trade","side":"buy","qty":1,"ts":%f,"symbol":"F%d","price":%d}'
            for i in range(n):
                push.send(template % (now, i % 5, 100 + i % 7))
            counted += n
            wait_until(lambda: scrape(service.http + "/metrics/")['messages_received_total{type="trade"}'] == counted,
                       120, 0.02, f"{counted} trades counted")

        try:
            flood()  # before any client
            stalled.extend(stalled_client(service.http) for _ in range(3))
            wait_until(lambda: scrape(service.http + "/metrics/")["market_stream_clients"] == 3, 10,
                       message="three stalled clients in")
            flood()
            flood()
            metrics = scrape(service.http + "/metrics/")
            assert metrics['messages_received_total{type="trade"}'] == 3 * n
            assert metrics["market_stream_clients"] == 3  # still connected, still not reading
            assert sum(v for k, v in metrics.items() if k.startswith("market_stream_clients_dropped_total")) == 0
        finally:
            for sock in stalled:
                sock.close()
