"""The fire-and-forget publisher off the caller's path (issue 14, item 5), with
real sockets and a real sidecar process: a full in-process queue is a counted
``queue_full`` drop, ``close()`` delivers what is queued, many threads count
exactly, and the calling thread makes no system call of its own."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from telemetry_testkit.procs import Service, require_binary, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.reliable import total
from trading_app.telemetry.protocol import Published
from trading_app.telemetry.push import DURATION_SAMPLE, PushPublisher

CHILD = Path(__file__).with_name("publisher_syscall_child.py")


def counted(sidecar: Service, expected: int) -> dict[str, float]:
    return wait_until(lambda: (m := scrape(sidecar.http + "/metrics/")) and total(m, "trades_total") == expected
                      and m, 30, message=f"{expected} trades counted")


def lost_before_last_accepted(results: list[Published]) -> int:
    """Drops the sidecar can see: a gap is only a gap once a later seq arrives."""
    last = max(r.seq for r in results if r.queued)
    return sum(1 for r in results if not r.queued and r.seq < last)


def test_a_stalled_sidecar_fills_the_queue_and_each_queue_full_drop_is_counted(sidecar: Service) -> None:
    pub = PushPublisher(sidecar.zmq, producer="stalled", heartbeat_interval=0, sndhwm=1, queue_size=100,
                        batch_backlog=True)  # as make_publisher() builds it
    results: list[Published] = []
    try:
        assert pub.wait_connected(10)
        os.kill(sidecar.popen.pid, signal.SIGSTOP)  # connected, reads nothing: TCP, then SNDHWM, then our queue fill
        try:
            full, deadline = 0, time.monotonic() + 60
            while full < 300:
                result = pub.trade("buy", 1.0, symbol="BTCUSDT")
                results.append(result)
                full += result.reason == "queue_full"
                if len(results) % 1000 == 0:
                    assert time.monotonic() < deadline, "the queue never filled"
                    time.sleep(0.001)  # let the sender run: it must be the one that stalls
            assert pub.backlog() <= 100  # never more waiting than the queue's size
        finally:
            os.kill(sidecar.popen.pid, signal.SIGCONT)
        accepted = [r for r in results if r.queued]
        assert {r.reason for r in results if not r.queued} == {"queue_full"}  # never no_peer, hwm or a wait
        stats = pub.stats()
        assert stats.dropped == {("trade", "queue_full"): full}
        assert stats.sent == {"trade": len(accepted)}
        assert sum(stats.duration_counts) == sum(1 for r in results if r.seq % DURATION_SAMPLE == 0)  # sampled
        metrics = counted(sidecar, len(accepted))  # everything accepted arrives once the sidecar reads again
    finally:
        pub.close()
    assert metrics['messages_lost_total{producer="stalled"}'] == lost_before_last_accepted(results)
    assert total(scrape(sidecar.http + "/metrics/"), "trades_total") == len(accepted)


@pytest.mark.parametrize("batch_backlog", [False, True])
def test_close_delivers_everything_queued(sidecar: Service, batch_backlog: bool) -> None:
    pub = PushPublisher(sidecar.zmq, producer="flush", heartbeat_interval=0, sndhwm=1, queue_size=50_000,
                        batch_backlog=batch_backlog)
    assert pub.wait_connected(10)
    os.kill(sidecar.popen.pid, signal.SIGSTOP)
    try:
        results = []
        while pub.backlog() < 2_000:  # the sender is stuck behind the stopped sidecar
            results.append(pub.trade("buy", 1.0, symbol="ETHUSDT"))
            if len(results) % 500 == 0:
                assert len(results) < 1_000_000, "no backlog built up"
                time.sleep(0.001)
        closing = threading.Thread(target=pub.close, kwargs={"linger": 30.0})
        closing.start()

        def refused() -> bool:  # a probe: accepted until close() begins, then refused as closed
            results.append(pub.trade("buy", 1.0, symbol="ETHUSDT"))
            return results[-1].reason == "closed"

        wait_until(refused, 10, message="close() started")
    finally:
        os.kill(sidecar.popen.pid, signal.SIGCONT)
    closing.join(40)
    assert not closing.is_alive()
    accepted = [r for r in results if r.queued]
    closed = [r for r in results if not r.queued]
    assert {r.reason for r in closed} == {"closed"} and len(accepted) >= 2_000
    stats = pub.stats()
    assert stats.sent == {"trade": len(accepted)}
    assert stats.dropped == {("trade", "closed"): len(closed)}  # refused after close() began; nothing queued lost
    metrics = counted(sidecar, len(accepted))
    assert metrics['messages_lost_total{producer="flush"}'] == 0


@pytest.mark.parametrize("batch_backlog", [False, True])
def test_publish_from_many_threads_counts_exactly(sidecar: Service, batch_backlog: bool) -> None:
    threads, per_thread = 8, 2_500
    results: list[Published] = []
    with PushPublisher(sidecar.zmq, producer="threads", heartbeat_interval=0, queue_size=300,
                       batch_backlog=batch_backlog) as pub:
        assert pub.wait_connected(10)

        def work() -> None:
            mine = [pub.trade("buy", 1.0, symbol=f"SYM{i % 5}") for i in range(per_thread)]
            results.extend(mine)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        accepted = sum(r.queued for r in results)
        full = sum(r.reason == "queue_full" for r in results)
        assert accepted + full == threads * per_thread
        assert sorted(r.seq for r in results) == list(range(1, threads * per_thread + 1))
        stats = pub.stats()
        assert stats.sent == {"trade": accepted}
        assert stats.dropped == ({("trade", "queue_full"): full} if full else {})
        metrics = counted(sidecar, accepted)
    assert metrics['messages_lost_total{producer="threads"}'] == lost_before_last_accepted(results)


_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()")
# CPython's own, not the publisher's: handing over the GIL (futex) and the allocator growing its heap.
INTERPRETER = {"futex", "brk", "mmap", "munmap", "madvise", "mprotect"}


def _window(calls: list[str], begin: str, end: str) -> list[str]:
    start = calls.index(begin)
    return calls[start + 1:calls.index(end, start)]


def test_the_calling_thread_makes_no_system_call_of_its_own(sidecar: Service, tmp_path: Path) -> None:
    strace = require_binary("strace")
    trace = tmp_path / "trace.txt"
    done = subprocess.run([strace, "-f", "-qq", "-o", str(trace), sys.executable, str(CHILD), sidecar.zmq, "2000"],
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    tid = json.loads(lines[0])["tid"]
    assert json.loads(lines[-1]) == {"accepted": 2000}
    calls = [m[2] or m[3] for line in trace.read_text().splitlines()
             if (m := _LINE.match(line)) and int(m[1]) == tid]
    publishing = _window(calls, "getppid", "getpgrp")
    assert set(publishing) <= INTERPRETER, sorted(set(publishing) - INTERPRETER)
    bare = set(_window(calls, "getuid", "getgid"))
    assert bare - INTERPRETER, "the control window (bare sends) shows no system call: the trace is not cut right"


def test_a_backlog_of_single_publishes_leaves_in_array_frames_with_batch_backlog(sidecar: Service) -> None:
    """What make_publisher() builds: the sender packs what it finds waiting. Behind a
    stopped sidecar the backlog is certain; every message still counts once."""
    pub = PushPublisher(sidecar.zmq, producer="batched", heartbeat_interval=0, sndhwm=1, batch_backlog=True)
    try:
        assert pub.wait_connected(10)
        os.kill(sidecar.popen.pid, signal.SIGSTOP)
        try:
            results = [pub.tick(f"SYM{i % 7}", 100.0 + i, source="replay") for i in range(5_000)]
        finally:
            os.kill(sidecar.popen.pid, signal.SIGCONT)
        assert all(r.queued for r in results)
        metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                             and m.get('messages_received_total{type="tick"}') == 5_000 and m, 30,
                             message="5,000 ticks received")
    finally:
        pub.close()
    assert metrics['messages_lost_total{producer="batched"}'] == 0
    assert metrics['messages_duplicate_total'] == 0
    assert pub.stats().sent == {"tick": 5_000} and pub.stats().dropped == {}
