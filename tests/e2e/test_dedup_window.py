"""``event_id`` dedup end to end on a real sidecar process with a tiny
SIDECAR_DEDUP_WINDOW: a reused id inside the window is dropped (counted once in
messages_duplicate_total, never also as loss), an id pushed out of the window by
newer ones is applied again, ids are per producer, and the window survives a
kill -9 of the sidecar (docs/delivery.md "Seq and dedup rules")."""

from __future__ import annotations

import json
import time
from pathlib import Path

import zmq

from telemetry_testkit.procs import wait_until
from telemetry_testkit.reliable import RestartableSidecar
from telemetry_testkit.sockets import push_socket

WINDOW = 4
DUPLICATE_KEY = "messages_duplicate_total"
TRADES_KEY = 'trades_total{side="buy",symbol="DD"}'


def _send(sock: zmq.Socket, producer: str, seq: int, event_id: str) -> None:
    sock.send(json.dumps({"type": "trade", "side": "buy", "qty": 1, "ts": time.time(), "symbol": "DD",
                          "producer": producer, "instance": "i", "seq": seq, "event_id": event_id}).encode())


def _settled(sidecar: RestartableSidecar, received: int) -> dict[str, float]:
    """Metrics once ``received`` messages were judged (applied or dropped as duplicates)."""
    def judged(m: dict[str, float]) -> float:
        return m.get('messages_received_total{type="trade"}', 0) + m.get(DUPLICATE_KEY, 0)
    return wait_until(lambda: (m := sidecar.metrics()) and judged(m) == received and m, 30, interval=0.1,
                      message=f"{received} messages judged")


def test_reused_ids_are_dropped_inside_the_window_and_applied_once_evicted(tmp_path: Path) -> None:
    sidecar = RestartableSidecar(tmp_path, extra_env={"SIDECAR_DEDUP_WINDOW": str(WINDOW)}, reliable_channel=False)
    sidecar.start()
    try:
        with push_socket(sidecar.zmq) as sock:
            # (event id, applied?) in order; the window holds the last 4 ids remembered.
            steps = [("e1", True), ("e2", True), ("e3", True), ("e4", True),
                     ("e1", False),  # reuse inside the window
                     ("e5", True),   # pushes e1 out
                     ("e1", True),   # so e1 is new again; pushes e2 out
                     ("e2", True),   # pushes e3 out; window: e4 e5 e1 e2
                     ("e5", False), ("e4", False)]
            for seq, (event_id, _) in enumerate(steps, start=1):
                _send(sock, "p", seq, event_id)
            _send(sock, "q", 1, "e5")  # another producer's e5 is its own id; pushes p's e4 out
            metrics = _settled(sidecar, len(steps) + 1)
        applied = sum(ok for _, ok in steps) + 1
        assert (metrics[TRADES_KEY], metrics[DUPLICATE_KEY]) == (applied, len(steps) + 1 - applied)
        assert metrics['messages_lost_total{producer="p"}'] == 0  # a dropped id's seq still moved the stream on
        assert metrics['messages_lost_total{producer="q"}'] == 0

        sidecar.kill9()  # the window is part of the durable state
        sidecar.start()
        with push_socket(sidecar.zmq) as sock:
            _send(sock, "p", len(steps) + 1, "e1")  # still in the window: dropped
            _send(sock, "p", len(steps) + 2, "e4")  # q's e5 pushed it out: applied
            metrics = _settled(sidecar, len(steps) + 3)
        assert (metrics[TRADES_KEY], metrics[DUPLICATE_KEY]) == (applied + 1, len(steps) + 1 - applied + 1)
        assert metrics['messages_lost_total{producer="p"}'] == 0
    finally:
        sidecar.kill9()
