"""A memory-capped window of recently seen event ids, per producer."""

from __future__ import annotations

from collections import deque


def dedup_key(producer: str | None, event_id: str) -> str:
    """Event ids are unique per producer, not across producers: B's trade is not a
    duplicate because A used the same id. A producer name never holds a space
    (schema.PRODUCER_PATTERN) and is never empty, so ``"<producer> <id>"`` and
    ``" <id>"`` (no producer) can never collide."""
    return f" {event_id}" if producer is None else f"{producer} {event_id}"


class RecentIds:
    """Remembers the last ``capacity`` ids; ``seen_before`` is O(1)."""

    __slots__ = ("_ids", "_order", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def seen_before(self, event_id: str) -> bool:
        """True if the id is in the window; otherwise remember it and return False."""
        if event_id in self._ids:
            return True
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())
        return False

    def __len__(self) -> int:
        return len(self._order)
