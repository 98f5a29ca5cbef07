"""publish_many(): a backlog leaves as JSON-array frames, every message stamped and
counted on its own, frames within the size cap, results in input order."""

from __future__ import annotations

import json

import pytest
import zmq

from telemetry_testkit.procs import free_port, wait_until
from trading_app.telemetry.frames import BATCH_MAX_BYTES, pack_frames
from trading_app.telemetry.push import PushPublisher as Publisher


@pytest.mark.parametrize(("sizes", "max_bytes", "expected"), [
    ([], 100, []),
    ([10], 100, [1]),  # alone: the plain object, not a one-element array
    ([10, 10, 10], 100, [3]),
    ([40, 40, 40], 100, [2, 1]),  # "[" + 40 + "," + 40 + "]" = 83; a third would be 124
    ([150, 10], 100, [1, 1]),  # an oversized payload still goes, alone
])
def test_pack_frames_table(sizes: list[int], max_bytes: int, expected: list[int]) -> None:
    payloads = [b"x" * n for n in sizes]
    frames = pack_frames(payloads, max_bytes)
    assert [count for count, _ in frames] == expected
    for count, frame in frames:
        if count > 1:
            assert len(frame) <= max_bytes and frame.startswith(b"[") and frame.endswith(b"]")
    assert b"".join(f if c == 1 else f[1:-1].replace(b",", b"") for c, f in frames) == b"".join(payloads)


def test_a_backlog_leaves_in_few_frames_stamped_and_in_order(pull: tuple[zmq.Socket, str]) -> None:
    sock, addr = pull
    with Publisher(addr, producer="batcher", heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 5, message="connected")
        messages = [{"type": "tick", "symbol": "BTCUSDT", "price": 100.0 + i, "ts": 1700000000.0 + i,
                     "source": "replay", "pad": "p" * 200} for i in range(500)]
        results = pub.publish_many(messages)
        assert [r.seq for r in results] == list(range(1, 501)) and all(r.queued for r in results)
        assert pub.stats().sent == {"tick": 500}
        assert sum(pub.stats().duration_counts) == 500
        frames = []
        received: list[dict[str, object]] = []
        while len(received) < 500:
            assert sock.poll(5000), f"only {len(received)} of 500 arrived"
            frame = sock.recv()
            frames.append(frame)
            received.extend(json.loads(frame))
    assert 2 <= len(frames) < 10 and all(len(f) <= BATCH_MAX_BYTES for f in frames)
    assert [m["seq"] for m in received] == list(range(1, 501))
    assert [m["price"] for m in received] == [100.0 + i for i in range(500)]
    assert {m["producer"] for m in received} == {"batcher"}
    assert [m["event_id"] for m in received] == [f"{pub.instance}-{i}" for i in range(1, 501)]


def test_without_a_sidecar_every_message_is_dropped_and_counted() -> None:
    with Publisher(f"tcp://127.0.0.1:{free_port()}", heartbeat_interval=0) as pub:
        results = pub.publish_many([{"type": "trade", "side": "buy", "qty": 1.0, "ts": 1.0} for _ in range(7)])
        pub.trade("sell", 1)
        assert [(r.queued, r.reason) for r in results] == [(False, "no_peer")] * 7
        assert pub.stats().dropped == {("trade", "no_peer"): 8}
        assert [r.seq for r in results] == list(range(1, 8))  # seqs consumed: the sidecar sees the loss
