"""B3: what ``publish()`` costs the caller, sidecar up and sidecar down, against a
bare ``socket.send(payload, NOBLOCK)`` on the same kind of socket and an
in-process prometheus_client ``.labels().inc()``. ``publish()`` stamps and queues;
the publisher's sender thread does the send (``trading_app/telemetry/push.py``).

Every call is timed on its own with ``perf_counter_ns`` (the timer pair itself
costs ~0.1 us and is reported as ``timer_overhead_us``), at a paced rate like an
app would call it, so the sidecar keeps up and no call meets a full queue. The
message dict is built outside the timed region; stamping it is part of the cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import zmq
from harness import free_port, percentile, start_sidecar, wait_until
from prometheus_client import CollectorRegistry, Counter

from trading_app.telemetry.push import PushPublisher as Publisher


def _message() -> dict[str, Any]:
    return {"type": "trade", "side": "buy", "qty": 1.0, "ts": time.time(), "symbol": "BTCUSDT", "price": 100.5}


def _paced(n: int, rate: float, call: Callable[[Any], object], make_arg: Callable[[], Any] = lambda: None,
           ) -> list[float]:
    """Time ``n`` calls ``call(make_arg())``, one every 1/rate s (busy-waiting in
    between, ``make_arg`` outside the timed region); microseconds per call."""
    clock = time.perf_counter_ns
    out = [0.0] * n
    gap = 1.0 / rate
    due = time.perf_counter()
    for i in range(n):
        while time.perf_counter() < due:
            pass
        due += gap
        arg = make_arg()
        t0 = clock()
        call(arg)
        t1 = clock()
        out[i] = (t1 - t0) / 1000.0
    return out


def _stats(samples: list[float]) -> dict[str, float]:
    # The share of calls over the 5 us p99 target says how far a p99 is from it.
    return {"p50": percentile(samples, 0.5), "p99": percentile(samples, 0.99), "n": len(samples),
            "over_5us": sum(1 for x in samples if x > 5.0) / max(len(samples), 1),
            "over_20us": sum(1 for x in samples if x > 20.0) / max(len(samples), 1)}


def _timer_overhead(n: int) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        t1 = clock()
        samples.append((t1 - t0) / 1000.0)
    return percentile(samples, 0.5)


def _bare_socket(context: zmq.Context, address: str) -> zmq.Socket:
    """A PUSH socket with the publisher's options, nothing else."""
    sock = context.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 10_000)
    sock.setsockopt(zmq.IMMEDIATE, 1)
    sock.connect(address)
    return sock


def _one_case(address: str, up: bool, n: int, rate: float) -> dict[str, Any]:
    payload = msgspec.json.encode(_message())
    context = zmq.Context()
    bare = _bare_socket(context, address)
    pub = Publisher(address, producer="bench-b3", heartbeat_interval=0, batch_backlog=True)
    try:
        if up:
            wait_until(lambda: pub.connected, 10, message="publisher connected")
            wait_until(lambda: bare.poll(0, zmq.POLLOUT), 10, message="bare socket connected")

        def bare_send(_: object) -> None:
            try:
                bare.send(payload, zmq.NOBLOCK)
            except zmq.Again:
                pass

        publish_us = _paced(n, rate, pub.publish, _message)
        trade_us = _paced(n, rate, lambda _: pub.trade("buy", 1.0, symbol="BTCUSDT", price=100.5))
        bare_us = _paced(n, rate, bare_send)
        queued = sum(pub.stats().sent.values())
    finally:
        pub.close()
        bare.close(linger=0)
        context.term()
    return {"publish": _stats(publish_us), "trade": _stats(trade_us), "bare_send": _stats(bare_us),
            "queued": queued, "samples": publish_us}


def run(log_dir: Path, n: int, rate: float, repeats: int) -> dict[str, Any]:
    registry = CollectorRegistry()
    counter = Counter("bench_trades", "B3 baseline", ["side", "symbol"], registry=registry)
    cases: dict[str, list[dict[str, Any]]] = {"up": [], "down": []}
    prom: list[dict[str, float]] = []
    for _ in range(repeats):
        sidecar = start_sidecar(log_dir)
        try:
            cases["up"].append(_one_case(sidecar.zmq, True, n, rate))
        finally:
            sidecar.stop()
        cases["down"].append(_one_case(f"tcp://127.0.0.1:{free_port()}", False, n, rate))
        prom.append(_stats(_paced(n, rate, lambda _: counter.labels("buy", "BTCUSDT").inc())))

    def med(rows: list[dict[str, Any]], key: str, q: str) -> float:
        values = sorted(r[key][q] for r in rows)
        return values[len(values) // 2]

    out: dict[str, Any] = {"n": n, "rate": rate, "repeats": repeats, "timer_overhead_us": _timer_overhead(10_000),
                           "prometheus_labels_inc": {"p50": med([{"x": p} for p in prom], "x", "p50"),
                                                     "p99": med([{"x": p} for p in prom], "x", "p99")}}
    for case, rows in cases.items():
        out[case] = {key: {"p50": med(rows, key, "p50"), "p99": med(rows, key, "p99"),
                           "over_5us": med(rows, key, "over_5us"),
                           "over_20us": med(rows, key, "over_20us")}
                     for key in ("publish", "trade", "bare_send")}
        out[case]["queued"] = rows[-1]["queued"]
        out[case]["samples"] = rows[-1]["samples"]
    return out
