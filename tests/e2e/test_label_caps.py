"""The producer cap (SIDECAR_MAX_PRODUCERS, default 64) and the per-symbol source
cap (16) on a real sidecar process: the first names get series, every message of a
name past the cap goes to ``__overflow__`` and is counted exactly in
``series_overflow_total`` (docs/metrics.md)."""

from __future__ import annotations

import json
import time

import zmq

from telemetry_testkit.procs import Service, wait_until
from telemetry_testkit.prom import scrape

PRODUCER_CAP = 64  # the default SIDECAR_MAX_PRODUCERS (the sidecar fixture sets no SIDECAR_* but ports)
SOURCE_CAP = 16  # metrics_sidecar.state.MAX_SOURCES
OVERFLOW = "__overflow__"


def _received(sidecar: Service, kind: str, count: int) -> dict[str, float]:
    key = f'messages_received_total{{type="{kind}"}}'
    return wait_until(lambda: (m := scrape(sidecar.http + "/metrics/")) and m.get(key) == count and m, 30,
                      interval=0.1, message=f"{key} == {count}")


def _producers(metrics: dict[str, float]) -> set[str]:
    prefix = 'messages_lost_total{producer="'
    return {key[len(prefix):-2] for key in metrics if key.startswith(prefix)}


def test_producers_past_the_cap_share_the_overflow_series(sidecar: Service, push: zmq.Socket) -> None:
    producers, per_producer = PRODUCER_CAP + 16, 3
    now = time.time()
    for p in range(producers):
        for seq in range(1, per_producer + 1):
            push.send(json.dumps({"type": "trade", "side": "buy", "qty": 1, "ts": now, "symbol": "CAPS",
                                  "producer": f"p{p:02d}", "instance": "i", "seq": seq}).encode())

    metrics = _received(sidecar, "trade", producers * per_producer)
    assert _producers(metrics) == {f"p{p:02d}" for p in range(PRODUCER_CAP)} | {OVERFLOW}
    assert metrics['series_overflow_total{kind="producer"}'] == (producers - PRODUCER_CAP) * per_producer
    assert metrics['series_overflow_total{kind="symbol"}'] == 0
    # Each overflowed producer's own seq stream is still followed: no gap, so no loss anywhere.
    assert metrics[f'messages_lost_total{{producer="{OVERFLOW}"}}'] == 0
    assert sum(v for k, v in metrics.items() if k.startswith("messages_lost_total")) == 0
    assert metrics['trades_total{side="buy",symbol="CAPS"}'] == producers * per_producer
    assert sum(v for k, v in metrics.items() if k.startswith("messages_invalid_total")) == 0


def test_sources_past_the_cap_of_one_symbol_share_the_overflow_series(sidecar: Service, push: zmq.Socket) -> None:
    sources, per_source = SOURCE_CAP + 4, 2
    now = time.time()
    for s in range(sources):
        for _ in range(per_source):
            push.send(json.dumps({"type": "tick", "symbol": "SRC", "price": 100.0, "ts": now,
                                  "source": f"s{s:02d}"}).encode())
    # Another symbol has a cap of its own: its first source is not overflow.
    push.send(json.dumps({"type": "tick", "symbol": "OTHER", "price": 5.0, "ts": now, "source": "s19"}).encode())

    metrics = _received(sidecar, "tick", sources * per_source + 1)
    src = {key: value for key, value in metrics.items() if key.startswith("ticks_total{") and 'symbol="SRC"' in key}
    expected = {f'ticks_total{{source="s{s:02d}",symbol="SRC"}}': per_source for s in range(SOURCE_CAP)}
    expected[f'ticks_total{{source="{OVERFLOW}",symbol="SRC"}}'] = (sources - SOURCE_CAP) * per_source
    assert src == expected
    assert metrics['ticks_total{source="s19",symbol="OTHER"}'] == 1
    assert metrics['series_overflow_total{kind="source"}'] == (sources - SOURCE_CAP) * per_source
    assert sum(v for k, v in metrics.items() if k.startswith("messages_invalid_total")) == 0
