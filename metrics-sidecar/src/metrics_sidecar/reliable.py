"""The lossless channel (``SIDECAR_RELIABLE_BIND``): a ROUTER socket that
acknowledges a publisher's messages once their effect is durable.

Wire protocol (docs/delivery.md):

- DEALER -> ROUTER ``[b"rel1", header, payload_1, ..., payload_n]``: ``header`` is
  JSON ``{"producer", "instance", "seq", "acked"}`` and ``payload_k`` is the JSON
  message with sequence number ``seq + k - 1`` of that (producer, instance)
  stream; ``acked`` is the highest seq the publisher has seen acked (it deleted
  those: they can never be resent).
- DEALER -> ROUTER ``[b"hb1", payload]``: a heartbeat; applied, never acked.
- DEALER -> ROUTER ``[b"clk1"]`` (it answers probes), then ROUTER -> DEALER
  ``[b"clk1", {"t1"}]`` and back ``[b"clk1", {"t1", "t2", "t3"}]``: a round-trip
  clock probe (clock_probe.py).
- ROUTER -> DEALER ``[b"ack1", {"producer", "instance", "acked", "gap"}]``: every
  seq up to ``acked`` is processed and durable (cumulative ack); ``gap`` says a
  batch arrived beyond ``acked + 1`` (an earlier one was lost with a connection),
  so the publisher should go back and resend from ``acked + 1`` now.

Per stream the sidecar keeps a cursor: the last seq it processed, whatever the
outcome (applied, rejected as invalid, or deduplicated by event id). A seq at or
below the cursor is a resend: counted in ``messages_duplicate_total`` and acked
again, never applied twice. Processing is strictly in order, so a cursor is all
the dedup state a stream needs; it is journaled and snapshotted with the rest of
the state (persistence.py), so dedup holds across restarts and ``kill -9``. A
stream the sidecar has no cursor for (its state directory was lost, or a stream
evicted after ``MAX_CURSORS``) starts at the publisher's ``acked``: waiting for
seqs the publisher no longer has would stall the stream forever.

A header's ``acked`` is a claim, not a fact (the port may be unauthenticated):
it can never move a stream past what the sidecar has seen of it. On a stream
with a cursor, an ``acked`` above the cursor is a mismatch: counted in
``reliable_ack_mismatch_total``, logged (rate-limited) and ignored, so a forged
ack cannot turn the stream's next real messages into duplicates. On a stream
without one, ``acked`` must be below the batch's own ``seq`` (a publisher
resends from ``acked + 1``); above it, it is clamped to ``seq - 1`` and counted.

Order of one drain: under ``state.lock``, each message's headers, cursors and
duplicates, then the fresh payloads of every message in one core call (in arrival
order, each stream's in seq order) -> lock release writes the journal
-> fsync (``SIDECAR_STATE_FSYNC``) -> acks. An ack therefore never precedes the
durability of what it acknowledges.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated, NamedTuple

import msgspec
import zmq

from . import reasons
from .clock_probe import PROBE, ClockProbes
from .curve import CurveServer
from .intake import Intake
from .journal import UnrecordableError
from .persistence import DurableState
from .ratelimit import RateLimitedLogger
from .schema import INSTANCE_PATTERN, PRODUCER_PATTERN, SEQ_MAX
from .settings import Settings
from .sockets import open_bound_socket
from .state import Stamp, TelemetryState

log = logging.getLogger("metrics_sidecar.reliable")

BATCH = b"rel1"
HEARTBEAT = b"hb1"
ACK = b"ack1"
_POLL_MS = 100


class _Drained(NamedTuple):
    """What a drain's messages hand to the core (``Intake.frames``) in one call."""

    frames: list[bytes]
    recv: list[float]
    stamps: list[Stamp | None]

    def add(self, frames: list[bytes], recv_ts: float, stamps: list[Stamp | None]) -> None:
        self.frames.extend(frames)
        self.recv.extend([recv_ts] * len(frames))
        self.stamps.extend(stamps)

class Header(msgspec.Struct, forbid_unknown_fields=True):
    producer: Annotated[str, msgspec.Meta(pattern=PRODUCER_PATTERN)]
    instance: Annotated[str, msgspec.Meta(pattern=INSTANCE_PATTERN)]
    # The wire bounds of schema.py: a seq or acked beyond int64 cannot be journaled.
    seq: Annotated[int, msgspec.Meta(ge=1, le=SEQ_MAX)]
    acked: Annotated[int, msgspec.Meta(ge=0, le=SEQ_MAX)] = 0


