"""The calling thread's scheduler slice request (Linux 6.12+, EEVDF).

A normal thread that wakes on a busy core waits in the run queue until the
running task's slice (~0.7–3 ms) allows a switch, unless its own deadline is
earlier. Asking for a short slice (``sched_setattr`` with ``sched_runtime`` on
a ``SCHED_OTHER`` thread: a "custom slice", 0.1–100 ms) gives it an earlier
deadline, so it may preempt on wake-up; its share of the CPU (its weight) does
not change, and no privilege is needed. The publisher's sender thread wakes
~10–20k times a second for ~10 µs each, which is what the knob is for.

Older kernels and other systems have no such request: ``set_thread_sched_slice``
is then a no-op that says so. The thread's policy and nice value are kept
(``SCHED_FLAG_KEEP_POLICY``; the nice value is read and passed back).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from collections.abc import Callable

# x86_64 and aarch64 system call numbers; elsewhere: no-op.
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275)}
SCHED_FLAG_KEEP_POLICY = 0x08
MIN_SLICE_NS = 100_000  # the kernel clamps custom slices to 0.1..100 ms


class _SchedAttr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32), ("sched_flags", ctypes.c_uint64),
                ("sched_nice", ctypes.c_int32), ("sched_priority", ctypes.c_uint32),
                ("sched_runtime", ctypes.c_uint64), ("sched_deadline", ctypes.c_uint64),
                ("sched_period", ctypes.c_uint64), ("sched_util_min", ctypes.c_uint32),
                ("sched_util_max", ctypes.c_uint32)]


def _load() -> tuple[Callable[..., int], int, int] | None:
    numbers = _SYSCALLS.get(platform.machine())
    if not sys.platform.startswith("linux") or numbers is None:
        return None
    try:
        syscall: Callable[..., int] = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):  # pragma: no cover - a Linux C library without syscall()
        return None
    return syscall, numbers[0], numbers[1]


_syscall = _load()


def thread_sched_slice() -> int | None:
    """The calling thread's slice in ns as the kernel reports it (its custom one if
    set, else the default), or None where it cannot be read."""
    if _syscall is None:
        return None
    call, _, getattr_nr = _syscall
    attr = _SchedAttr()
    if call(getattr_nr, 0, ctypes.byref(attr), ctypes.sizeof(attr), 0) != 0:
        return None
    return int(attr.sched_runtime) or None


def set_thread_sched_slice(nanoseconds: int) -> int | None:
    """Ask for a ``nanoseconds`` slice for the calling thread (at least 0.1 ms);
    returns the slice read back, or None where the request is not supported (a
    kernel before 6.12 accepts the call and ignores it: the read-back then shows
    its own, unchanged slice)."""
    if nanoseconds < MIN_SLICE_NS:
        raise ValueError(f"a custom slice is at least {MIN_SLICE_NS} ns")
    if _syscall is None:
        return None
    call, setattr_nr, _ = _syscall
    try:
        nice = os.getpriority(os.PRIO_PROCESS, 0)  # on Linux: this thread's
    except OSError:  # pragma: no cover
        return None
    attr = _SchedAttr(size=ctypes.sizeof(_SchedAttr), sched_flags=SCHED_FLAG_KEEP_POLICY, sched_nice=nice,
                      sched_runtime=nanoseconds)
    if call(setattr_nr, 0, ctypes.byref(attr), 0) != 0:
        return None
    return thread_sched_slice()
