"""Loss accounting and latency truth, through real sockets to the real sidecar."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import httpx
import zmq

from telemetry_testkit.procs import Service, start_sidecar, wait_until
from telemetry_testkit.prom import scrape
from trading_app.telemetry.push import PushPublisher as Publisher

HOP_CLOCK = {"event_to_send": "same", "send_to_receive": "cross", "receive_to_apply": "same"}  # for trades


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
    assert pub.stats().dropped.get(("tick", "queue_full"), 0) == dropped


def test_producer_down_after_three_missed_heartbeats(tmp_path: Path) -> None:
    """Down exactly when 3 intervals (0.6 s) passed since the last message was received:
    never before, and within a poll of it."""
    sidecar = start_sidecar(tmp_path, {"SIDECAR_HEARTBEAT_INTERVAL_SECONDS": "0.2"})
    up, last_seen = 'producer_up{producer="beating"}', 'producer_last_seen_seconds{producer="beating"}'
    try:
        with Publisher(sidecar.zmq, producer="beating", heartbeat_interval=0.1) as pub:
            wait_until(lambda: scrape(sidecar.http + "/metrics/").get(up) == 1, 10, message="producer up")
            assert pub.connected
        observed: dict[str, float] = {}

        def down() -> bool:
            metrics = scrape(sidecar.http + "/metrics/")
            observed.update(metrics, at=time.time())  # the sidecar shares this host's clock
            return metrics.get(up) == 0

        wait_until(down, 5, 0.02, message="producer down")
        # Every scrape that said "up" happened before last_seen + 0.6; the one that said "down", after.
        assert observed["at"] >= observed[last_seen] + 0.6
    finally:
        sidecar.kill()


def _between(lows: list[float], highs: list[float], quantile: float) -> tuple[float, float]:
    """Bounds on a quantile of samples known only to lie in [lows[i], highs[i]]: order
    statistics are monotone, so the q-quantile lies between the bounds' own, whichever
    rank or interpolation rule the sidecar uses."""
    rank = (len(lows) - 1) * quantile
    return sorted(lows)[math.floor(rank)], sorted(highs)[math.ceil(rank)]


def test_latency_truth_event_to_send_and_transport(sidecar: Service) -> None:
    """A publisher that waits at least 50 ms between event time and send: each sample of each
    hop is bracketed by wall-clock readings taken around it, so the sidecar's numbers are checked
    exactly, however loaded the machine (the sidecar shares this host's clock)."""
    event_times: list[float] = []
    before_send: list[float] = []
    after_send: list[float] = []
    with Publisher(sidecar.zmq, producer="lat", heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 5, message="connected")
        for _ in range(60):
            event_time = time.time()
            target = time.perf_counter() + 0.050
            while time.perf_counter() < target:  # busy-wait: sleep() overshoots by a scheduler tick
                pass
            before_send.append(time.time())
            pub.trade("buy", 1, ts=event_time)
            after_send.append(time.time())
            event_times.append(event_time)
            time.sleep(0.005)
        metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                             and m.get('messages_received_total{type="trade"}') == 60 and m, 10,
                             message="60 trades")
        seen_by = time.time()  # every trade was received before this
    key = 'hop_latency_recent_seconds{hop="%s",quantile="0.5",type="trade"}'
    # event -> send: sent_ts is stamped inside publish(), between before_send and after_send.
    lows = [b - e for b, e in zip(before_send, event_times, strict=True)]
    highs = [a - e for a, e in zip(after_send, event_times, strict=True)]
    assert min(lows) >= 0.050
    low, high = _between(lows, highs, 0.5)
    assert low <= metrics[key % "event_to_send"] <= high
    count = metrics['hop_latency_seconds_count{clock="same",hop="event_to_send",type="trade"}']
    total = metrics['hop_latency_seconds_sum{clock="same",hop="event_to_send",type="trade"}']
    assert count == 60
    assert sum(lows) - 1e-6 <= total <= sum(highs) + 1e-6
    # send -> receive: received after sent_ts (>= before_send) and before seen_by.
    transport = metrics['hop_latency_seconds_sum{clock="cross",hop="send_to_receive",type="trade"}']
    assert metrics['hop_latency_seconds_count{clock="cross",hop="send_to_receive",type="trade"}'] == 60
    assert 0 <= transport <= sum(seen_by - b for b in before_send)
    low, high = _between([0.0] * 60, [seen_by - b for b in before_send], 0.5)
    assert low <= metrics[key % "send_to_receive"] <= high


def test_a_producer_clock_50ms_ahead_shows_as_offset_and_negatives_not_as_latency(
        sidecar: Service, push: zmq.Socket) -> None:
    """A producer whose clock runs 50 ms ahead (ts and sent_ts both shifted, frames built here):
    producer_clock_offset_seconds is -min(receive - sent_ts), exactly as the sidecar's own receive
    times (GET /events) give it, and bracketed by this test's clock readings; negative samples
    are counted exactly; the same-clock hop event_to_send shows none of the 50 ms."""
    skew, step = 0.050, 2.0**-12  # sent_ts - ts of a normal frame: exact in binary, 244 us
    stamps: list[float] = []
    sents: list[float] = []
    for seq in range(1, 41):
        stamps.append(now := time.time())  # the sidecar receives the frame after this (same host clock)
        ts = now + skew
        # Every 4th frame says its event happened after it was sent: a negative same-clock sample.
        sent = ts - 2.0**-10 if seq % 4 == 0 else ts + step
        sents.append(sent)
        push.send(json.dumps({"type": "trade", "side": "buy", "qty": 1, "ts": ts, "sent_ts": sent,
                              "producer": "skewed", "instance": "i1", "seq": seq, "event_id": f"sk-{seq}"}).encode())
    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                         and m.get('messages_received_total{type="trade"}') == 40 and m, 10, message="40 trades")
    seen_by = time.time()
    events = httpx.get(sidecar.http + "/events", params={"producer": "skewed", "limit": 40}).json()["events"]
    assert len(events) == 40
    delays = [e["recv_ts"] - e["sent_ts"] for e in events]
    offset = metrics['producer_clock_offset_seconds{producer="skewed"}']
    assert offset == -min(delays)
    # Received after its stamp, before seen_by: the estimate lies between what the test knows.
    assert max(sents) - seen_by <= offset <= max(s - t for s, t in zip(sents, stamps, strict=True))
    assert offset <= skew + step

    def negatives(hop: str) -> float:
        return metrics[f'hop_latency_negative_total{{clock="{HOP_CLOCK[hop]}",hop="{hop}",type="trade"}}']

    assert negatives("event_to_send") == 10
    assert negatives("send_to_receive") == sum(d < 0 for d in delays)
    assert negatives("receive_to_apply") == 0
    # event_to_send reads one clock: 30 samples of exactly `step`, 10 negatives observed as 0.
    assert metrics['hop_latency_seconds_count{clock="same",hop="event_to_send",type="trade"}'] == 40
    assert metrics['hop_latency_seconds_sum{clock="same",hop="event_to_send",type="trade"}'] == 30 * step
    assert metrics['hop_latency_max_seconds{clock="same",hop="event_to_send",type="trade"}'] == step
    assert metrics['hop_latency_seconds_bucket{clock="same",hop="event_to_send",le="5e-05",type="trade"}'] == 10
