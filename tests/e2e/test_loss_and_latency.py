"""Loss accounting and latency truth, through real sockets to the real sidecar."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import zmq

from support.procs import Service, start_sidecar, wait_until
from support.prom import scrape
from trading_app.publisher import Publisher


def _hb(producer: str, instance: str, seq: int) -> bytes:
    now = time.time()
    return json.dumps({"type": "heartbeat", "ts": now, "sent_ts": now, "producer": producer,
                       "instance": instance, "seq": seq}).encode()


def test_skipped_seqs_are_lost_exactly_and_a_restart_is_not(sidecar: Service, push: zmq.Socket) -> None:
    skipped = 0
    seq = 0
    for i in range(300):
        step = 1 + (i % 7 == 3) * (i % 5 + 1)  # skip 1..5 now and then
        skipped += step - 1
        seq += step
        push.send(_hb("gappy", "run1", seq))
    for seq in range(1, 101):  # a well-behaved producer restarted twice: new instance each time
        push.send(_hb("steady", "boot1", seq))
    for seq in range(1, 51):
        push.send(_hb("steady", "boot2", seq))
    push.send(_hb("steady", "boot3", 1))
    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                         and m.get('messages_received_total{type="heartbeat"}') == 451 and m, 10,
                         message="all heartbeats")
    assert skipped > 0
    assert metrics['messages_lost_total{producer="gappy"}'] == skipped
    assert metrics['messages_lost_total{producer="steady"}'] == 0
    assert metrics['producer_up{producer="gappy"}'] == 1


def test_publisher_drops_show_up_as_loss_with_no_help_from_the_publisher(sidecar: Service) -> None:
    with Publisher(sidecar.zmq, producer="hwm", sndhwm=10, heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 5, message="connected")
        results = [pub.tick("BTCUSDT", 100.0) for _ in range(20_000)]
        dropped = sum(not r.queued for r in results)
        last_queued = max(r.seq for r in results if r.queued)
        metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                             and m.get('messages_received_total{type="tick"}') == 20_000 - dropped and m, 20,
                             message="queued ticks arrive")
    lost = metrics['messages_lost_total{producer="hwm"}']
    # Loss is only visible up to the last seq that arrived; drops after it are a gap nobody closed yet.
    assert lost == sum(1 for r in results if not r.queued and r.seq < last_queued)
    assert pub.snapshot()["dropped"].get(("tick", "hwm"), 0) == dropped


def test_producer_down_after_three_missed_heartbeats(tmp_path: Path) -> None:
    sidecar = start_sidecar(tmp_path, {"SIDECAR_HEARTBEAT_INTERVAL_SECONDS": "0.2"})
    try:
        with Publisher(sidecar.zmq, producer="beating", heartbeat_interval=0.1) as pub:
            wait_until(lambda: scrape(sidecar.http + "/metrics/").get('producer_up{producer="beating"}') == 1, 10,
                       message="producer up")
            assert pub.connected
        stopped = time.monotonic()
        wait_until(lambda: scrape(sidecar.http + "/metrics/").get('producer_up{producer="beating"}') == 0, 5,
                   message="producer down")
        assert time.monotonic() - stopped >= 0.3  # not before ~3 intervals (0.6 s minus the last beat's age)
    finally:
        sidecar.kill()


def test_latency_truth_event_to_send_and_transport(sidecar: Service) -> None:
    """A publisher that waits a known 50 ms between event time and send."""
    with Publisher(sidecar.zmq, producer="lat", heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 5, message="connected")
        for _ in range(60):
            event_time = time.time()
            target = time.perf_counter() + 0.050
            while time.perf_counter() < target:  # busy-wait: sleep() overshoots by a scheduler tick
                pass
            pub.trade("buy", 1, ts=event_time)
            time.sleep(0.005)
    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                         and m.get('messages_received_total{type="trade"}') == 60 and m, 10, message="60 trades")
    key = 'hop_latency_recent_seconds{hop="%s",quantile="0.5",type="trade"}'
    event_to_send = metrics[key % "event_to_send"]
    assert abs(event_to_send - 0.050) <= 0.005, event_to_send
    assert metrics[key % "send_to_receive"] < 0.005
    count = metrics['hop_latency_seconds_count{hop="event_to_send",type="trade"}']
    mean = metrics['hop_latency_seconds_sum{hop="event_to_send",type="trade"}'] / count
    assert count == 60 and abs(mean - 0.050) <= 0.005
    assert statistics.median([0.0]) == 0.0
