"""The socket loop: owns the PULL socket and nothing else. Waits for a frame in
a blocking receive (the GIL released), then hands the socket and that frame to
the drain (drains.py), which takes what else is queued without blocking and
applies it as one batch under one lock acquisition, so scrapes interleave
between batches, not between messages. The drain is the core's (the core
receives through pyzmq's own libzmq and decodes, applies and counts each frame:
no Python per frame) or, when that libzmq cannot be used, the same loop in
Python; libzmq.py chooses, once, at start-up.
"""

from __future__ import annotations

import logging
import threading

import zmq

from . import reasons
from .curve import CurveServer
from .heaptrim import HeapTrimmer
from .intake import Intake
from .libzmq import choose_drain
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
        self._badlog = RateLimitedLogger(log, settings.invalid_log_per_second)
        self.intake = Intake(state, settings.max_message_bytes, self._badlog)
        self.drain = choose_drain(state, self.intake, settings)  # the core's, or the Python fallback
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
        drain = self.drain
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
                    drain(sock, first)
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
