"""The one way the trading app emits telemetry: a ZeroMQ PUSH publisher that never
blocks its caller.

- ``publish()`` stamps ``producer``/``instance``/``seq``/``sent_ts``, encodes with
  msgspec and sends with NOBLOCK. If the send queue (SNDHWM) is full or no sidecar
  is connected, the message is dropped and counted, never waited for.
- ``IMMEDIATE=1``: no queue is built for a peer that is not connected, so a click
  while the sidecar is down is dropped *and counted* at once, instead of silently
  piling up and arriving minutes later with a meaningless latency.
- A seq is consumed even when the send fails, so drops show up at the sidecar as
  ``messages_lost_total`` with no help from the publisher.
- Several endpoints (comma separated) shard by symbol with a stable hash: each
  symbol's state lives in exactly one sidecar; seq counts per endpoint so each
  sidecar's loss accounting stays exact.
- Thread-safe: Streamlit runs each session in its own thread; one lock
  serialises socket use (ZeroMQ sockets are not thread-safe) and the counters.
- ``publish_many()`` is for a caller with a backlog (a feed that received a burst,
  a replay): its messages leave as JSON-array frames, one ``send`` per frame
  instead of per message, each message still stamped and counted on its own.
- The caller pays ~2-3 us per ``publish()`` (see docs/benchmarks.md, B3): one lock,
  one encode, one send; while the monitor says no sidecar is connected the send
  is not even attempted (a failing send raises, which costs more than a success).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import zlib
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import zmq

from .monitor import ConnectionMonitor

if TYPE_CHECKING:
    from .curve_keys import CurveClientKeys
    from .settings import AppSettings

log = logging.getLogger("trading_app.publisher")

_perf_counter = time.perf_counter
_time = time.time
_NOBLOCK = zmq.NOBLOCK

# publish() duration buckets: sub-microsecond to 10 ms.
PUBLISH_BUCKETS: tuple[float, ...] = (
    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 1e-2,
)
# publish_many() frames stay below the sidecar's default SIDECAR_MAX_MESSAGE_BYTES
# (65,536), with room to spare: a larger frame would be rejected as too_large.
BATCH_MAX_BYTES = 60_000


def pack_frames(payloads: Sequence[bytes], max_bytes: int = BATCH_MAX_BYTES) -> list[tuple[int, bytes]]:
    """Encoded messages -> frames: (message count, frame). Consecutive payloads are
    joined into one JSON array while it stays within ``max_bytes``; a payload that
    is alone in its frame is sent as the plain object, exactly as ``publish()`` would."""
    frames: list[tuple[int, bytes]] = []
    group: list[bytes] = []
    size = 1
    for payload in payloads:
        if group and size + len(payload) + 1 > max_bytes:
            frames.append(_frame(group))
            group, size = [], 1
        group.append(payload)
        size += len(payload) + 1  # the payload and its ',' (or the closing ']')
    if group:
        frames.append(_frame(group))
    return frames


def _frame(group: list[bytes]) -> tuple[int, bytes]:
    return len(group), group[0] if len(group) == 1 else b"[" + b",".join(group) + b"]"


class Published(msgspec.Struct):
    """What ``publish()`` did: the exact message, and whether it was queued.

    A msgspec Struct, built in C: ~40 ns against ~85 ns for a slots dataclass
    (whose generated ``__init__`` is a Python frame), on every ``publish()``."""

    message: dict[str, Any]
    queued: bool
    reason: str | None = None  # why it was dropped: "no_peer" | "hwm" | "closed"

    @property
    def seq(self) -> int:
        return int(self.message["seq"])

    @property
    def event_id(self) -> str:
        return str(self.message["event_id"])


def _quiet_context() -> zmq.Context:
    """A context whose I/O thread runs as SCHED_BATCH (Linux). Each send wakes that
    thread, and as a normal thread it often preempts the caller on the spot: on
    2 busy cores one publish() in six took ~30 us instead of ~3 us. A batch thread
    does not preempt on wake-up; it runs when a core is free, moments later."""
    context = zmq.Context()
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is not None:
        try:
            context.set(zmq.THREAD_SCHED_POLICY, policy)  # before the first socket starts the thread
        except (zmq.ZMQError, AttributeError):
            log.debug("cannot set the ZeroMQ I/O thread's scheduling policy")
    return context


class _Endpoint:
    __slots__ = ("address", "id_prefix", "lock", "monitor", "send", "seq", "socket")

    def __init__(self, context: zmq.Context, address: str, sndhwm: int, id_prefix: str,
                 lock: threading.Lock, curve: CurveClientKeys | None = None) -> None:
        self.address = address
        self.id_prefix = id_prefix  # event ids are "<instance>-<seq>" (+ shard index)
        self.lock = lock  # the publisher's one lock: it also guards the counters
        self.seq = 0
        sock = context.socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 0)  # never hang shutdown on a dead peer
        sock.setsockopt(zmq.SNDHWM, sndhwm)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if curve is not None:
            curve.apply(sock)  # encrypted, and the sidecar checks our key against its allow-list
        self.monitor = ConnectionMonitor(sock, address)
        sock.connect(address)
        self.socket = sock
        self.send = sock.send  # bound once: publish() is hot


class Publisher:
    def __init__(self, addresses: str | list[str], producer: str = "trading-app",
                 sndhwm: int = 10_000, heartbeat_interval: float = 1.0,
                 context: zmq.Context | None = None, curve: CurveClientKeys | None = None) -> None:
        if isinstance(addresses, str):
            addresses = [a.strip() for a in addresses.split(",") if a.strip()]
        if not addresses:
            raise ValueError("at least one ZeroMQ endpoint is required")
        self.producer = producer
        self.instance = uuid.uuid4().hex[:12]  # changes on every restart: a restart is not loss
        self._own_context = context is None
        self.context = context or _quiet_context()
        # One lock for the sockets and the counters: publish() takes it once. Sends
        # never block (NOBLOCK), so sharding endpoints behind one lock costs nothing.
        self._stats_lock = threading.Lock()
        self.endpoints = [
            _Endpoint(self.context, a, sndhwm, f"{self.instance}-" if len(addresses) == 1 else f"{self.instance}-{i}-",
                      self._stats_lock, curve)
            for i, a in enumerate(addresses)
        ]
        self._encode = msgspec.json.Encoder().encode
        self.sent: defaultdict[str, int] = defaultdict(int)
        self.dropped: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.duration_counts = [0] * (len(PUBLISH_BUCKETS) + 1)
        self.duration_sum = 0.0
        self._closed = False
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None
        if heartbeat_interval > 0:
            self._heartbeat_thread = threading.Thread(
                target=self._heartbeat_loop, args=(heartbeat_interval,), name="publisher-heartbeat", daemon=True)
            self._heartbeat_thread.start()

    # -- state --------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True when every endpoint has a connected sidecar."""
        return all(ep.monitor.connected for ep in self.endpoints)

    def endpoint_status(self) -> dict[str, bool]:
        return {ep.address: ep.monitor.connected for ep in self.endpoints}

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected:
                return True
            time.sleep(0.01)
        return self.connected

    def _endpoint_index(self, message: dict[str, Any]) -> int:
        n = len(self.endpoints)
        if n == 1:
            return 0
        symbol = message.get("symbol") or ""
        return zlib.crc32(symbol.encode()) % n

    # -- the hot path ---------------------------------------------------------
    def publish(self, message: dict[str, Any]) -> Published:
        """Stamp, encode and send without blocking. Never raises for transport
        problems: the result says whether the message was queued."""
        started = _perf_counter()
        ep = self.endpoints[self._endpoint_index(message)]
        kind = message.get("type", "unknown")
        lock = self._stats_lock
        lock.acquire()  # not ``with``: half the cost, and measurable at this scale
        try:
            self._stamp(ep, message)
            reason = self._send(ep, self._encode(message))
            self._account(kind, reason, _perf_counter() - started)
        finally:
            lock.release()
        return Published(message, reason is None, reason)

    def publish_many(self, messages: Sequence[dict[str, Any]]) -> list[Published]:
        """For a caller with a backlog: stamp every message as ``publish()`` would,
        then send them as JSON-array frames (``pack_frames``), one ``send`` per
        frame. A frame that cannot be sent drops each of its messages, each counted
        (and each seq consumed, so the sidecar sees the loss). Results are in input
        order; each message's duration is its share of the time spent."""
        started = time.perf_counter()
        by_endpoint: dict[int, list[int]] = {}  # endpoint -> its messages' indexes, in order
        for index, message in enumerate(messages):
            by_endpoint.setdefault(self._endpoint_index(message), []).append(index)
        outcome: list[str | None] = [None] * len(messages)  # drop reason per message
        with self._stats_lock:
            for endpoint, indexes in by_endpoint.items():
                ep = self.endpoints[endpoint]
                payloads = []
                for index in indexes:
                    self._stamp(ep, messages[index])
                    payloads.append(self._encode(messages[index]))
                first = 0
                for count, frame in pack_frames(payloads):
                    reason = self._send(ep, frame)
                    for index in indexes[first:first + count]:
                        outcome[index] = reason
                    first += count
            share = (time.perf_counter() - started) / max(len(messages), 1)
            for message, reason in zip(messages, outcome, strict=True):
                self._account(message.get("type", "unknown"), reason, share)
        return [Published(message, reason is None, reason) for message, reason in zip(messages, outcome, strict=True)]

    def _stamp(self, ep: _Endpoint, message: dict[str, Any]) -> None:
        ep.seq += 1
        message["producer"] = self.producer
        message["instance"] = self.instance
        message["seq"] = ep.seq
        if "event_id" not in message:
            message["event_id"] = f"{ep.id_prefix}{ep.seq}"
        message["sent_ts"] = _time()

    def _send(self, ep: _Endpoint, payload: bytes) -> str | None:
        if self._closed:
            return "closed"
        if not ep.monitor.connected:
            # With IMMEDIATE the send would fail anyway; raising and catching
            # zmq.Again costs ~3 us, this check ~0.05 us.
            return "no_peer"
        try:
            ep.send(payload, _NOBLOCK)
            return None
        except zmq.Again:
            return "hwm" if ep.monitor.connected else "no_peer"
        except zmq.ZMQError as exc:  # socket closed under us during shutdown
            log.debug("send failed: %s", exc)
            return "closed"

    def _account(self, kind: str, reason: str | None, elapsed: float) -> None:
        """Count one message. Called with the lock held."""
        if reason is None:
            self.sent[kind] += 1
        else:
            self.dropped[kind, reason] += 1
        self.duration_counts[bisect_left(PUBLISH_BUCKETS, elapsed)] += 1
        self.duration_sum += elapsed

    # -- message helpers ------------------------------------------------------
    def trade(self, side: str, qty: float, symbol: str | None = None, price: float | None = None,
              ts: float | None = None) -> Published:
        message: dict[str, Any] = {"type": "trade", "side": side, "qty": float(qty),
                                   "ts": time.time() if ts is None else ts}
        if symbol:
            message["symbol"] = symbol
        if price is not None:
            message["price"] = float(price)
        return self.publish(message)

    def tick(self, symbol: str, price: float, volume: float = 0.0, source: str = "sim",
             ts: float | str | None = None, event_id: str | None = None,
             bid: float | None = None, ask: float | None = None) -> Published:
        message: dict[str, Any] = {"type": "tick", "symbol": symbol, "price": float(price),
                                   "volume": float(volume), "source": source,
                                   "ts": time.time() if ts is None else ts}
        if event_id is not None:
            message["event_id"] = event_id
        if bid is not None:
            message["bid"] = float(bid)
        if ask is not None:
            message["ask"] = float(ask)
        return self.publish(message)

    def heartbeat(self) -> None:
        """One heartbeat to every endpoint (they are per-sidecar liveness)."""
        for ep in self.endpoints:
            started = time.perf_counter()
            with ep.lock:
                ep.seq += 1
                now = time.time()
                message = {"type": "heartbeat", "ts": now, "producer": self.producer,
                           "instance": self.instance, "seq": ep.seq, "sent_ts": now}
                reason = self._send(ep, self._encode(message))
                self._account("heartbeat", reason, time.perf_counter() - started)

    def _heartbeat_loop(self, interval: float) -> None:
        while not self._heartbeat_stop.wait(interval):
            if self._closed:
                return
            self.heartbeat()

    # -- reads and shutdown -----------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._stats_lock:
            return {
                "sent": dict(self.sent),
                "dropped": dict(self.dropped),
                "duration_counts": list(self.duration_counts),
                "duration_sum": self.duration_sum,
            }

    def close(self, linger: float = 0.0) -> None:
        """``linger`` > 0: give messages still queued for a connected sidecar up to
        that many seconds to leave (a one-shot producer such as
        ``trading-app-feed --count N`` wants its last ticks delivered). Default 0:
        never hang shutdown on a dead peer."""
        if self._closed:
            return
        self._heartbeat_stop.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(2)
        for ep in self.endpoints:
            with ep.lock:
                self._closed = True
                # The monitor must close before the context terminates, or term() hangs.
                ep.monitor.close()
                ep.socket.close(linger=int(linger * 1000))
        if self._own_context:
            self.context.term()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_publisher(settings: AppSettings, role: str) -> Publisher:
    """The publisher ``WEBAPP_DELIVERY`` asks for, producer ``<WEBAPP_PRODUCER>-<role>``:
    this fire-and-forget one, or the lossless ``reliable.ReliablePublisher``."""
    producer = f"{settings.producer}-{role}"
    if settings.delivery == "reliable":
        from .reliable import ReliablePublisher

        return ReliablePublisher.from_settings(settings, producer)
    return Publisher(settings.zmq_addr, producer=producer, sndhwm=settings.sndhwm,
                     heartbeat_interval=settings.heartbeat_interval_seconds, curve=settings.curve_keys)
