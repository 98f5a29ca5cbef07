"""Exemplars to the exact trade: a real Prometheus (--enable-feature=exemplar-storage)
scrapes the real sidecar, which answers its OpenMetrics Accept header with exemplars on
the hop-latency buckets. One trade 250 ms late among thousands of fast ones is found by
/api/v1/query_exemplars on that hop's bucket series."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetry_testkit.procs import start_sidecar, wait_until
from telemetry_testkit.prom import scrape, start_prometheus
from telemetry_testkit.sockets import push_socket

pytestmark = pytest.mark.prometheus
FAST = 3000


def exemplars(prom_url: str, query: str, start: float) -> list[dict[str, Any]]:
    body = httpx.get(f"{prom_url}/api/v1/query_exemplars",
                     params={"query": query, "start": start, "end": time.time() + 60}, timeout=5).json()
    assert body["status"] == "success", body
    return [{**series["seriesLabels"], **ex["labels"], "value": float(ex["value"]), "timestamp": ex["timestamp"]}
            for series in body["data"] for ex in series["exemplars"]]


def test_a_late_trade_is_the_exemplar_of_its_bucket(tmp_path: Path) -> None:
    sidecar = start_sidecar(tmp_path / "sidecar")
    prom = start_prometheus(tmp_path / "prom", {"metrics-sidecar": (sidecar.http.removeprefix("http://"), "/metrics/")},
                            rules=False, features=("exemplar-storage",))
    try:
        prom.wait_for_targets_up()
        start = time.time()
        late_at = FAST // 2
        with push_socket(sidecar.zmq) as push:
            for seq in range(1, FAST + 2):
                now = time.time()
                # event_to_send = sent_ts - ts: 2**-12 s for the fast ones, 250 ms for the late one.
                ts = now - 0.25 if seq == late_at else now
                push.send(json.dumps({"type": "trade", "side": "buy", "qty": 1, "ts": ts, "sent_ts": ts + (
                    0.25 if seq == late_at else 2.0**-12), "producer": "ex", "instance": "i1", "seq": seq,
                    "event_id": "late-trade-1" if seq == late_at else f"fast-{seq}"}).encode())
            # Inside the with: push_socket closes with LINGER 0, dropping what is still queued.
            wait_until(lambda: scrape(sidecar.http + "/metrics/").get('messages_received_total{type="trade"}')
                       == FAST + 1, 20, message="every trade applied")
        query = 'hop_latency_seconds_bucket{hop="event_to_send",type="trade"}'
        found = wait_until(lambda: [e for e in exemplars(prom.url, query, start) if e["le"] == "0.5"] or None,
                           20, 0.25, "the 250 ms bucket's exemplar in Prometheus")
        assert {(e["event_id"], e["producer"], e["seq"], e["value"]) for e in found} == {
            ("late-trade-1", "ex", str(late_at), 0.25)}
        # The fast trades' bucket has a fast trade as its exemplar, never the late one.
        fast = [e for e in exemplars(prom.url, query, start) if e["le"] == "0.0005"]
        assert fast and all(e["event_id"].startswith("fast-") and e["value"] == 2.0**-12 for e in fast)
        # Everyone else still gets the plain text format.
        plain = httpx.get(sidecar.http + "/metrics/", timeout=5)
        assert plain.headers["content-type"].startswith("text/plain")
        assert "# EOF" not in plain.text and " # {" not in plain.text
    finally:
        prom.stop()
        sidecar.kill()
