"""Fire-and-forget delivery (``WEBAPP_DELIVERY=fire_and_forget``, the default):
ZeroMQ PUSH to the sidecar's PULL, with the send off the caller's path.

``publish()`` stamps the message (``endpoints.Stamper``) and appends it to a
bounded in-process queue; the sender thread (``push_sender.py``) owns the
sockets and sends. The caller never makes a system call: no socket operation,
no wake-up, no sleep; one uncontended lock (user-space) orders seqs with the
queue and the counters. One queue per endpoint (seqs count per endpoint); one
call in ``DURATION_SAMPLE`` is timed. What the caller gets back:

- ``queued=True``: accepted into the queue. The sender then sends it, or, if
  the sidecar disconnects before it gets there, drops and counts it (``no_peer``).
- ``no_peer``: the socket monitor says no sidecar is connected (``IMMEDIATE``):
  a click while the sidecar is down is dropped and counted at once instead of
  piling up and arriving minutes later with a meaningless latency.
- ``queue_full``: ``queue_size`` messages are already waiting (the sidecar is
  slower than the app). Counted, never waited for.
- ``closed``: after ``close()``.

``batch_backlog=True`` (what ``make_publisher()`` builds): a backlog of single
``publish()`` calls leaves as JSON-array frames, like ``publish_many()``'s; the
default sends one plain object per ``publish()``.

Every drop consumes a seq, so the sidecar sees it as ``messages_lost_total``
with no help from the publisher. ``publish()`` takes ownership of the dict: the
sender encodes it later, so the caller must not change it afterwards.
Thread-safe: Streamlit runs each session in its own thread.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import zmq

from .endpoints import Stamper, parse_addresses, shard_index, wait_connected
from .messages import MessageHelpers, heartbeat_message
from .protocol import Published
from .push_sender import Entry, PushSender
from .stats import PublisherStats, StatsRecorder

if TYPE_CHECKING:
    from ..curve_keys import CurveClientKeys

log = logging.getLogger("trading_app.publisher")

_perf_counter = time.perf_counter
_time = time.time
DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_CLOSE_LINGER = 1.0
DURATION_SAMPLE = 64  # publish() calls per timed one (a power of two)
DURATION_SAMPLE_MASK = DURATION_SAMPLE - 1


def quiet_context() -> zmq.Context:
    """A context whose I/O thread runs as SCHED_BATCH (Linux). As a normal thread
    it often preempts the thread that woke it (now the sender) on the spot; a batch
    thread does not preempt on wake-up, it runs when a core is free, moments later."""
    context = zmq.Context()
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is not None:
        try:
            context.set(zmq.THREAD_SCHED_POLICY, policy)  # before the first socket starts the thread
        except (zmq.ZMQError, AttributeError):
            log.debug("cannot set the ZeroMQ I/O thread's scheduling policy")
    return context


class PushPublisher(MessageHelpers):
    def __init__(self, addresses: str | list[str], producer: str = "trading-app", sndhwm: int = 10_000,
                 heartbeat_interval: float = 1.0, context: zmq.Context | None = None,
                 curve: CurveClientKeys | None = None, queue_size: int = DEFAULT_QUEUE_SIZE,
                 batch_backlog: bool = False) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.addresses = parse_addresses(addresses)
        self._stamper = Stamper(producer, len(self.addresses))
        self.producer = producer
        self.instance = self._stamper.instance
        self.queue_size = queue_size
        self._own_context = context is None
        self.context = context or quiet_context()
        self._recorder = StatsRecorder()
        self._lock = self._recorder.lock  # seq, queue order and counters move together
        self._queues: list[deque[Entry]] = [deque() for _ in self.addresses]
        self._pushed = 0  # messages appended (under the lock); the sender counts what it took
        self._closed = False
        self._sender = PushSender(self.context, self.addresses, sndhwm, self._queues, self._recorder,
                                  heartbeat_interval, self.heartbeat, curve, batch_backlog)
        self._monitors = self._sender.monitors
        self._single = len(self.addresses) == 1
        self._seqs = self._stamper.seqs
        self._prefixes = self._stamper.prefixes
        self._sent = self._recorder.sent
        self._dropped = self._recorder.dropped
        self._sender.start()

    # -- state ----------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return all(m.connected for m in self._monitors)

    def endpoint_status(self) -> dict[str, bool]:
        return {m.address: m.connected for m in self._monitors}

    def wait_connected(self, timeout: float) -> bool:
        return wait_connected(self, timeout)

    def backlog(self) -> int:
        """Messages accepted and not yet taken by the sender."""
        return self._pushed - self._sender.popped

    # -- the hot path -----------------------------------------------------------
    def publish(self, message: dict[str, Any]) -> Published:
        """Number and queue; never blocks, never raises for transport problems.

        Under one uncontended lock that orders seqs with the queue: the stamp,
        the checks, the append and the per-type count; nothing else. One call in
        ``DURATION_SAMPLE`` is timed for ``publisher_publish_duration_seconds``.

        Why one flat body (``Stamper.stamp_next`` and ``_enqueue_locked`` written
        out, not called): the slow calls are the first ones after the sender
        thread held the GIL, which find the caller's core cold, and the cold cost
        grows with every frame and object the call touches (docs/benchmarks.md,
        *B3 tail*: two frames fewer, and a builder's pre-sized dict, took the share
        of calls over 5 µs from ~1.0 % to ~0.7 % in same-run interleaved runs)."""
        started = _perf_counter()
        endpoint = 0 if self._single else shard_index(message, len(self._queues))
        lock = self._lock
        lock.acquire()  # not ``with``: half the cost, and measurable at this scale
        try:
            seqs = self._seqs  # the Stamper's: publish_many() and heartbeat() number from the same list
            seq = seqs[endpoint] = seqs[endpoint] + 1  # consumed even if the message is then dropped
            message["producer"] = self.producer
            message["instance"] = self.instance
            message["seq"] = seq
            if message.get("event_id") is None:
                message["event_id"] = f"{self._prefixes[endpoint]}{seq}"
            message["sent_ts"] = _time()
            if self._closed:
                reason: str | None = "closed"
            elif not self._monitors[endpoint].connected:
                reason = "no_peer"
            elif self._pushed - self._sender.popped >= self.queue_size:
                reason = "queue_full"
            else:
                self._queues[endpoint].append(message)
                self._pushed += 1
                reason = None
            if reason is None:
                self._sent[message.get("type", "unknown")] += 1
            else:
                self._dropped[message.get("type", "unknown"), reason] += 1
            if not seq & DURATION_SAMPLE_MASK:
                self._recorder.observe_duration_locked(_perf_counter() - started)
        finally:
            lock.release()
        return Published(message, reason is None, reason)

    def _enqueue_locked(self, message: dict[str, Any], endpoint: int) -> str | None:
        """Queue a numbered message, or say why not. Hold the lock. (``publish()``
        has these checks written out: keep the two the same.)"""
        if self._closed:
            return "closed"
        if not self._monitors[endpoint].connected:
            return "no_peer"
        if self._pushed - self._sender.popped >= self.queue_size:
            return "queue_full"
        self._queues[endpoint].append(message)
        self._pushed += 1
        return None

    def publish_many(self, messages: Sequence[dict[str, Any]]) -> list[Published]:
        """For a caller with a backlog: each message stamped and counted as
        ``publish()`` would, queued as one entry per endpoint that the sender packs
        into JSON-array frames. Messages beyond the queue's room are dropped as
        ``queue_full``. Results in input order; each message's duration is its
        share of the time spent."""
        started = _perf_counter()
        by_endpoint: dict[int, list[int]] = {}  # endpoint -> its messages' indexes, in order
        for index, message in enumerate(messages):
            by_endpoint.setdefault(shard_index(message, len(self._monitors)), []).append(index)
        outcome: list[str | None] = [None] * len(messages)
        with self._lock:
            for endpoint, indexes in by_endpoint.items():
                for index in indexes:
                    self._stamper.stamp_next(messages[index], endpoint)
                reason = "closed" if self._closed else None if self._monitors[endpoint].connected else "no_peer"
                room = 0 if reason else max(0, self.queue_size - (self._pushed - self._sender.popped))
                accepted = indexes[:room]
                if accepted:
                    self._queues[endpoint].append([messages[i] for i in accepted])
                    self._pushed += len(accepted)
                for index in indexes[room:]:
                    outcome[index] = reason or "queue_full"
            share = (_perf_counter() - started) / max(len(messages), 1)
            for message, reason in zip(messages, outcome, strict=True):
                self._recorder.account_locked(message.get("type", "unknown"), reason, share)
        return [Published(message, reason is None, reason) for message, reason in zip(messages, outcome, strict=True)]

    def heartbeat(self) -> None:
        """One heartbeat to every endpoint (they are per-sidecar liveness), queued
        behind what is already waiting so its seq stays in order. None once closed
        (the sender's timer may fire during close(): that is not a drop)."""
        if self._closed:
            return
        for endpoint in range(len(self._monitors)):
            started = _perf_counter()
            message = heartbeat_message()
            with self._lock:
                self._stamper.stamp_next(message, endpoint)
                reason = self._enqueue_locked(message, endpoint)
                self._recorder.account_locked("heartbeat", reason, _perf_counter() - started)

    # -- reads and shutdown -------------------------------------------------------
    def stats(self) -> PublisherStats:
        return self._recorder.snapshot()

    def close(self, linger: float | None = None) -> None:
        """Stop accepting; the sender sends what is queued for up to ``linger``
        seconds (default 1 s; what is left is counted as ``closed``), then closes
        the sockets with the rest of that time as LINGER, which ``context.term()``
        waits out. A dead or absent sidecar costs no wait: nothing is queued for it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._sender.stop(DEFAULT_CLOSE_LINGER if linger is None else linger)
        if self._own_context:
            self.context.term()

    def __enter__(self) -> PushPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
