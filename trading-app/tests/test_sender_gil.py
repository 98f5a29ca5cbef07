"""A caller that never gives the GIL up (a busy loop between publish() calls): the
sender thread gets the GIL only by forcing a switch, and then polls ``HOG_POLL``
long (fewer forced switches, each of which leaves the caller's next call on a cold
core). Every message still leaves once, stamped, in seq order, and none is dropped:
the longer poll only lets a bigger batch wait."""

from __future__ import annotations

import json
import time

import zmq

from trading_app.telemetry.push import PushPublisher

MESSAGES = 4_000
GAP = 100e-6  # 10k/s: ~40 per HOG_POLL, far below the queue's size


def test_a_caller_that_holds_the_gil_loses_nothing_and_the_sender_naps_longer(pull: tuple[zmq.Socket, str]) -> None:
    sock, addr = pull
    with PushPublisher(addr, producer="hog", heartbeat_interval=0, batch_backlog=True) as pub:
        assert pub.wait_connected(5)
        due = time.perf_counter()
        results = []
        for _ in range(MESSAGES):  # never sleeps, never waits on I/O: the GIL stays here
            while time.perf_counter() < due:
                pass
            due += GAP
            results.append(pub.trade("buy", 1.0, symbol="BTCUSDT"))
        received: list[dict[str, object]] = []
        while len(received) < MESSAGES:
            assert sock.poll(5000), f"only {len(received)} of {MESSAGES} arrived"
            frame = json.loads(sock.recv())
            received.extend(frame if isinstance(frame, list) else [frame])
        assert pub._sender.hog_naps >= 1  # it had to force the switch, so it napped longer at least once
    assert all(r.queued for r in results)
    assert [m["seq"] for m in received] == list(range(1, MESSAGES + 1))
    assert pub.stats().sent == {"trade": MESSAGES} and pub.stats().dropped == {}
