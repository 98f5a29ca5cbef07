"""promtool check metrics on real scrapes: the sidecar's /metrics/ after real
traffic (every metric family populated), and the trading-app API's /metrics."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telemetry_testkit.procs import Service, require_binary, start_api, start_sidecar, wait_until
from telemetry_testkit.sockets import push_socket

pytestmark = pytest.mark.prometheus


def text_once(url: str, *needles: str) -> str | None:
    """The exposition at url once it contains every needle, else None (for wait_until)."""
    text = httpx.get(url, timeout=5).text
    return text if all(n in text for n in needles) else None


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_sidecar(tmp_path_factory.mktemp("lint") / "sidecar")
    yield service
    service.kill()


def test_sidecar_exposition_has_no_problems(sidecar: Service) -> None:
    require_binary("promtool")
    now = time.time()
    frames = [
        {"type": "trade", "side": "buy", "qty": 1.5, "ts": now},  # seed message
        {"type": "trade", "side": "sell", "qty": 2, "symbol": "BTCUSDT", "ts": now},
        {"type": "tick", "symbol": "BTCUSDT", "price": 100.0, "volume": 1, "source": "sim", "ts": now,
         "event_id": "t1"},
        {"type": "tick", "symbol": "BTCUSDT", "price": 150.0, "volume": 1, "source": "sim", "ts": now + 0.001,
         "event_id": "t2"},
        {"type": "heartbeat", "ts": now, "producer": "lint", "instance": "i1", "seq": 1, "sent_ts": now},
    ]
    with push_socket(sidecar.zmq) as push:
        for frame in frames:
            push.send(json.dumps(frame).encode())
        push.send(b"not json")
        text = wait_until(lambda: text_once(sidecar.http + "/metrics/", 'messages_invalid_total{reason="bad_json"} 1.0',
                                            'tick_spikes_total{symbol="BTCUSDT"} 1.0'),
                          10, message="sidecar applied the frames")
    for family in ("trades_total", "hop_latency_seconds_bucket", "hop_latency_recent_seconds",
                   "messages_lost_total", "producer_up", "tick_last_ts_seconds", "process_cpu_seconds_total"):
        assert family in text, family
    result = check_metrics(text)
    assert (result.returncode, result.stdout + result.stderr) == (0, ""), result.stdout + result.stderr


def test_api_exposition_has_no_problems(sidecar: Service, tmp_path: Path) -> None:
    require_binary("promtool")
    api = start_api(tmp_path / "api", sidecar.zmq)
    try:
        # A trade clicked before the publisher's handshake is dropped (counted as no_peer), by design.
        wait_until(lambda: httpx.get(api.http + "/health").json()["sidecar_connected"], 10, message="API connected")
        assert httpx.post(f"{api.http}/trade/buy", data={"qty": "1"}).status_code == 303
        text = wait_until(lambda: text_once(api.http + "/metrics", 'publisher_messages_sent_total{type="trade"} 1.0'),
                          10, message="API counted the trade")
    finally:
        api.kill()
    result = check_metrics(text)
    assert (result.returncode, result.stdout + result.stderr) == (0, ""), result.stdout + result.stderr


def test_promtool_does_flag_a_quantile_label_on_a_gauge() -> None:
    """Why hop_latency_recent_seconds is a summary: the same samples typed as a
    gauge are a problem for promtool."""
    text = ("# HELP x_seconds Exact quantile\n# TYPE x_seconds gauge\n"
            'x_seconds{hop="a",quantile="0.5"} 0.1\n')
    result = check_metrics(text)
    assert result.returncode != 0 and 'non-summary metrics should not have "quantile" label' in result.stderr
