"""The real sidecar process fed by a plain PUSH socket: exact counts, bad frames
counted by reason while every valid neighbour is still counted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import zmq

from telemetry_testkit.fixtures import load_messages
from telemetry_testkit.procs import Service, running_sidecar, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.sockets import push_socket


def test_one_thousand_seed_messages_are_counted_exactly(sidecar: Service, push: zmq.Socket) -> None:
    sent_ts = [time.time() + i * 1e-6 for i in range(1000)]  # distinct, increasing
    for i, ts in enumerate(sent_ts):
        side = "buy" if i % 4 else "sell"
        push.send(json.dumps({"type": "trade", "side": side, "qty": 0.25 + (i % 3), "ts": ts}).encode())
    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                         and m.get('trades_total{side="buy",symbol=""}', 0) + m.get(
                             'trades_total{side="sell",symbol=""}', 0) == 1000 and m, 10, message="1000 trades")
    expected = {"buy": 0.0, "sell": 0.0}
    for i in range(1000):
        expected["buy" if i % 4 else "sell"] += 0.25 + (i % 3)
    assert metrics['trades_total{side="buy",symbol=""}'] == 750
    assert metrics['trades_total{side="sell",symbol=""}'] == 250
    assert metrics['volume_total{side="buy",symbol=""}'] == expected["buy"]
    assert metrics['volume_total{side="sell",symbol=""}'] == expected["sell"]
    assert metrics['messages_received_total{type="trade"}'] == 1000
    assert metrics["trade_latency_seconds_count"] == 1000
    assert metrics["last_trade_ts_seconds"] == sent_ts[-1]  # the last trade's own timestamp


def test_malformed_frames_are_counted_by_reason_and_neighbours_survive(sidecar: Service, push: zmq.Socket) -> None:
    invalid = load_messages("invalid")
    valid = b'{"type":"trade","side":"buy","qty":2,"ts":%f}'
    rounds = 5
    for _ in range(rounds):
        for _name, raw in invalid:
            push.send(valid % time.time())
            push.send(raw)
        push.send(b"x" * 70_000)  # over SIDECAR_MAX_MESSAGE_BYTES (64 KiB)
        push.send_multipart([valid % time.time(), b"junk"])  # multipart is not the protocol
    push.send(valid % time.time())
    n_valid = rounds * len(invalid) + 1

    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                         and m.get('trades_total{side="buy",symbol=""}') == n_valid and m, 10,
                         message=f"{n_valid} valid trades")
    expected: dict[str, int] = {}
    for name, raw in invalid:
        reason = name.split("__")[0]
        # An array frame is a batch: each element is judged (and counted) alone.
        per_frame = len(json.loads(raw)) if raw.startswith(b"[") else 1
        expected[reason] = expected.get(reason, 0) + rounds * per_frame
    expected["too_large"] = rounds
    expected["multipart"] = 2 * rounds
    for reason, count in expected.items():
        assert metrics[f'messages_invalid_total{{reason="{reason}"}}'] == count, reason
    assert metrics['volume_total{side="buy",symbol=""}'] == 2 * n_valid
    assert httpx.get(sidecar.http + "/health").status_code == 200
    assert sidecar.popen.poll() is None


def test_events_endpoint_shows_what_arrived_newest_first(sidecar: Service, push: zmq.Socket) -> None:
    for qty in (1, 2, 3):
        push.send(b'{"type":"trade","side":"sell","qty":%d,"ts":%f,"symbol":"ETHUSDT"}' % (qty, time.time()))
    events = wait_until(lambda: (e := httpx.get(sidecar.http + "/events", params={"limit": 2}).json()["events"])
                        and len(e) == 2 and e[0]["qty"] == 3 and e, 10, message="events")
    assert [(e["qty"], e["symbol"], e["side"]) for e in events] == [(3.0, "ETHUSDT", "sell"), (2.0, "ETHUSDT", "sell")]
    bad = httpx.get(sidecar.http + "/events", params={"limit": "lots"})
    assert bad.status_code == 422 and "limit" in bad.text
    assert httpx.get(sidecar.http + "/events", params={"limit": 10**6}).status_code == 422


def test_health_endpoints(sidecar: Service) -> None:
    body = httpx.get(sidecar.http + "/health").json()
    assert body["status"] == "ok" and body["loop_running"] is True and body["zmq_endpoint"] == sidecar.zmq
    assert httpx.get(sidecar.http + "/health/liveness").status_code == 200
    assert httpx.get(sidecar.http + "/health/readiness").status_code == 200
    assert httpx.get(sidecar.http + "/metrics").status_code == 200


@pytest.mark.parametrize(("mode", "logged"), [
    ("python", "PULL drain: Python (SIDECAR_PULL_DRAIN=python)"),
    ("core", "PULL drain: the core's, through "),
])
def test_the_drain_setting_is_obeyed_by_a_real_sidecar(tmp_path: Path, mode: str, logged: str) -> None:
    """SIDECAR_PULL_DRAIN in a real sidecar process: the drain it asked for, said in
    the log, and the same exact counts (good trades around a bad frame) either way."""
    with running_sidecar(tmp_path / mode, {"SIDECAR_PULL_DRAIN": mode}) as sidecar, \
            push_socket(sidecar.zmq) as push:
        for i in range(200):
            push.send(json.dumps({"type": "trade", "side": "buy", "qty": 1.5, "ts": time.time()}).encode())
            if i == 100:
                push.send(b"{not json")
        metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                             and m.get('trades_total{side="buy",symbol=""}') == 200 and m, 10,
                             message="200 trades")
        assert metrics['volume_total{side="buy",symbol=""}'] == 300.0
        assert metrics['messages_invalid_total{reason="bad_json"}'] == 1
        assert logged in sidecar.log()
