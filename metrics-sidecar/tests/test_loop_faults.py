"""The receiving loops' last lines of defence, reached with real sockets and a
fault put in by the test (no wire input reaches them: the decoder is fuzzed). A
bug costs the frame in hand, counted as ``internal_error``, never the loop; a
context terminated under a loop ends it, logged, and ``running`` clears (what
/health reports as ``ingest_loop_down`` / ``reliable_loop_down``)."""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from metrics_sidecar import reasons
from metrics_sidecar.ingest import IngestLoop
from metrics_sidecar.reliable import DurableServices
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState
from telemetry_testkit.procs import wait_until
from telemetry_testkit.sockets import push_socket


def heartbeat(producer: str) -> bytes:
    now = time.time()
    return json.dumps({"type": "heartbeat", "ts": now, "producer": producer, "instance": "i1", "seq": 1,
                       "sent_ts": now}).encode()


POISON = heartbeat("poison")  # valid: only the injected bug rejects it


def counted(state: TelemetryState) -> int:
    with state.lock:
        return sum(state.received.values()) + sum(state.invalid.values())


def test_a_bug_outside_apply_costs_the_frame_in_hand_and_the_loop_goes_on(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, drain: str) -> None:
    real_ingest = TelemetryState.ingest
    real_drain = TelemetryState.drain

    def ingest_with_a_bug(self: TelemetryState, frames: list[bytes], *args: Any) -> tuple[int, list[Any]]:
        if POISON in frames:
            raise RuntimeError("a bug in the ingest entry")
        return real_ingest(self, frames, *args)

    def drain_with_a_bug(self: TelemetryState, lib: Any, socket: int, first: bytes | None, *args: Any) -> Any:
        if first == POISON:
            raise RuntimeError("a bug in the ingest entry")
        return real_drain(self, lib, socket, first, *args)

    # The ingest entry's one core call: per run of frames (the Python drain), or per
    # drain (the core's, which receives the frames after the first itself).
    monkeypatch.setattr(TelemetryState, "ingest", ingest_with_a_bug)
    monkeypatch.setattr(TelemetryState, "drain", drain_with_a_bug)
    state = TelemetryState(Settings(zmq_bind="tcp://127.0.0.1:0"))
    context = zmq.Context()
    loop = IngestLoop(state.settings, state, context)
    assert loop.drain.name == drain
    loop.start()
    try:
        with push_socket(loop.last_endpoint) as sock:
            for n, frame in enumerate((heartbeat("before"), POISON, heartbeat("after")), 1):
                sock.send(frame)
                if drain == "core":
                    # One at a time (each wakes the loop), so the poisoned frame is the one
                    # in hand when the drain is called. The Python drain gets them in a burst.
                    wait_until(functools.partial(lambda n: counted(state) == n, n), 10,
                               message=f"frame {n} counted")
        wait_until(lambda: state.received["heartbeat"] == 2, 10, message="both good heartbeats applied")
        with state.lock:
            assert state.invalid[reasons.INTERNAL_ERROR] == 1
            assert sum(state.invalid.values()) == 1
        assert loop.running.is_set()
        assert "ingest: unexpected error; frame counted as internal_error" in caplog.text
    finally:
        loop.stop()
        context.term()


def terminate_under(context: zmq.Context) -> None:
    terminated = threading.Thread(target=context.term)  # returns once the loop closed its socket
    terminated.start()
    terminated.join(10)
    assert not terminated.is_alive()


def test_a_context_terminated_under_the_ingest_loop_ends_it_logged_and_running_clears(
        caplog: pytest.LogCaptureFixture, drain: str) -> None:
    state = TelemetryState(Settings(zmq_bind="tcp://127.0.0.1:0"))
    context = zmq.Context()
    loop = IngestLoop(state.settings, state, context)
    assert loop.drain.name == drain
    loop.start()
    assert loop.running.is_set()
    with caplog.at_level(logging.ERROR, logger="metrics_sidecar.ingest"):
        terminate_under(context)
    assert not loop.running.is_set()
    assert [r.getMessage() for r in caplog.records if r.name == "metrics_sidecar.ingest"] == ["ingest loop crashed"]
    loop.stop()


def test_a_context_terminated_under_the_reliable_loop_ends_it_logged_and_running_clears(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(state_dir=str(tmp_path), reliable_bind="tcp://127.0.0.1:0")
    context = zmq.Context()
    services = DurableServices(settings, TelemetryState(settings), context)
    assert services.loop is not None and services.durable is not None
    services.loop.start()
    assert services.loop.running.is_set()
    with caplog.at_level(logging.ERROR, logger="metrics_sidecar.reliable"):
        terminate_under(context)
    assert not services.loop.running.is_set()
    logged = [r.getMessage() for r in caplog.records if r.name == "metrics_sidecar.reliable"]
    assert logged == ["reliable loop crashed"]
    services.loop.stop()
    services.durable._dir_lock.close()
