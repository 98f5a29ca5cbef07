"""``batch_backlog=True`` (what ``make_publisher()`` builds): the sender thread
packs the backlog of single ``publish()`` calls it finds waiting into JSON-array
frames; every message still leaves once, stamped, in seq order."""

from __future__ import annotations

import json
import time

import zmq

from telemetry_testkit.procs import wait_until
from trading_app.telemetry.push import PushPublisher


def test_a_backlog_behind_a_stalled_peer_leaves_in_array_frames_in_seq_order() -> None:
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull.setsockopt(zmq.RCVHWM, 1)
    address = f"tcp://127.0.0.1:{pull.bind_to_random_port('tcp://127.0.0.1')}"
    try:
        with PushPublisher(address, producer="packer", heartbeat_interval=0, sndhwm=1, batch_backlog=True) as pub:
            assert pub.wait_connected(5)
            published = 0
            while pub.backlog() < 200:  # nobody reads: TCP buffers fill, then the sender stalls
                assert pub.tick("BTCUSDT", 100.0, source="replay").queued
                published += 1
                if published % 500 == 0:
                    assert published < 2_000_000, "the sender never stalled"
                    time.sleep(0.001)
            frames: list[bytes] = []
            received: list[dict[str, object]] = []

            def read_all() -> bool:
                while pull.poll(0):
                    frames.append(pull.recv())
                    body = json.loads(frames[-1])
                    received.extend(body if isinstance(body, list) else [body])
                return len(received) == published

            wait_until(read_all, 30, 0.01, message=f"{published} ticks read")
            assert pub.stats().sent == {"tick": published} and pub.stats().dropped == {}
    finally:
        pull.close()
        ctx.term()
    assert [m["seq"] for m in received] == list(range(1, published + 1))
    assert any(f.startswith(b"[") for f in frames)  # the backlog was packed
    assert len(frames) < published
