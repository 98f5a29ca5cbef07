"""The counters a publisher keeps, and the typed record it reports them in.

``StatsRecorder`` is shared by both delivery modes: sent and dropped messages by
type (and reason), and a histogram of the time the caller spent in ``publish()``.
``PublisherStats`` is the read-only copy the app's ``/metrics`` renders
(``trading_app.exposition``), the UI shows and the feed CLI prints.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass

# publish() duration buckets: sub-microsecond to 10 ms.
PUBLISH_BUCKETS: tuple[float, ...] = (
    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 1e-2,
)
MESSAGE_TYPES = ("trade", "tick", "heartbeat")


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """The reliable mode's outbox and sender."""

    unacked: int  # accepted, not acknowledged by the sidecar yet
    acked: int
    resent: int
    rewinds: int
    timeouts: int


@dataclass(frozen=True, slots=True)
class PublisherStats:
    sent: dict[str, int]  # accepted messages by type
    dropped: dict[tuple[str, str], int]  # (type, reason) -> messages
    duration_counts: list[int]  # per PUBLISH_BUCKETS bound, then +Inf (not cumulative)
    duration_sum: float  # seconds
    outbox: OutboxStats | None = None  # reliable mode only


class StatsRecorder:
    """Counters behind one lock. ``lock`` is public so a publisher can hold it
    around its own state (seq, queue) and count in the same critical section."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: defaultdict[str, int] = defaultdict(int)
        self.dropped: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.duration_counts = [0] * (len(PUBLISH_BUCKETS) + 1)
        self.duration_sum = 0.0

    def account_locked(self, kind: str, reason: str | None, elapsed: float) -> None:
        """Count one message that spent ``elapsed`` s in publish(). Hold ``lock``."""
        if reason is None:
            self.sent[kind] += 1
        else:
            self.dropped[kind, reason] += 1
        self.observe_duration_locked(elapsed)

    def observe_duration_locked(self, elapsed: float) -> None:
        """One publish() duration sample. Hold ``lock``."""
        self.duration_counts[bisect_left(PUBLISH_BUCKETS, elapsed)] += 1
        self.duration_sum += elapsed

    def account(self, kind: str, reason: str | None, elapsed: float) -> None:
        with self.lock:
            self.account_locked(kind, reason, elapsed)

    def drop(self, kind: str, reason: str, n: int = 1) -> None:
        """A drop that happened outside publish() (no duration): a background
        sender's heartbeat, or a message lost after it was accepted."""
        with self.lock:
            self.dropped[kind, reason] += n

    def count_sent(self, kind: str) -> None:
        """A message sent outside publish() (a background sender's heartbeat)."""
        with self.lock:
            self.sent[kind] += 1

    def snapshot(self, outbox: OutboxStats | None = None) -> PublisherStats:
        with self.lock:
            return PublisherStats(dict(self.sent), dict(self.dropped), list(self.duration_counts),
                                  self.duration_sum, outbox)