class Ack(msgspec.Struct):
    producer: str
    instance: str
    acked: int
    gap: bool


_decode_header = msgspec.json.Decoder(Header).decode
_encode_ack = msgspec.json.Encoder().encode


class ReliableLoop:
    def __init__(self, settings: Settings, state: TelemetryState, durable: DurableState,
                 context: zmq.Context) -> None:
        self.settings = settings
        self.state = state
        self.durable = durable
        self.context = context
        self.running = threading.Event()
        self.last_endpoint = ""
        self.bind_error: Exception | None = None
        self.acks_sent = 0
        self._stop = threading.Event()
        self._bound = threading.Event()
        self._thread: threading.Thread | None = None
        self._curve: CurveServer | None = None
        self._log = RateLimitedLogger(log, settings.invalid_log_per_second)  # every line input can trigger
        self.probes = ClockProbes(state, settings.invalid_log_per_second)  # round-trip clock offsets
        # The one ingest entry (intake.py), shared with the PULL loop: decode, apply, rejections counted.
        self.intake = Intake(state, settings.max_message_bytes, self._log)

    def start(self, curve: CurveServer | None = None) -> None:
        """``curve``: the PULL loop's, already started: one ZAP handler per context
        serves both sockets, with the same key pair and allow-list."""
        self._curve = curve
        self._thread = threading.Thread(target=self._run, name="zmq-reliable", daemon=True)
        self._thread.start()
        self._bound.wait(10)
        if self.bind_error is not None:
            raise self.bind_error

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _open_socket(self) -> zmq.Socket:
        sock, self.last_endpoint = open_bound_socket(
            self.context, zmq.ROUTER, self.settings.reliable_bind,
            rcvhwm=1000,  # batches, not messages; the publisher resends what overflows
            max_message_bytes=self.settings.max_message_bytes, curve=self._curve)
        return sock

    def _run(self) -> None:
        try:
            sock = self._open_socket()
        except zmq.ZMQError as exc:
            self.bind_error = exc
            self._bound.set()
            return
        self._bound.set()
        self.running.set()
        log.info("ROUTER (reliable) bound on %s", self.last_endpoint)
        try:
            while not self._stop.is_set():
                if sock.poll(_POLL_MS, zmq.POLLIN):
                    self._drain(sock)
                self.probes.send_due(sock, time.time())
        except Exception:  # a ZMQError (the context is gone) or a bug; never bad input
            log.exception("reliable loop crashed")
        finally:
            self.running.clear()
            sock.close(linger=0)

    def _drain(self, sock: zmq.Socket) -> None:
        messages: list[tuple[list[bytes], float]] = []
        payloads = 0
        while payloads < self.settings.batch_max:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            messages.append((frames, time.time()))
            payloads += max(1, len(frames) - 3)
        if not messages:
            return
        acks: dict[tuple[bytes, str, str], tuple[int, bool]] = {}
        # The payloads every message of the drain hands on, in arrival (and per stream seq)
        # order, each with its receive time and stamp: one core call for the whole drain.
        drained = _Drained([], [], [])
        with self.state.lock:  # its release writes the journal (persistence.FlushingLock)
            self.state.batches += 1
            for frames, recv_ts in messages:
                try:
                    self._handle(frames, recv_ts, acks, drained)
                except UnrecordableError:  # a seq/ack beyond what the journal holds: the message is refused
                    for _ in frames[3:] or [b""]:
                        self.intake.reject(reasons.BAD_FIELD)
                except Exception:  # noqa: BLE001 - logged (rate-limited), with traceback; a bug must cost this message, never the loop
                    self._log.exception("reliable: unexpected error; message counted as internal_error")
                    self.intake.reject(reasons.INTERNAL_ERROR)
            if drained.frames:
                self.intake.frames(drained.frames, drained.recv, drained.stamps, arrays=False)
            self.state.end_batch()
        if not acks:
            return
        if not self.durable.clean:
            return  # the journal write failed: withhold acks, the publisher will resend
        if not self.durable.sync():
            return  # fsync failed: withhold acks, the publisher will resend
        for (identity, producer, instance), (acked, gap) in acks.items():
            body = _encode_ack(Ack(producer, instance, acked, gap))
            try:
                sock.send_multipart([identity, ACK, body], zmq.NOBLOCK)
                self.acks_sent += 1
            except zmq.ZMQError:
                pass  # peer gone or its queue full: it times out and resends, we dedup

    def _handle(self, frames: list[bytes], recv_ts: float,
                acks: dict[tuple[bytes, str, str], tuple[int, bool]], drained: _Drained) -> None:
        kind = frames[1] if len(frames) > 1 else b""
        if kind == HEARTBEAT:
            for payload in frames[2:]:
                self.probes.heard_heartbeat(frames[0], payload, recv_ts)
            drained.add(frames[2:], recv_ts, [None] * (len(frames) - 2))
            return
        if kind == PROBE:
            self.probes.frame(frames[0], frames[2:], recv_ts)
            return
        if kind != BATCH or len(frames) < 3:
            self.intake.reject(reasons.MULTIPART)  # not this protocol
            return
        payloads = frames[3:]
        try:
            header = _decode_header(frames[2])
        except msgspec.MsgspecError as error:
            header = None
            self._log.warning("reliable: bad batch header (%s): %r", error, frames[2][:120])
        if header is None or header.seq + max(len(payloads), 1) - 1 > SEQ_MAX:  # every payload's seq in range
            for _ in payloads or [b""]:
                self.intake.reject(reasons.BAD_FIELD)
            return
        self.probes.heard(frames[0], header.producer, recv_ts)
        key = (header.producer, header.instance)
        start = self.durable.cursors.get(key)
        cursor = self._resume_point(header, start)
        start = start or 0
        duplicates = 0
        gap = False
        fresh: list[bytes] = []
        stamps: list[Stamp | None] = []
        for k, payload in enumerate(payloads):
            seq = header.seq + k
            if seq <= cursor:
                duplicates += 1  # a resend of something already processed
            elif seq == cursor + 1:
                fresh.append(payload)
                stamps.append((header.producer, header.instance, seq))
                cursor = seq
            else:
                gap = True  # an earlier batch was lost: drop the rest, the publisher goes back
                break
        if duplicates:
            self.durable.duplicates(duplicates)
        if cursor != start:  # raises UnrecordableError before anything of this message is queued
            self.durable.advance(header.producer, header.instance, cursor)
        drained.add(fresh, recv_ts, stamps)  # applied with the drain's, in seq order
        ack_key = (frames[0], header.producer, header.instance)
        previous_gap = acks.get(ack_key, (0, False))[1]
        acks[ack_key] = (cursor, gap or previous_gap)

    def _resume_point(self, header: Header, cursor: int | None) -> int:
        """Where the stream stands: its cursor; or, for a stream the sidecar has no
        cursor for, the publisher's ``acked``. An ``acked`` beyond what the sidecar
        has seen of the stream is never trusted (see the module docstring)."""
        if cursor is not None:
            if header.acked > cursor:
                self.state.ack_mismatches += 1
                self._log.warning("stream %s/%s: acked %d is beyond the last seq processed (%d); ignored "
                                  "(forged, or the state directory was replaced by an older one)",
                                  header.producer, header.instance, header.acked, cursor)
            return cursor
        if header.acked >= header.seq:
            self.state.ack_mismatches += 1
            self._log.warning("stream %s/%s: acked %d is not below the batch's seq %d; clamped",
                              header.producer, header.instance, header.acked, header.seq)
            return header.seq - 1
        if header.acked:
            self._log.warning("stream %s/%s: no record of seq 1..%d, which the publisher saw acked; resuming "
                              "after it (state directory lost?)", header.producer, header.instance, header.acked)
        return header.acked


class DurableServices:
    """Persistence and the reliable loop, started and stopped together by
    ``main.py``: recover before any loop applies, snapshot after all stopped."""

    def __init__(self, settings: Settings, state: TelemetryState, context: zmq.Context) -> None:
        self.settings = settings
        self.durable = DurableState(settings, state) if settings.state_dir else None
        self.loop = (ReliableLoop(settings, state, self.durable, context)
                     if settings.reliable_bind and self.durable is not None else None)

    @property
    def endpoint(self) -> str:
        return self.loop.last_endpoint if self.loop is not None else ""

    def start(self) -> None:
        """Restore state. Call before the PULL loop starts (nothing may apply first)."""
        if self.durable is not None:
            self.durable.recover()
            self.durable.start()

    def start_reliable(self, curve: CurveServer | None) -> None:
        """Bind the ROUTER. Call after the PULL loop started: with CURVE on, its ZAP
        handler must exist before this socket binds, or clients get in unchecked."""
        if self.loop is not None:
            self.loop.start(curve)

    def stop_loop(self) -> None:
        if self.loop is not None:
            self.loop.stop()

    def close(self) -> None:
        """After every loop stopped: the final snapshot."""
        self.stop_loop()
        if self.durable is not None:
            self.durable.close()
