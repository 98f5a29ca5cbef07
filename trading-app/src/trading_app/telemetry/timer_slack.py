"""The calling thread's timer slack: how late the kernel may end its sleeps.

Linux lets every timed sleep of a normal thread end up to its *timer slack*
late (50 µs by default), so that it can wake several timers at once. For the
publisher's sender thread, which polls its queue with short sleeps, that slack
stretched every poll: ``time.sleep(50e-6)`` lasted ~120 µs, ``time.sleep(20e-6)``
~90 µs, against ~70 µs and ~35 µs at 1 ns (docs/benchmarks.md, *B4: the hand-off*).
A new thread inherits its creator's slack, so setting it on the sender's own
thread is what makes it independent of whoever built the publisher.

``prctl(PR_SET_TIMERSLACK)`` sets it for the calling thread only (the rest of
the process keeps its own), so the sender calls ``set_thread_timer_slack()``
first thing on its own thread. This module is the one place that decides how:
``prctl`` through ctypes on Linux, nothing elsewhere (other systems have no
such knob; sleeps there are as coarse as they are).
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable

log = logging.getLogger("trading_app.publisher")

PR_SET_TIMERSLACK = 29
PR_GET_TIMERSLACK = 30


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - a Linux without a C library exposing prctl
        return None
    return prctl


_prctl = _load_prctl()


def supported() -> bool:
    """Whether this platform has a per-thread timer slack we can set."""
    return _prctl is not None


def thread_timer_slack() -> int | None:
    """The calling thread's timer slack in nanoseconds, or None where there is none."""
    if _prctl is None:
        return None
    value = _prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)
    return None if value < 0 else int(value)


def set_thread_timer_slack(nanoseconds: int) -> int | None:
    """Set the calling thread's timer slack; returns the slack now in force (read
    back), or None where the platform has none (a no-op there).

    ``nanoseconds`` must be at least 1: the kernel reads 0 as "back to the
    default" (50 µs), the opposite of what a caller asking for 0 would mean."""
    if nanoseconds < 1:
        raise ValueError("timer slack must be at least 1 ns (0 means the kernel's default)")
    if _prctl is None:
        return None
    if _prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(nanoseconds), 0, 0, 0) != 0:
        log.debug("cannot set the thread's timer slack (errno %d)", ctypes.get_errno())
    return thread_timer_slack()
