"""The socket loop: owns the PULL socket and nothing else. Waits for a frame in
a blocking receive, then drains what else is queued without blocking, and hands
the frames, each with its receive time, to the one ingest entry (intake.py: one
core call decodes, applies and counts the rejections of a run of frames), the
whole batch under one lock acquisition, so scrapes interleave between batches,
not between messages.
"""

from __future__ import annotations

import logging
import threading
import time

import zmq

from . import reasons
from .curve import CurveServer
from .heaptrim import HeapTrimmer
from .intake import Intake
from .ratelimit import RateLimitedLogger
from .settings import Settings
from .sockets import open_bound_socket
from .state import TelemetryState

log = logging.getLogger("metrics_sidecar.ingest")

_WAKE_MS = 100  # how often an idle loop wakes to notice a stop request (RCVTIMEO)


class IngestLoop:
    def __init__(self, settings: Settings, state: TelemetryState, context: zmq.Context | None = None) -> None:
        self.settings = settings
        self.state = state
        self.context = context or zmq.Context.instance()
        self.running = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bound = threading.Event()
        self.bind_error: Exception | None = None
        self.last_endpoint = ""
        self._in_multipart = False
        self._badlog = RateLimitedLogger(log, settings.invalid_log_per_second)
        self.intake = Intake(state, settings.max_message_bytes, self._badlog)
        self.trimmer = HeapTrimmer()  # returns a burst's freed queue memory to the OS when idle
        # Optional CURVE (curve.py): encryption and a client allow-list on the PULL socket.
        self.curve = (CurveServer.from_files(settings.curve_secret_key_file, settings.curve_allowed_keys_dir)
                      if settings.curve_secret_key_file else None)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="zmq-ingest", daemon=True)
        self._thread.start()
        self._bound.wait(10)
        if self.bind_error is not None:
            raise self.bind_error

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _open_socket(self) -> zmq.Socket:
        if self.curve is not None:
            self.curve.start(self.context)  # the ZAP handler must exist before the first client
        # The loop waits in a blocking receive (GIL released) that gives up after
        # _WAKE_MS: see _run.
        sock, self.last_endpoint = open_bound_socket(
            self.context, zmq.PULL, self.settings.zmq_bind, rcvhwm=self.settings.rcvhwm,
            max_message_bytes=self.settings.max_message_bytes, curve=self.curve,
            options=[(zmq.RCVTIMEO, _WAKE_MS)])
        return sock

    def _run(self) -> None:
        try:
            sock = self._open_socket()
        except zmq.ZMQError as exc:
            self.bind_error = exc
            self._bound.set()
            if self.curve is not None:
                self.curve.stop()
            return
        self._bound.set()
        self.running.set()
        log.info("PULL bound on %s", self.last_endpoint)
        recv = sock.recv
        try:
            while not self._stop.is_set():
                try:
                    # A blocking receive, not ``sock.poll()`` then receive: pyzmq's
                    # Socket.poll builds a Poller, registers the socket and makes a
                    # dict on every call (~2.5 us, more than the receive), and at
                    # 1-10k msgs/s every message meets an idle loop and pays it.
                    try:
                        first = recv(copy=False)
                    except zmq.Again:  # RCVTIMEO: idle for _WAKE_MS, look at _stop
                        self.trimmer.idle()
                        continue
                    self.trimmer.busy = True
                    self._drain(sock, first)
                except zmq.ZMQError:
                    raise  # the socket or context is gone: nothing left to serve
                except Exception:  # noqa: BLE001 - logged (rate-limited), with traceback; a bug, not bad input (decode is fuzzed)
                    # A bug must cost the frame in hand, never the loop.
                    self._badlog.exception("ingest: unexpected error; frame counted as internal_error")
                    with self.state.lock:
                        self.intake.reject(reasons.INTERNAL_ERROR)
        except Exception:  # a ZMQError re-raised above, or a bug
            log.exception("ingest loop crashed")
        finally:
            self.running.clear()
            sock.close(linger=0)
            if self.curve is not None:
                self.curve.stop()

    def _drain(self, sock: zmq.Socket, first: zmq.Frame | None = None) -> None:
        """The sidecar's one hot loop: from ``first`` (the frame that woke the
        loop, if any) on, receive frames without blocking, up to ``batch_max`` messages
        (a batch frame counts its elements), and hand them to the ingest entry
        (``Intake.frames``: one core call for a run of single-message frames, one per
        batch frame), all under one lock acquisition: scrapes interleave between
        drains, never inside one, and wait at most one drain.

        Frames are received with ``copy=False``: the ``zmq.Frame`` carries the
        RCVMORE flag, read in C during the receive, where ``sock.rcvmore`` is a
        Python-level getsockopt that costs more than the receive itself. Holding the
        lock across ``recv`` is fine: with NOBLOCK it never waits.
        """
        state = self.state
        intake = self.intake
        handle = intake.frames
        recv = sock.recv
        now = time.time
        in_multipart = self._in_multipart
        budget = self.settings.batch_max
        test_delay = self.settings.test_apply_delay_seconds  # test-only, 0 in production (settings.py)
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
                    # A multipart message is junk for this protocol: every part is
                    # rejected, and it can straddle two drains.
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
            if budget < self.settings.batch_max:
                state.batches += 1
                state.end_batch()
        self._in_multipart = in_multipart
