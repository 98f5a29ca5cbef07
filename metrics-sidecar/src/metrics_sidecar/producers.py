"""Per-producer sequence tracking: loss, duplicates and liveness.

A producer is a stable name plus an instance id that changes when the producer
restarts. Sequence numbers increase by one per message within an instance, so a
gap of k means k messages never arrived (dropped at the publisher's HWM, or lost
in transport) and a seq at or below the last one is a resend. A new instance is
a restart, not loss: its first seq starts a fresh count.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

OVERFLOW_LABEL = "__overflow__"


@dataclass(slots=True)
class ProducerStats:
    lost: int = 0
    received: int = 0
    last_seen: float = 0.0
    instances_seen: int = 0


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

    def observe(self, name: str, instance: str | None, seq: int | None, now: float) -> tuple[str, bool]:
        """Record one message. Returns (label, is_duplicate)."""
        label = self.label_for(name)
        stats = self.stats[label]
        stats.last_seen = now
        if seq is None:
            stats.received += 1
            return label, False
        key = (name, instance or "")
        last = self._last_seq.get(key)
        if last is None:
            stats.instances_seen += 1
            self._last_seq[key] = seq
            if len(self._last_seq) > self.max_instances:
                self._last_seq.popitem(last=False)
        elif seq > last:
            if seq != last + 1:
                stats.lost += seq - last - 1
            self._last_seq[key] = seq
        else:
            return label, True  # a resend or replay of something already counted
        stats.received += 1
        return label, False
