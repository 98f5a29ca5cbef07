"""``FlushingLock``: what ``state.lock`` becomes with ``SIDECAR_STATE_DIR``
(persistence.py). Its release first writes the holder's journal records, so
state is never visible to a reader before it is on its way to disk."""

from __future__ import annotations

import threading
from typing import Protocol


class Flusher(Protocol):
    def flush_locked(self) -> None:
        """Write what the lock holder recorded; never raises (persistence.DurableState)."""


class FlushingLock:
    """Drop-in for ``state.lock``: its release writes the holder's journal records
    first, so state is never visible before it is on its way to disk."""

    def __init__(self, durable: Flusher) -> None:
        self._lock = threading.Lock()
        self._durable = durable

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        try:
            self._durable.flush_locked()
        finally:
            self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
