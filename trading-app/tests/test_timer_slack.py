"""The sender thread's timer slack (``telemetry/timer_slack.py``): set on the
sender's own thread, read back, and nowhere else (the caller's threads keep
theirs); a no-op where the platform has no such knob, and the publisher works
the same there."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import zmq

from trading_app.telemetry import push_sender, timer_slack
from trading_app.telemetry.push import PushPublisher

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread timer slack is Linux's")


T = TypeVar("T")


def _in_thread(work: Callable[[], T]) -> T:
    out: list[T] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join(10)
    assert out, "the thread did not finish"
    return out[0]


@linux_only
def test_the_slack_is_set_for_the_calling_thread_only() -> None:
    before = timer_slack.thread_timer_slack()
    assert before is not None and before >= 1
    # Set and read back inside one new thread: 1 us there, and still 1 us when read again there.
    assert _in_thread(lambda: (timer_slack.set_thread_timer_slack(1_000), timer_slack.thread_timer_slack())) \
        == (1_000, 1_000)
    assert timer_slack.thread_timer_slack() == before  # this thread kept its own
    assert _in_thread(timer_slack.thread_timer_slack) == before  # a new thread inherits this one's, not the other's


@linux_only
def test_the_proc_file_agrees_with_the_read_back() -> None:
    """/proc/<pid>/timerslack_ns is the main thread's: an independent reading of the same value."""
    assert threading.current_thread() is threading.main_thread()
    assert int(Path("/proc/self/timerslack_ns").read_text()) == timer_slack.thread_timer_slack()


def test_zero_is_refused_because_the_kernel_reads_it_as_the_default() -> None:
    with pytest.raises(ValueError, match="at least 1 ns"):
        timer_slack.set_thread_timer_slack(0)


@linux_only
def test_the_sender_thread_runs_with_its_own_small_slack_and_the_caller_keeps_its_own(
        pull: tuple[zmq.Socket, str]) -> None:
    sock, addr = pull
    caller_before = timer_slack.thread_timer_slack()
    with PushPublisher(addr, producer="slack", heartbeat_interval=0) as pub:
        assert pub.wait_connected(5)
        assert pub.trade("buy", 1.0, symbol="BTCUSDT").queued
        assert sock.poll(5000), "the trade did not arrive"
        assert json.loads(sock.recv())["seq"] == 1
        assert pub._sender.timer_slack_ns == push_sender.TIMER_SLACK_NS == 1_000
        assert pub._sender.native_id not in (None, threading.get_native_id())
    assert timer_slack.thread_timer_slack() == caller_before
    assert int(Path("/proc/self/timerslack_ns").read_text()) == caller_before


def test_where_there_is_no_such_knob_it_is_a_no_op_and_the_publisher_still_sends(
        pull: tuple[zmq.Socket, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timer_slack, "_prctl", None)  # what the module chooses on a platform without prctl
    assert not timer_slack.supported()
    assert timer_slack.thread_timer_slack() is None
    assert timer_slack.set_thread_timer_slack(1_000) is None
    sock, addr = pull
    with PushPublisher(addr, producer="no-slack", heartbeat_interval=0) as pub:
        assert pub.wait_connected(5)
        assert [pub.trade("buy", 1.0, symbol="BTCUSDT").queued for _ in range(3)] == [True] * 3
        seqs: list[int] = []
        while len(seqs) < 3:
            assert sock.poll(5000), f"only {len(seqs)} of 3 arrived"
            frame = json.loads(sock.recv())
            seqs.extend(m["seq"] for m in (frame if isinstance(frame, list) else [frame]))
        assert seqs == [1, 2, 3]
        assert pub._sender.timer_slack_ns is None
