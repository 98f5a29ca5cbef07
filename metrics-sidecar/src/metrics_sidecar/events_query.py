"""Which recent events GET /events returns: optionally only one message type,
one producer and one producer instance, newest first, at most ``limit``. A UI
reads its own trades back this way (its producer and instance), however many
heartbeats and ticks arrived since."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .decode import Heartbeat, Tick, Trade

Event = Trade | Tick | Heartbeat


@dataclass(frozen=True)
class EventFilter:
    kind: str | None = None
    producer: str | None = None
    instance: str | None = None

    def matches(self, event: Event) -> bool:
        return ((self.kind is None or event.kind == self.kind)
                and (self.producer is None or event.producer == self.producer)
                and (self.instance is None or event.instance == self.instance))


def select(newest_first: Iterable[Event], wanted: EventFilter, limit: int) -> list[Event]:
    """The first ``limit`` events that match, in the order given (newest first)."""
    out: list[Event] = []
    if limit <= 0:
        return out
    for event in newest_first:
        if wanted.matches(event):
            out.append(event)
            if len(out) >= limit:
                break
    return out
