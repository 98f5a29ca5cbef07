"""The PULL socket's drain, the sidecar's one hot loop: from the frame that woke
the socket loop (ingest.py) on, receive what else is queued without blocking, up
to ``batch_max`` messages (a batch frame counts its elements), and apply it all
as one batch under one ``state.lock`` acquisition, so scrapes interleave between
drains, never inside one, and wait at most one drain.

The rules, in both implementations: a multipart message is junk for this
protocol (every part is rejected as ``multipart``, and a message can straddle two
drains); a frame over ``max_message_bytes`` is ``too_large``; each frame gets its
receive time from the system clock; the test-only
``settings.test_apply_delay_seconds`` is paid after it.

Two implementations of one interface (``Drain``), chosen in one place
(``libzmq.choose_drain``):

- ``CoreDrain``: the core receives, through the libzmq pyzmq loaded, and hands
  each frame to its batch ingest as a slice (``core/src/zmq_drain.rs``); no Python
  runs per frame. pyzmq keeps owning the socket; the core borrows its handle for
  the drain, on this thread, under ``state.lock``.
- ``PythonDrain``: the same loop in Python over pyzmq, for when that libzmq
  cannot be found or lacks a function the core calls.
"""

from __future__ import annotations

import time
from typing import Protocol

import zmq

from . import _core, reasons
from .intake import Intake
from .settings import Settings
from .state import TelemetryState


class Drain(Protocol):
    """Drains ``sock`` (``first``: the frame the loop's blocking receive took, if
    any) into the state as one batch. Raises zmq.ZMQError when the socket or its
    context is gone."""

    name: str
    in_multipart: bool  # the last frame said more parts follow (the next drain starts inside a message)

    def __call__(self, sock: zmq.Socket, first: zmq.Frame | None = None) -> None: ...


class CoreDrain:
    """The core's drain (``TelemetryState.drain``: one core call per drain)."""

    name = "core"

    def __init__(self, state: TelemetryState, intake: Intake, settings: Settings, lib: _core.LibZmq) -> None:
        self.state = state
        self.intake = intake
        self.lib = lib
        self.in_multipart = False  # the last frame said more parts follow
        self._budget = settings.batch_max
        self._delay = settings.test_apply_delay_seconds  # test-only, 0 in production (settings.py)

    def __call__(self, sock: zmq.Socket, first: zmq.Frame | None = None) -> None:
        # The core may use the handle only while pyzmq's socket is open; it is closed
        # by this thread alone (the loop's last act), so this check holds for the drain.
        if sock.closed:
            raise zmq.ZMQError(zmq.ENOTSOCK)
        state = self.state
        data, more = (None, False) if first is None else (first.bytes, first.more)
        with state.lock:
            count, self.in_multipart, errno = self.intake.drain(
                self.lib, sock.underlying, data, more, self.in_multipart, self._budget, self._delay)
            if count:
                state.batches += 1
                state.end_batch()
        if errno:  # neither EAGAIN nor EINTR: what pyzmq would have raised
            raise zmq.ZMQError(errno)


class PythonDrain:
    """The same drain over pyzmq's ``recv`` (the fallback)."""

    name = "python"

    def __init__(self, state: TelemetryState, intake: Intake, settings: Settings) -> None:
        self.state = state
        self.intake = intake
        self.in_multipart = False
        self._budget = settings.batch_max
        self._delay = settings.test_apply_delay_seconds

    def __call__(self, sock: zmq.Socket, first: zmq.Frame | None = None) -> None:
        """Frames are received with ``copy=False``: the ``zmq.Frame`` carries the
        RCVMORE flag, read in C during the receive, where ``sock.rcvmore`` is a
        Python-level getsockopt that costs more than the receive itself. Holding the
        lock across ``recv`` is fine: with NOBLOCK it never waits."""
        state = self.state
        intake = self.intake
        handle = intake.frames
        recv = sock.recv
        now = time.time
        in_multipart = self.in_multipart
        budget = self._budget
        test_delay = self._delay
        frame: zmq.Frame | None = first
        # Single-message frames wait here and go to the core in one call (Intake.frames);
        # a frame out of that line (a batch frame, a multipart part) first sends them on,
        # so every message is applied in the order it was received.
        pending: list[bytes] = []
        times: list[float] = []
        with state.lock:
            while budget > 0:
                if frame is None:
                    try:
                        frame = recv(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                recv_ts = now()
                if test_delay:  # the area check's injected receive_to_apply delay, never set outside tests
                    time.sleep(test_delay)
                budget -= 1
                more = frame.more
                data = frame.bytes
                frame = None
                if more or in_multipart:
                    in_multipart = more
                    if pending:
                        handle(pending, times)
                        pending, times = [], []
                    intake.reject(reasons.MULTIPART, data)
                    continue
                if data[:1] == b"[":
                    if pending:
                        handle(pending, times)
                        pending, times = [], []
                    budget -= handle([data], [recv_ts]) - 1  # a batch frame counts its elements
                    continue
                pending.append(data)
                times.append(recv_ts)
            if pending:
                handle(pending, times)
            if budget < self._budget:
                state.batches += 1
                state.end_batch()
        self.in_multipart = in_multipart
