"""``ReliablePublisher``: the lossless delivery mode (``WEBAPP_DELIVERY=reliable``).

It implements the ``Publisher`` protocol (``protocol.py``) with a different
promise: ``publish()`` returns after the stamped message is committed to the
SQLite outbox (``outbox.py``), and a background sender (``sender.py``) delivers
it to the sidecar's ROUTER, resending until acked, across sidecar restarts and
publisher restarts. ``queued=True`` means *accepted*: it will be counted exactly
once, whatever crashes later. Refusals are counted like the other mode's drops:
``outbox_full`` (the sidecar has been away for ``max_pending`` messages),
``outbox_error`` (disk), ``closed``.

Address parsing, sharding (crc32 of the symbol, a seq per endpoint), stamping
and counting are the ones the fire-and-forget mode uses (``endpoints.py``,
``stats.py``).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import zmq

from ...curve_keys import CurveClientKeys
from ..endpoints import Stamper, parse_addresses, shard_index, wait_connected
from ..messages import MessageHelpers, drop_placeholders
from ..protocol import Published
from ..stats import OutboxStats, PublisherStats, StatsRecorder
from .outbox import Outbox, SenderView
from .sender import Sender, Stream

if TYPE_CHECKING:
    from ...settings import AppSettings

log = logging.getLogger("trading_app.reliable")


class ReliablePublisher(MessageHelpers):
    """Implements ``protocol.Publisher``; shares no state with the PUSH one."""

    def __init__(self, addresses: str | list[str], outbox_path: str | Path, producer: str = "trading-app",
                 heartbeat_interval: float = 1.0, synchronous: str = "NORMAL", max_pending: int = 1_000_000,
                 ack_timeout: float = 1.0, max_backoff: float = 10.0, drain_seconds: float = 2.0,
                 context: zmq.Context | None = None, curve: CurveClientKeys | None = None) -> None:
        addresses = parse_addresses(addresses)
        self._stamper = Stamper(producer, len(addresses))
        self.producer = producer
        self.instance = self._stamper.instance  # a new stream per start; old streams keep their stamps
        self.addresses = addresses
        self.max_pending = max_pending
        self.drain_seconds = drain_seconds
        self._own_context = context is None
        self.context = context or zmq.Context()
        self._encode = msgspec.json.Encoder().encode
        self._recorder = StatsRecorder()
        self._closed = False
        self.outbox = Outbox(outbox_path, synchronous)
        self._lock = self.outbox.write_lock  # seq and the INSERT move together
        self.sender = Sender(self.outbox, addresses, self.context, ack_timeout, max_backoff,
                             self._heartbeat_payload if heartbeat_interval > 0 else None,
                             heartbeat_interval or 1.0, self._account_heartbeat, curve)
        view = self.outbox.connect_sender()
        try:
            self._pending = view.pending()
            self._adopt_earlier_streams(view)
        finally:
            view.close()
        self._live: list[Stream] = []
        for i, address in enumerate(addresses):
            stream_id = self.outbox.new_stream(address, producer, self.instance)
            stream = Stream(stream_id, i, producer, self.instance, head=0, acked=0, sent=0, live=True)
            self._live.append(stream)
            self.sender.add_stream(stream)
        self.sender.start()

    @classmethod
    def from_settings(cls, settings: AppSettings, producer: str) -> ReliablePublisher:
        path = Path(settings.outbox_dir) / f"{producer}.sqlite"
        return cls(settings.zmq_addr, path, producer=producer,
                   heartbeat_interval=settings.heartbeat_interval_seconds,
                   synchronous=settings.outbox_synchronous, max_pending=settings.outbox_max_messages,
                   ack_timeout=settings.reliable_ack_timeout_seconds,
                   max_backoff=settings.reliable_max_backoff_seconds,
                   drain_seconds=settings.reliable_drain_seconds, curve=settings.curve_keys)

    def _adopt_earlier_streams(self, view: SenderView) -> None:
        """Streams of earlier runs with rows left: resend them as they are."""
        for row in view.streams():
            if row.last_seq == 0:
                self.outbox.drop_stream(row.id)  # fully acked
                continue
            if row.endpoint not in self.addresses:
                log.warning("outbox holds %d messages for %s, which is no longer configured; kept",
                            row.last_seq - row.first_seq + 1, row.endpoint)
                continue
            acked = row.first_seq - 1  # rows up to here were acked and deleted
            self.sender.add_stream(Stream(row.id, self.addresses.index(row.endpoint), row.producer, row.instance,
                                          head=row.last_seq, acked=acked, sent=acked, live=False,
                                          deleted=acked, high=row.last_seq))

    # -- state ---------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return all(m.connected for m in self.sender.monitors)

    def endpoint_status(self) -> dict[str, bool]:
        return {m.address: m.connected for m in self.sender.monitors}

    def wait_connected(self, timeout: float) -> bool:
        return wait_connected(self, timeout)

    def unacked(self) -> int:
        return self.sender.unacked()

    # -- the hot path ----------------------------------------------------------------------
    def publish(self, message: dict[str, Any]) -> Published:
        """Stamp, encode and commit to the outbox; the sender does the rest."""
        started = time.perf_counter()
        index = shard_index(message, len(self._live))
        stream = self._live[index]
        kind = message.get("type", "unknown")
        reason: str | None = None
        with self._lock:
            if self._closed:
                reason = "closed"
            elif self._pending - self.sender.stats.acked >= self.max_pending:
                reason = "outbox_full"
            else:
                seq = stream.head + 1
                self._stamper.stamp(message, index, seq)
                try:
                    self.outbox.append(stream.id, seq, self._encode(message))
                except sqlite3.Error:
                    log.exception("outbox append failed")
                    reason = "outbox_error"  # seq not consumed: the stream stays contiguous
                else:
                    stream.head = seq
                    self._pending += 1
        if reason is None and self.sender.idle:
            self.sender.wake()
        elif reason is not None:
            drop_placeholders(message)  # closed, outbox_full: refused before the stamp
        self._recorder.account(kind, reason, time.perf_counter() - started)
        return Published(message, reason is None, reason)

    def publish_many(self, messages: Sequence[dict[str, Any]]) -> list[Published]:
        """Each message is its own outbox row (the sender batches the resends)."""
        return [self.publish(message) for message in messages]

    def _account_heartbeat(self, reason: str | None) -> None:
        if reason is None:
            self._recorder.count_sent("heartbeat")
        else:
            self._recorder.drop("heartbeat", reason)

    def _heartbeat_payload(self, endpoint: int) -> bytes:
        # Liveness, not data: never stored, never resent, no seq (a resent
        # heartbeat would claim the producer was alive when it was not).
        now = time.time()
        return self._encode({"type": "heartbeat", "ts": now, "producer": self.producer,
                             "instance": self.instance, "sent_ts": now})

    def heartbeat(self) -> None:
        self.sender.request_heartbeat()

    # -- reads and shutdown ----------------------------------------------------------------------
    def stats(self) -> PublisherStats:
        stats = self.sender.stats
        return self._recorder.snapshot(OutboxStats(self.sender.unacked(), stats.acked, stats.resent,
                                                   stats.rewinds, stats.timeouts))

    def close(self, linger: float | None = None, drain_seconds: float | None = None) -> None:
        """Stop accepting, try to deliver what is pending for ``drain_seconds``
        (``linger``, the fire-and-forget name, means the same; default
        ``WEBAPP_RELIABLE_DRAIN_SECONDS``). Whatever is still unacked stays in the
        outbox and is sent by the next start: nothing accepted is dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        wait = drain_seconds if drain_seconds is not None else linger
        self.sender.drain(self.drain_seconds if wait is None else wait)
        self.sender.stop()
        self.outbox.close()
        if self._own_context:
            self.context.term()

    def __enter__(self) -> ReliablePublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
