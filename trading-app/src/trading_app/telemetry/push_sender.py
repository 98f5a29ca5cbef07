"""The fire-and-forget publisher's sender thread: the only thread that touches
the PUSH sockets.

It takes what ``publish()`` put in the in-process queue, encodes it and sends
it with NOBLOCK. A backlog handed over by ``publish_many()`` leaves as
JSON-array frames (``frames.pack_frames``). With ``batch_backlog`` (what
``make_publisher()`` builds) so does whatever backlog of single ``publish()``
calls it finds waiting: one send per frame, not per message, which is what lets
it keep up when it gets the GIL only now and then. Without it a single
``publish()`` leaves as one plain object, for a peer that reads only those.

- Send queue full (the sidecar is slower than the app): the sender waits and
  retries; the caller never does. Meanwhile the in-process queue fills and
  ``publish()`` drops with ``queue_full``, counted.
- Sidecar gone while accepted messages wait (``IMMEDIATE``: no ZeroMQ queue for
  an absent peer): they are dropped here, counted as ``no_peer``.
- No wake-up signal: a wake-up (futex, pipe) would be a system call in the
  caller. The thread polls the queue instead: every ``FAST_POLL`` (50 µs) while
  there was work in the last ``FAST_WINDOW`` (10 ms), every ``SLOW_POLL`` (1 ms)
  when idle. The poll bounds the hand-off delay: about half a poll period plus
  the thread's wake-up. The thread's own timer slack is cut to
  ``TIMER_SLACK_NS`` (``timer_slack.py``; Linux): with the kernel's default of
  50 µs a 50 µs sleep lasts ~120 µs, with 1 µs ~70 µs. What the polls cost
  (measured at load 10 on 2 shared cores): ~2 % of a core idle (~930 wake-ups/s),
  ~20-25 % of a core at 10k/s with the encode and the sends (docs/benchmarks.md,
  *B4: the hand-off*). After a poll that had to wait for the GIL (a caller that
  never pauses) the next one is ``HOG_POLL`` long (see there).
- ``stop()``: send what is queued until the deadline, count the rest as
  ``closed``, then close the sockets with the time left as LINGER (the owner's
  ``context.term()`` waits it out).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import zmq

from .frames import pack_frames
from .monitor import ConnectionMonitor
from .stats import StatsRecorder
from .timer_slack import set_thread_timer_slack, thread_timer_slack

if TYPE_CHECKING:
    from ..curve_keys import CurveClientKeys

log = logging.getLogger("trading_app.publisher")

# 50 µs. A 20 µs poll halved the hand-off itself (p50 53 -> 27 µs at 10k/s) but made
# send -> applied slower in 5 of 5 interleaved A/Bs at load 9-13 on 2 shared cores: its
# extra wake-ups got in the way of the sidecar's and ZeroMQ's threads (docs/benchmarks.md,
# *B4: the hand-off*). Re-run that A/B on a quiet machine before changing it.
FAST_POLL = 50e-6
# The sender thread's own timer slack: its sleeps end within ~1 µs of their time, not
# up to 50 µs later. None leaves the thread what it inherited (B4's A/B runs only).
TIMER_SLACK_NS: int | None = 1_000
FAST_WINDOW = 0.01
SLOW_POLL = 1e-3
HWM_PAUSE = 2e-4  # the send queue is full: let the I/O thread move some out
# A poll whose sleep took longer than its length plus GIL_WAITED_SHARE of the
# switch interval waited for the GIL on its way back: the caller is running Python
# without a pause and gave the GIL up only because this thread forced a switch
# (after sys.getswitchinterval()). Every such switch leaves the caller's next
# publish() on a cold core (docs/benchmarks.md, *B3 tail*), so after HOG_LATE such
# polls in a row the sender's polls are HOG_POLL long: about half as many forced
# switches, for up to HOG_POLL more hand-off delay to a caller that never pauses.
# A caller that waits on I/O (a web handler, a feed, B4's paced publisher) gives
# the GIL up on its own; "in a row" keeps a single late wake-up on a loaded
# machine (run-queue wait, not the GIL) from costing its messages HOG_POLL.
GIL_WAITED_SHARE = 0.8
HOG_LATE = 2
HOG_POLL = 5e-3
DRAIN_MAX = 4096  # queue entries per round, so heartbeats stay on time under load

# One queue entry: a message from publish(), a list of them from publish_many().
# One queue per endpoint: no (endpoint, message) tuple to allocate in publish(),
# whose allocations would also bring the garbage collector's next pass nearer.
Entry = dict[str, Any] | list[dict[str, Any]]


class PushSender:
    def __init__(self, context: zmq.Context, addresses: list[str], sndhwm: int, queues: list[deque[Entry]],
                 recorder: StatsRecorder, heartbeat_interval: float, on_heartbeat: Callable[[], None],
                 curve: CurveClientKeys | None = None, batch_backlog: bool = False) -> None:
        self.addresses = addresses
        self.batch_backlog = batch_backlog
        self.popped = 0  # messages taken off the queue; written by this thread only
        self._queues = queues
        self._recorder = recorder
        self._heartbeat_interval = heartbeat_interval
        self._on_heartbeat = on_heartbeat
        self._encode = msgspec.json.Encoder().encode
        self._encode_logged = float("-inf")  # last "cannot encode" log line: at most one a second
        self._stopping = False
        self._late_polls = 0  # polls in a row that waited for the GIL (see GIL_WAITED_SHARE)
        self.hog_naps = 0  # HOG_POLL-long polls taken; written by this thread only
        self.timer_slack_ns: int | None = None  # the sender thread's, read back once it runs (None: no such knob)
        self._deadline = 0.0
        self._linger = 0.0
        self.sockets: list[zmq.Socket] = []
        self.monitors: list[ConnectionMonitor] = []
        for address in addresses:
            sock = context.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)  # close() sets the real linger, bounded by its deadline
            sock.setsockopt(zmq.SNDHWM, sndhwm)
            sock.setsockopt(zmq.IMMEDIATE, 1)  # no queue for an absent peer: drops are counted at once
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            if curve is not None:
                curve.apply(sock)  # encrypted, and the sidecar checks our key against its allow-list
            self.monitors.append(ConnectionMonitor(sock, address))
            sock.connect(address)
            self.sockets.append(sock)
        self._thread = threading.Thread(target=self._run, name="publisher-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def native_id(self) -> int | None:
        """The sender thread's kernel thread id once started (for /proc/…/task/<id>/)."""
        return self._thread.native_id

    def stop(self, linger: float) -> None:
        """Flush for up to ``linger`` s, then close the sockets; returns when done."""
        self._deadline = time.monotonic() + linger
        self._linger = linger
        self._stopping = True
        if self._thread.is_alive():
            self._thread.join(linger + 5)
        else:  # never started: close here
            self._close_sockets()

    # -- the sender thread --------------------------------------------------------
    def _run(self) -> None:
        try:
            self.timer_slack_ns = (thread_timer_slack() if TIMER_SLACK_NS is None
                                   else set_thread_timer_slack(TIMER_SLACK_NS))
            self._loop()
        except Exception:  # a bug (an unencodable message is a counted drop: _encoded)
            log.exception("publisher sender crashed")
        finally:
            self._close_sockets()

    def _loop(self) -> None:
        queues = self._queues
        sleep, monotonic = time.sleep, time.monotonic
        gil_waited = GIL_WAITED_SHARE * sys.getswitchinterval()
        last_work = monotonic()
        next_heartbeat = last_work + self._heartbeat_interval
        while True:
            now = monotonic()
            if any(queues):
                for endpoint, queue in enumerate(queues):
                    if queue:
                        self._drain(endpoint, queue)
                last_work = now
            elif self._stopping:
                return
            else:
                if self._late_polls >= HOG_LATE:
                    nap = HOG_POLL
                    self.hog_naps += 1
                else:
                    nap = FAST_POLL if now - last_work < FAST_WINDOW else SLOW_POLL
                sleep(nap)
                self._late_polls = self._late_polls + 1 if monotonic() - now > nap + gil_waited else 0
            if self._heartbeat_interval > 0 and now >= next_heartbeat and not self._stopping:
                self._on_heartbeat()  # stamps and queues one per endpoint, in seq order with the rest
                next_heartbeat = now + self._heartbeat_interval

    def _drain(self, endpoint: int, queue: deque[Entry]) -> None:
        if self.batch_backlog and len(queue) > 1:
            self._drain_batched(endpoint, queue)
            return
        for _ in range(DRAIN_MAX):
            try:
                item = queue.popleft()
            except IndexError:
                return
            if isinstance(item, dict):
                self.popped += 1
                frame = self._encoded(item)
                reason = "unencodable" if frame is None else self._send(endpoint, frame)
                if reason is not None and frame is not None:
                    self._recorder.drop(item.get("type", "unknown"), reason)
            else:
                self.popped += len(item)
                self._send_backlog(endpoint, item)

    def _drain_batched(self, endpoint: int, queue: deque[Entry]) -> None:
        """Everything waiting (up to DRAIN_MAX entries), in queue order."""
        messages: list[dict[str, Any]] = []
        for _ in range(DRAIN_MAX):
            try:
                item = queue.popleft()
            except IndexError:
                break
            if isinstance(item, dict):
                messages.append(item)
            else:
                messages.extend(item)
        self.popped += len(messages)
        self._send_backlog(endpoint, messages)

    def _encoded(self, message: dict[str, Any]) -> bytes | None:
        """The message's JSON, or None, counted as an ``unencodable`` drop: a value
        msgspec cannot encode (an object, a non-string key) costs that message, never
        the sender thread (its seq is lost, so the sidecar counts it as loss too)."""
        try:
            return self._encode(message)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
            self._recorder.drop(message.get("type", "unknown"), "unencodable")
            now = time.monotonic()
            if now - self._encode_logged >= 1.0:  # the caller's bug can repeat per message: rate-limited
                self._encode_logged = now
                log.warning("publisher: message not sent, cannot encode it as JSON: %s", exc)
            return None

    def _send_backlog(self, endpoint: int, messages: list[dict[str, Any]]) -> None:
        encoded = [(m, self._encoded(m)) for m in messages]
        messages = [m for m, frame in encoded if frame is not None]
        first = 0
        for count, frame in pack_frames([frame for _, frame in encoded if frame is not None]):
            reason = self._send(endpoint, frame)
            if reason is not None:
                for message in messages[first:first + count]:
                    self._recorder.drop(message.get("type", "unknown"), reason)
            first += count

    def _send(self, endpoint: int, frame: bytes) -> str | None:
        sock, monitor = self.sockets[endpoint], self.monitors[endpoint]
        while True:
            if self._stopping and time.monotonic() >= self._deadline:
                return "closed"
            try:
                sock.send(frame, zmq.NOBLOCK)
                return None
            except zmq.Again:
                if not monitor.connected:
                    return "no_peer"
                time.sleep(HWM_PAUSE)  # connected but full: the sidecar is behind; wait here, not in publish()
            except zmq.ZMQError as exc:  # pragma: no cover - the socket is closed only by this thread
                log.debug("send failed: %s", exc)
                return "closed"

    def _close_sockets(self) -> None:
        linger_ms = int(max(0.0, self._deadline - time.monotonic()) * 1000) if self._stopping else 0
        for monitor, sock in zip(self.monitors, self.sockets, strict=True):
            monitor.close()  # before the context terminates, or term() hangs
            sock.close(linger=linger_ms)
