"""The reliable publisher's sender thread, ended under it by its context being
terminated (a fault the test puts in: no message reaches this path): the thread
logs and ends, and every accepted message stays in the outbox for the next start."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import zmq

from telemetry_testkit.procs import free_port, wait_until
from trading_app.telemetry.reliable import ReliablePublisher

CRASHED = "reliable sender crashed; messages stay in the outbox"


def test_a_context_terminated_under_the_sender_keeps_every_accepted_message(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    context = zmq.Context()
    outbox = tmp_path / "outbox.db"
    # No sidecar listens: nothing is acked, so all three stay pending.
    publisher = ReliablePublisher(f"tcp://127.0.0.1:{free_port()}", outbox, heartbeat_interval=0, context=context)
    assert [publisher.trade("buy", 1.0).queued for _ in range(3)] == [True, True, True]
    terminated = threading.Thread(target=context.term)  # returns once close() below closed the sockets
    terminated.start()
    wait_until(lambda: CRASHED in caplog.text, 10, message="the sender logged its end")
    publisher.close(drain_seconds=0)
    terminated.join(10)
    assert not terminated.is_alive()
    with ReliablePublisher("tcp://127.0.0.1:1", outbox, heartbeat_interval=0, drain_seconds=0) as restarted:
        view = restarted.outbox.connect_sender()
        try:
            assert view.pending() == 3  # what the next start sends
        finally:
            view.close()
