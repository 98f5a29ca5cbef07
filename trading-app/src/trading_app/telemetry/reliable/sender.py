"""The reliable publisher's background sender: outbox rows -> DEALER -> the
sidecar's ROUTER (``SIDECAR_RELIABLE_BIND``), acks back, acked rows deleted.

Per stream (one endpoint, producer and instance) it keeps ``sent`` (last seq
handed to ZeroMQ) and ``acked`` (the sidecar's cumulative ack). Up to ``WINDOW``
messages are in flight. It goes back to ``acked + 1`` and resends when

- the sidecar reports a gap (a batch was lost with a dropped connection, e.g.
  the sidecar restarted), at most once per ack value and ``REWIND_HOLDOFF``, or
- nothing was acked for ``ack_timeout`` (doubling per silent timeout, up to
  ``max_backoff``; reset by progress).

Resends are the stored bytes, so the sidecar sees the same (producer, instance,
seq) and counts it once. It also answers the sidecar's clock probes
(``clock_probe.py``). Only this thread touches the DEALER sockets.
Wire protocol: metrics_sidecar/reliable.py and docs/delivery.md.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import zmq

from ...curve_keys import CurveClientKeys
from ..monitor import ConnectionMonitor
from .clock_probe import PROBE, answer_probe, say_answers_probes
from .outbox import Outbox, SenderView

log = logging.getLogger("trading_app.reliable")

BATCH = b"rel1"
HEARTBEAT = b"hb1"
ACK = b"ack1"
MAX_BATCH = 256  # payloads per ZeroMQ message
WINDOW = 16_384  # unacked messages in flight per stream
REWIND_HOLDOFF = 0.2
DELETE_EVERY = 0.05  # acked rows are deleted in bulk, not per ack
CHECKPOINT_EVERY = 1.0
BLOCKED_PAUSE = 0.02  # after a send would block (the reconnect interval is 100 ms)


@dataclass(slots=True)
class Stream:
    id: int
    endpoint: int  # index into the sender's sockets
    producer: str
    instance: str
    head: int  # last seq in the outbox (publish() raises it for the live stream)
    acked: int
    sent: int
    live: bool
    deleted: int = 0
    progress_at: float = 0.0
    backoff: float = 0.0
    rewound: tuple[int, float] = (-1, 0.0)
    high: int = 0  # highest seq ever sent: anything at or below it is a resend


@dataclass(slots=True)
class SenderStats:
    batches_sent: int = 0
    messages_sent: int = 0  # first sends and resends
    resent: int = 0
    acked: int = 0
    rewinds: int = 0
    timeouts: int = 0


class Sender:
    def __init__(self, outbox: Outbox, addresses: list[str], context: zmq.Context, ack_timeout: float,
                 max_backoff: float, heartbeat: Callable[[int], bytes] | None, heartbeat_interval: float,
                 on_heartbeat: Callable[[str | None], None], curve: CurveClientKeys | None = None) -> None:
        self.addresses = addresses
        self.ack_timeout = ack_timeout
        self.max_backoff = max_backoff
        self.stats = SenderStats()
        self.streams: dict[tuple[int, str, str], Stream] = {}
        self.idle = False
        self._outbox = outbox
        self._heartbeat = heartbeat
        self._heartbeat_interval = heartbeat_interval
        self._on_heartbeat = on_heartbeat
        self._heartbeat_due = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards self.streams for readers in other threads
        self._last_housekeeping = 0.0
        self._last_checkpoint = 0.0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self.sockets: list[zmq.Socket] = []
        # An endpoint whose send would block (no sidecar, or its queue full) is
        # left alone briefly, so a sidecar outage costs no CPU spinning.
        self._blocked_until = [0.0] * len(addresses)
        self.monitors: list[ConnectionMonitor] = []
        for address in addresses:
            sock = context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)  # never queue for a sidecar that is not there
            sock.setsockopt(zmq.SNDHWM, 1000)
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            if curve is not None:
                curve.apply(sock)  # the same keys and allow-list as the PULL channel
            self.monitors.append(ConnectionMonitor(sock, address))
            sock.connect(address)
            self.sockets.append(sock)
        self._thread = threading.Thread(target=self._run, name="reliable-sender", daemon=True)

    # -- called from other threads ---------------------------------------------------
    def add_stream(self, stream: Stream) -> None:
        with self._lock:
            self.streams[stream.endpoint, stream.producer, stream.instance] = stream

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass  # the pipe is full: a wake-up is already pending

    def request_heartbeat(self) -> None:
        self._heartbeat_due.set()
        self.wake()

    def unacked(self) -> int:
        with self._lock:
            return sum(s.head - s.acked for s in self.streams.values())

    def drain(self, timeout: float) -> bool:
        """Keep sending until everything is acked or ``timeout``; True if all acked."""
        deadline = time.monotonic() + timeout
        while self.unacked() and time.monotonic() < deadline and self._thread.is_alive():
            self.wake()
            time.sleep(0.01)
        return self.unacked() == 0

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread.is_alive():
            self._thread.join(5)
        for monitor in self.monitors:
            monitor.close()
        for sock in self.sockets:
            sock.close(linger=0)
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- the sender thread --------------------------------------------------------------
    def _run(self) -> None:
        view = self._outbox.connect_sender()
        try:
            self._loop(view)
        except Exception:  # a ZMQError (the context is gone) or a bug; the outbox keeps everything for the next start
            log.exception("reliable sender crashed; messages stay in the outbox")
        finally:
            self._housekeeping(view, force=True)
            view.close()

    def _loop(self, view: SenderView) -> None:
        poller = zmq.Poller()
        for sock in self.sockets:
            poller.register(sock, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        next_heartbeat = time.monotonic() + self._heartbeat_interval
        while not self._stop.is_set():
            busy = self._send_all(view)
            self.idle = not busy
            if not busy and self._has_work():  # publish() raised a head while we were deciding
                self.idle, busy = False, True
            timeout = 0 if busy else 50
            for sock, _ in poller.poll(timeout):
                if sock == self._wake_r:
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                else:
                    self._read_acks(sock)
            self.idle = False
            now = time.monotonic()
            self._check_timeouts(now)
            if self._heartbeat is not None and (now >= next_heartbeat or self._heartbeat_due.is_set()):
                self._heartbeat_due.clear()
                self._send_heartbeats()
                next_heartbeat = now + self._heartbeat_interval
            self._housekeeping(view)

    def _can_send(self, stream: Stream, now: float) -> bool:
        return (stream.sent < stream.head and stream.sent - stream.acked < WINDOW
                and now >= self._blocked_until[stream.endpoint])

    def _has_work(self) -> bool:
        now = time.monotonic()
        return any(self._can_send(s, now) for s in list(self.streams.values()))

    def _send_all(self, view: SenderView) -> bool:
        """One batch per stream that can send; True if anything was sent."""
        sent_any = False
        now = time.monotonic()
        for stream in list(self.streams.values()):
            if not self._can_send(stream, now):
                continue
            limit = min(MAX_BATCH, WINDOW - (stream.sent - stream.acked))
            rows = view.read(stream.id, stream.sent, limit)
            if not rows:
                continue
            first = rows[0][0]
            header = json.dumps({"producer": stream.producer, "instance": stream.instance, "seq": first,
                                 "acked": stream.acked}).encode()
            try:
                self.sockets[stream.endpoint].send_multipart([BATCH, header, *(p for _, p in rows)], zmq.NOBLOCK)
            except zmq.Again:  # no sidecar connected (IMMEDIATE) or its queue is full: retry shortly
                self._blocked_until[stream.endpoint] = now + BLOCKED_PAUSE
                continue
            if stream.sent == stream.acked:
                stream.progress_at = time.monotonic()  # the ack clock starts with the first unacked send
            last = rows[-1][0]
            if first <= stream.high:
                self.stats.resent += min(last, stream.high) - first + 1
            stream.high = max(stream.high, last)
            stream.sent = last
            self.stats.batches_sent += 1
            self.stats.messages_sent += len(rows)
            sent_any = True
        return sent_any

    def _read_acks(self, sock: zmq.Socket) -> None:
        endpoint = self.sockets.index(sock)
        now = time.monotonic()
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) == 2 and frames[0] == PROBE:
                answer_probe(sock, frames[1], time.time())
                continue
            if len(frames) != 2 or frames[0] != ACK:
                continue
            try:
                ack = json.loads(frames[1])
                key = (endpoint, str(ack["producer"]), str(ack["instance"]))
                acked, gap = int(ack["acked"]), bool(ack["gap"])
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed ack: %r", frames[1][:200])
                continue
            stream = self.streams.get(key)
            if stream is None:
                continue
            if acked > stream.acked:
                self.stats.acked += acked - stream.acked
                stream.acked = min(acked, stream.head)
                stream.sent = max(stream.sent, stream.acked)
                stream.progress_at = now
                stream.backoff = self.ack_timeout
            if gap and acked >= stream.acked and stream.sent > acked:
                last_value, last_at = stream.rewound
                if acked != last_value or now - last_at > REWIND_HOLDOFF:
                    stream.sent = acked  # go back: everything after ``acked`` is resent
                    stream.rewound = (acked, now)
                    self.stats.rewinds += 1

    def _check_timeouts(self, now: float) -> None:
        for stream in list(self.streams.values()):
            if stream.sent <= stream.acked:
                continue
            if stream.backoff == 0.0:
                stream.backoff = self.ack_timeout
            if now - stream.progress_at > stream.backoff:
                stream.sent = stream.acked
                stream.progress_at = now
                stream.backoff = min(stream.backoff * 2, self.max_backoff)
                self.stats.timeouts += 1

    def _send_heartbeats(self) -> None:
        assert self._heartbeat is not None
        for i, sock in enumerate(self.sockets):
            reason: str | None = None
            try:
                sock.send_multipart([HEARTBEAT, self._heartbeat(i)], zmq.NOBLOCK)
            except zmq.Again:
                reason = "hwm" if self.monitors[i].connected else "no_peer"
            self._on_heartbeat(reason)
            if reason is None:
                say_answers_probes(sock)

    def _housekeeping(self, view: SenderView, force: bool = False) -> None:
        """Delete acked rows and finished streams in bulk; checkpoint the WAL."""
        now = time.monotonic()
        if not force and now - self._last_housekeeping < DELETE_EVERY:
            return
        self._last_housekeeping = now
        for key, stream in list(self.streams.items()):
            if stream.acked > stream.deleted:
                self._outbox.delete_through(stream.id, stream.acked)
                stream.deleted = stream.acked
            if not stream.live and stream.acked >= stream.head:
                self._outbox.drop_stream(stream.id)
                with self._lock:
                    del self.streams[key]
        if force or now - self._last_checkpoint >= CHECKPOINT_EVERY:
            self._last_checkpoint = now
            view.checkpoint()
