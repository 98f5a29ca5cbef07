"""A memory-capped window of recently seen event ids, per producer: kept by the
compiled core (``core/src/dedup.rs``). ``RecentIds(capacity)``;
``seen_before(producer, event_id)`` is O(1) and remembers the pair when new.

Event ids are unique per producer, not across producers: B's trade is not a
duplicate because A used the same id. The window's key is ``"<producer> <id>"``,
or ``" <id>"`` with no producer; a producer name never holds a space
(schema.PRODUCER_PATTERN) and is never empty, so no two pairs share a key.
``keys()`` (oldest first) and ``remember(key)`` save and restore the window
(snapshot.py).
"""

from __future__ import annotations

from ._core import RecentIds

__all__ = ["RecentIds"]
