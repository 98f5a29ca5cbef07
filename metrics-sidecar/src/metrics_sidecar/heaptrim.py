"""Hand memory freed after a burst back to the OS.

A burst fills the PULL socket's queue (up to ``SIDECAR_RCVHWM`` messages, each a
heap block malloc'd by ZeroMQ's I/O thread). Draining it frees them all, but
glibc keeps freed blocks of a thread's arena for reuse, so RSS stays at the
burst's peak: measured ~48 MB after 200,000 queued trades at the default HWM.
``malloc_trim(0)`` returns the free pages of every arena. It walks the heap
(milliseconds), so the ingest loop calls it only when idle (its receive timed
out), only after it received something since the last trim, and at most once per
``interval`` seconds. Not glibc (musl, macOS): a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    __slots__ = ("_last", "_trim", "busy", "interval", "trims")

    def __init__(self, interval: float = 10.0) -> None:
        self._trim = _malloc_trim()
        self.interval = interval
        self.busy = False  # set by the loop when it received frames
        self._last = -float("inf")
        self.trims = 0

    def idle(self) -> None:
        """The loop found nothing to receive: trim if a burst may have left free memory."""
        if not self.busy or self._trim is None:
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._trim(0)
        self._last = now
        self.busy = False
        self.trims += 1
