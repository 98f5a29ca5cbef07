"""Native histograms: a real Prometheus 2.42 with --enable-feature=native-histograms negotiates
the protobuf exposition, and stores hop_latency_seconds as a native (sparse, exponential,
schema 3) histogram; its histogram_quantile over rate() agrees with the exact quantile within
one native bucket (2**(1/8), 9 %). Every other scraper keeps the classic buckets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from telemetry_testkit.procs import start_sidecar, wait_until
from telemetry_testkit.prom import scrape, start_prometheus
from telemetry_testkit.sockets import push_socket

pytestmark = pytest.mark.prometheus
BASE = 2 ** (1 / 8)  # one native bucket of schema 3
SERIES = 'hop_latency_seconds{hop="event_to_send",type="trade"}'


def trade(seq: int, latency: float) -> bytes:
    ts = time.time()
    return json.dumps({"type": "trade", "side": "buy", "qty": 1, "ts": ts, "sent_ts": ts + latency,
                       "producer": "nh", "instance": "i1", "seq": seq}).encode()


def test_native_histogram_quantile_agrees_with_the_exact_one(tmp_path: Path) -> None:
    sidecar = start_sidecar(tmp_path / "sidecar")
    prom = start_prometheus(tmp_path / "prom", {"metrics-sidecar": (sidecar.http.removeprefix("http://"), "/metrics/")},
                            rules=False, features=("native-histograms",))
    try:
        prom.wait_for_targets_up()
        with push_socket(sidecar.zmq) as push:
            push.send(trade(1, 0.001))  # the series exists before the measured batch: rate() sees all of it
            wait_until(lambda: prom.query(f"histogram_count({SERIES})"), 20, 0.2, "native series scraped")
            # 1900 at 1 ms, 100 at 50 ms: p99 is 50 ms (numpy's rule on 2001 samples, and rank 0.99 * 2000).
            for seq in range(2, 2002):
                push.send(trade(seq, 0.05 if seq % 20 == 0 else 0.001))
            # Inside the with: push_socket closes with LINGER 0, dropping what is still queued.
            wait_until(lambda: scrape(sidecar.http + "/metrics/").get('messages_received_total{type="trade"}')
                       == 2001, 20, message="all trades applied")
        wait_until(lambda: prom.value(f"histogram_count({SERIES})") == 2001, 20, 0.2, "Prometheus has them all")
        exact = scrape(sidecar.http + "/metrics/")[
            'hop_latency_recent_seconds{hop="event_to_send",quantile="0.99",type="trade"}']
        assert abs(exact - 0.05) < 1e-6
        native = prom.value(f"histogram_quantile(0.99, rate({SERIES}[1m]))")
        assert native is not None
        assert exact / BASE <= native <= exact * BASE
        # Stored as a native histogram: no classic _bucket series from this scrape.
        assert prom.query('hop_latency_seconds_bucket{hop="event_to_send"}') == []
        # Every other scraper still gets the classic buckets in the text format.
        plain = httpx.get(sidecar.http + "/metrics/", timeout=5)
        assert plain.headers["content-type"].startswith("text/plain")
        assert ('hop_latency_seconds_bucket{clock="same",hop="event_to_send",le="0.02",type="trade"} 1901.0'
                in plain.text)
    finally:
        prom.stop()
        sidecar.kill()
