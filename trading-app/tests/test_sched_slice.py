"""The calling thread's scheduler slice request (``telemetry/sched_slice.py``):
set on one thread only, read back from the kernel, the thread's nice value kept;
refused below the kernel's minimum; a no-op where there is no such request."""

from __future__ import annotations

import os
import platform
import re
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from trading_app.telemetry import sched_slice


def _kernel_has_custom_slices() -> bool:
    """Linux 6.12 added the custom slice of a SCHED_OTHER thread."""
    match = re.match(r"(\d+)\.(\d+)", platform.release())
    return sys.platform.startswith("linux") and platform.machine() in sched_slice._SYSCALLS \
        and match is not None and (int(match[1]), int(match[2])) >= (6, 12)


needs_custom_slices = pytest.mark.skipif(not _kernel_has_custom_slices(), reason="needs Linux 6.12+ (EEVDF slices)")


T = TypeVar("T")


def _in_thread(work: Callable[[], T]) -> T:
    out: list[T] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join(10)
    assert out, "the thread did not finish"
    return out[0]


@needs_custom_slices
def test_the_slice_is_set_for_the_calling_thread_only_and_its_nice_value_is_kept() -> None:
    before = sched_slice.thread_sched_slice()
    assert before is not None and before != 250_000

    def set_it() -> tuple[int | None, int | None, int, int]:
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        got = sched_slice.set_thread_sched_slice(250_000)
        return got, sched_slice.thread_sched_slice(), nice, os.getpriority(os.PRIO_PROCESS, 0)

    got, read_again, nice_before, nice_after = _in_thread(set_it)
    assert got == read_again == 250_000
    assert nice_after == nice_before
    assert sched_slice.thread_sched_slice() == before  # this thread kept its own


def test_a_slice_below_the_kernels_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 100000 ns"):
        sched_slice.set_thread_sched_slice(99_999)


def test_where_there_is_no_such_request_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sched_slice, "_syscall", None)  # what the module chooses off Linux x86_64/aarch64
    assert sched_slice.thread_sched_slice() is None
    assert sched_slice.set_thread_sched_slice(100_000) is None
