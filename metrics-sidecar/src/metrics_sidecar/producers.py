"""Per-producer sequence tracking: loss, duplicates and liveness.

A producer is a stable name plus an instance id that changes when the producer
restarts. Sequence numbers increase by one per message within an instance, so a
gap of k means k messages never arrived (dropped at the publisher's HWM, or lost
in transport). A new instance is a restart, not loss: its first seq starts a
fresh count.

A stream is (producer, instance); a producer that omits ``instance`` is one
stream. A seq that does not follow the last one of its stream is judged
(docs/delivery.md):

- above it by at most ``RESTART_AHEAD``: the messages in between were lost;
- below it, to 0 or 1 or by more than ``RESTART_BEHIND``, or above it by more
  than ``RESTART_AHEAD``: a restart (a producer without an instance restarted,
  or reset its counter). Counted in ``producer_restarts_total``, applied, and
  counting starts afresh from it;
- otherwise (equal to the last seq, or a little below it): a resend of
  something already counted, dropped as a duplicate.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

OVERFLOW_LABEL = "__overflow__"
RESTART_BEHIND = 1000  # a seq further back than this is a restart, not a resend
# A seq further ahead than this is a reset too, not 4 billion lost messages: one
# message (seq may be up to 2**63-1) must not be able to inflate a loss counter.
RESTART_AHEAD = 2**32
LOST_MAX = 2**63 - 1  # the loss counter saturates: it must stay an int64 (journal, snapshot)


@dataclass(slots=True)
class ProducerStats:
    lost: int = 0
    received: int = 0
    last_seen: float = 0.0
    instances_seen: int = 0
    restarts: int = 0  # seq went back to <= 1 or far behind within one stream (not persisted in snapshots)


class ProducerTracker:
    def __init__(self, max_producers: int, max_instances: int = 4096) -> None:
        self.max_producers = max_producers
        self.max_instances = max_instances
        self.stats: dict[str, ProducerStats] = {}
        self._last_seq: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.overflowed = 0

    def label_for(self, name: str) -> str:
        if name in self.stats:
            return name
        if len(self.stats) >= self.max_producers:
            self.overflowed += 1
            name = OVERFLOW_LABEL
            if name in self.stats:
                return name
        self.stats[name] = ProducerStats()
        return name

    def observe(self, name: str, instance: str | None, seq: int | None, now: float,
                count: bool = True) -> tuple[str, bool]:
        """Record one message. Returns (label, is_duplicate). ``count=False``: the
        message was dropped as a duplicate by its event id; its seq still moves the
        stream on (so it is never also a gap, i.e. loss), but it is not received."""
        label = self.label_for(name)
        stats = self.stats[label]
        stats.last_seen = now
        if seq is None:
            stats.received += count
            return label, False
        key = (name, instance or "")
        last = self._last_seq.get(key)
        if last is None:
            stats.instances_seen += 1
            self._last_seq[key] = seq
            if len(self._last_seq) > self.max_instances:
                self._last_seq.popitem(last=False)
        elif last < seq <= last + RESTART_AHEAD:
            if seq != last + 1:
                stats.lost = min(stats.lost + seq - last - 1, LOST_MAX)
            self._last_seq[key] = seq
        elif seq > last or (seq < last and (seq <= 1 or last - seq > RESTART_BEHIND)):
            stats.restarts += 1  # the producer restarted without a new instance: a fresh count
            self._last_seq[key] = seq
        else:
            return label, True  # a resend or replay of something already counted
        stats.received += count
        return label, False
