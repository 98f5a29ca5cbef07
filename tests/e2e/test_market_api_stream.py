"""GET /stream of a real sidecar fed through a real PUSH socket: a tick reaches a
subscriber with its fields, then its analytics view (how soon: benchmark B12),
heartbeats keep an idle stream alive, bad parameters are refused, a client that
stops reading neither slows ingest nor stays forever, and SIGTERM ends open streams."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import zmq

from telemetry_testkit.procs import Service, running_sidecar, start_sidecar, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.sockets import push_socket
from telemetry_testkit.sse import SseReader, stalled_client

ENV = {"SIDECAR_SSE_HEARTBEAT_SECONDS": "0.3", "SIDECAR_SSE_MAX_RATE": "50",
       # The stalled client may only go by write timeout, and not within this test's checks.
       "SIDECAR_SSE_WRITE_TIMEOUT_SECONDS": "60", "SIDECAR_SSE_QUEUE_SIZE": "100000"}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_sidecar(tmp_path_factory.mktemp("stream"), ENV) as service:
        yield service


@pytest.fixture(scope="module")
def push(sidecar: Service) -> Iterator[zmq.Socket]:
    with push_socket(sidecar.zmq, unbounded=True) as sock:  # the flood below must not block or drop at the sender
        yield sock


@pytest.fixture
def reader(sidecar: Service) -> Iterator[SseReader]:
    readers: list[SseReader] = []
    yield readers  # type: ignore[misc]
    for r in readers:
        r.close()


def open_reader(sidecar: Service, readers: list[SseReader], **params: Any) -> SseReader:
    r = SseReader(sidecar.http, params)
    readers.append(r)
    r.wait_for(":", 10, lambda text: text == "connected")
    return r


def clients(sidecar: Service) -> float:
    return scrape(sidecar.http + "/metrics/")["market_stream_clients"]


def test_a_tick_reaches_the_stream_then_its_analytics_then_a_trade(sidecar: Service, push: zmq.Socket,
                                                                    reader: list[SseReader]) -> None:
    """What arrives, exactly; how soon is benchmark B12 (tick -> stream client)."""
    live = open_reader(sidecar, reader, symbols="LIVE")
    push.send(json.dumps({"type": "tick", "symbol": "LIVE", "price": 42.5, "volume": 2, "ts": time.time(),
                          "source": "test"}).encode())
    _, tick = live.wait_for("tick", 5)
    assert (tick["symbol"], tick["price"], tick["volume"], tick["source"]) == ("LIVE", 42.5, 2.0, "test")
    _, view = live.wait_for("analytics", 5)
    assert (view["symbol"], view["price"], view["analytics"]["sma"]) == ("LIVE", 42.5, 42.5)
    push.send(json.dumps({"type": "trade", "side": "sell", "qty": 3, "ts": time.time(), "symbol": "LIVE",
                          "price": 41.0}).encode())
    _, trade = live.wait_for("trade", 5)
    assert (trade["side"], trade["qty"], trade["price"]) == ("sell", 3.0, 41.0)


def test_idle_stream_gets_heartbeats(sidecar: Service, reader: list[SseReader]) -> None:
    quiet = open_reader(sidecar, reader, symbols="QUIET")
    beats = 0
    for _, event, text in quiet.events(10):
        beats += event == ":" and text == "keep-alive"
        if beats == 2:
            break
    assert beats == 2


@pytest.mark.parametrize(("params", "word"), [({"symbols": "A,b$d"}, "symbols"), ({"symbols": ","}, "symbols"),
                                              ({"max_rate": "0"}, "max_rate"), ({"max_rate": "fast"}, "max_rate"),
                                              ({"max_rate": "1e-9"}, "max_rate"), ({"max_rate": "0.09"}, "max_rate")])
def test_bad_parameters(sidecar: Service, params: dict[str, str], word: str) -> None:
    r = httpx.get(sidecar.http + "/stream", params=params, timeout=10)
    assert r.status_code == 422 and word in r.text
    (error,) = r.json()["detail"]  # the one error shape (docs/api.md)
    assert error["field"] == f"query.{word}", error


def test_the_slowest_allowed_stream_still_gets_keep_alives(sidecar: Service, reader: list[SseReader]) -> None:
    # max_rate 0.1 (the lower bound): a write chance every 10 s, so a keep-alive
    # (heartbeat 0.3 s here) comes at the latest 10.3 s after the last write.
    slow = open_reader(sidecar, reader, symbols="QUIET", max_rate="0.1")
    _, text = slow.wait_for(":", 25, lambda text: text == "keep-alive")
    assert text == "keep-alive"


def test_a_stalled_client_does_not_slow_ingest(sidecar: Service, push: zmq.Socket,
                                               reader: list[SseReader]) -> None:
    healthy = open_reader(sidecar, reader)
    before = scrape(sidecar.http + "/metrics/")
    stalled = stalled_client(sidecar.http)
    try:
        wait_until(lambda: clients(sidecar) == before["market_stream_clients"] + 1, 10, message="stalled client in")
        n = 30_000
        now = time.time()
        for i in range(n):
            push.send(b'{"type":"trade","side":"buy","qty":1,"ts":%f,"symbol":"FLOOD","price":%d}'
                      % (now, 100 + i % 7))
        push.send(json.dumps({"type": "tick", "symbol": "FLOOD", "price": 7.0, "ts": time.time()}).encode())
        key = 'trades_total{side="buy",symbol="FLOOD"}'
        metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/")) and m.get(key) == n and m, 60,
                             message=f"{n} trades counted")
        assert metrics['messages_received_total{type="trade"}'] == before['messages_received_total{type="trade"}'] + n
        assert metrics['messages_received_total{type="tick"}'] == before['messages_received_total{type="tick"}'] + 1
        # The stalled client is still connected (its write timeout is a minute away) ...
        assert metrics["market_stream_clients"] == before["market_stream_clients"] + 1
        # ... and the healthy one got everything, the last tick included.
        healthy.wait_for("tick", 30, lambda tick: tick["symbol"] == "FLOOD")
    finally:
        stalled.close()
    wait_until(lambda: clients(sidecar) == before["market_stream_clients"], 30, message="the stalled client gone")


def test_a_slow_client_is_dropped(tmp_path: Path) -> None:
    # Heartbeats keep writing after the flood: the write that finds the socket full times out.
    service = start_sidecar(tmp_path / "slow", {"SIDECAR_SSE_WRITE_TIMEOUT_SECONDS": "0.5",
                                                "SIDECAR_SSE_HEARTBEAT_SECONDS": "0.2",
                                                "SIDECAR_SSE_QUEUE_SIZE": "1000000"})
    try:
        with push_socket(service.zmq, unbounded=True) as push, closing(stalled_client(service.http)):
            wait_until(lambda: clients(service) == 1, 10, message="stalled client in")
            sent = 0

            def flood_until_dropped() -> bool:
                """Socket buffers differ between machines: send until they are full."""
                nonlocal sent
                now = time.time()
                for _ in range(5000):
                    push.send(b'{"type":"trade","side":"sell","qty":1,"ts":%f,"symbol":"S%d"}' % (now, sent % 10))
                    sent += 1
                return scrape(service.http + "/metrics/")['market_stream_clients_dropped_total{reason="slow"}'] == 1

            wait_until(flood_until_dropped, 60, message="the stalled client dropped as slow")
            metrics = scrape(service.http + "/metrics/")
            assert metrics["market_stream_clients"] == 0
            assert metrics['market_stream_clients_dropped_total{reason="queue_full"}'] == 0
            wait_until(lambda: scrape(service.http + "/metrics/")['messages_received_total{type="trade"}'] == sent,
                       30, message=f"all {sent} trades counted")
            assert service.popen.poll() is None
            assert "dropped a stream client: a write took longer than 0.5s" in service.log()
    finally:
        service.kill()


def test_sigterm_ends_open_streams_and_the_client_limit(tmp_path: Path) -> None:
    service = start_sidecar(tmp_path / "term", {"SIDECAR_SSE_MAX_CLIENTS": "1"})
    readers: list[SseReader] = []
    try:
        first = open_reader(service, readers)
        r = httpx.get(service.http + "/stream", timeout=10)
        assert r.status_code == 503 and "SIDECAR_SSE_MAX_CLIENTS=1" in r.json()["detail"][0]["message"]
        assert service.stop(timeout=10) == 0
        assert first.wait_for("<end>", 10) is not None
    finally:
        for reader in readers:
            reader.close()
        service.kill()
