"""The B4 load: the real ``Publisher`` in its own process, calling ``trade()`` at a
fixed rate (as an app would), so the sidecar's own hop histograms measure what a
message experiences from ``publish()`` to applied state.

Pacing never spins: a call is made up to 100 us before its slot (so at 50k/s
calls leave in runs of at most 5, at 10k/s one at a time) and the loop sleeps
otherwise, with its own thread's timer slack cut to 1 ns (``timer_slack.py``) so
a short sleep overshoots by ~7 us instead of ~60 us; cut after the publisher
started, so its sender thread runs with the slack the product gives it, not one
inherited from this thread. The load generator thus leaves the CPU to the sidecar on a
2-core machine, as an app doing real work between calls would. Each trade's
``ts`` is stamped when it is made, so calling early does not flatter latency.

``--stamp schedule`` corrects for coordinated omission: each trade's ``ts`` is
its intended time on the paced schedule (wall clock at start + i / rate), or
the time it is made if that is earlier (a call made early is not credited the
wait). The sidecar's ``event_to_apply`` is then applied minus intended time: a
send held up behind a stalled loop counts the whole stall, not just its own
trip, and ``event_to_send`` is how far behind schedule each send left.
What the publisher's sender thread cost is read from the kernel's per-thread
schedstat (``/proc/self/task/<id>/schedstat``: time on a CPU, time waiting for
one, times it ran): ``sender`` over the paced run, and with ``--idle-seconds``
``sender_idle`` over an idle stretch before it (connected, nothing published,
past ``FAST_WINDOW``: the slow poll). ``--sender-timer-slack`` and
``--fast-poll`` set the sender's knobs for an A/B run (docs/benchmarks.md,
*B4: the hand-off*). ``--direct`` is the same-run baseline without the hand-off:
each trade is stamped by the publisher's own stamper and sent in the calling
thread on a PUSH socket with the publisher's options in the publisher's context
(as ``publish()`` did before the queue), the queued publisher staying open, idle.
Prints ``{"event": "result", "published": n, "queued": q, ...}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import msgspec
import zmq

from trading_app.telemetry import push_sender
from trading_app.telemetry.messages import trade_message
from trading_app.telemetry.monitor import ConnectionMonitor
from trading_app.telemetry.push import PushPublisher as Publisher
from trading_app.telemetry.timer_slack import set_thread_timer_slack

_EARLY = 100e-6  # how far ahead of its slot a call may go


def _schedstat(thread_id: int | None) -> tuple[int, int, int] | None:
    """(ns on a CPU, ns waiting for one, times run) of one thread of this process (Linux)."""
    try:
        on_cpu, waited, runs = Path(f"/proc/self/task/{thread_id}/schedstat").read_text().split()[:3]
    except (OSError, ValueError):
        return None
    return int(on_cpu), int(waited), int(runs)


def _thread_cost(before: tuple[int, int, int] | None, after: tuple[int, int, int] | None,
                 seconds: float) -> dict[str, Any] | None:
    if before is None or after is None or seconds <= 0:
        return None
    on_cpu, waited, runs = (b - a for a, b in zip(before, after, strict=True))
    return {"seconds": seconds, "cpu_share": on_cpu / 1e9 / seconds, "runs_per_s": runs / seconds,
            "cpu_us_per_run": on_cpu / 1e3 / runs if runs else None,
            "runqueue_wait_us_per_run": waited / 1e3 / runs if runs else None}


def _sender_knobs(timer_slack: str, fast_poll: float | None) -> None:
    """The A/B knobs: module settings read when the sender thread starts / every poll."""
    if timer_slack == "default":
        push_sender.TIMER_SLACK_NS = None  # the kernel's default (50 us for a normal thread)
    elif timer_slack != "product":
        push_sender.TIMER_SLACK_NS = int(timer_slack)
    if fast_poll is not None:
        push_sender.FAST_POLL = fast_poll


def _time_handoff(pub: Publisher) -> list[float]:
    """The hand-off alone, per message: from its ``sent_ts`` (stamped in publish()) to
    the sender thread taking it to encode (wraps the sender's ``_encoded``; ~0.2 us a
    message on the sender thread, none in the caller). Seconds, appended as they go."""
    delays: list[float] = []
    sender = pub._sender
    encoded, clock, append = sender._encoded, time.time, delays.append

    def timed(message: dict[str, Any]) -> bytes | None:
        append(clock() - message["sent_ts"])
        return encoded(message)

    sender._encoded = timed  # type: ignore[method-assign]
    return delays


class _Direct:
    """The baseline: ``trade()`` stamped and sent in the caller, no queue, no sender."""

    def __init__(self, pub: Publisher, endpoint: str) -> None:
        self._stamp = pub._stamper.stamp_next
        self._encode = msgspec.json.Encoder().encode
        self.sock = pub.context.socket(zmq.PUSH)
        self.sock.setsockopt(zmq.LINGER, 10_000)
        self.sock.setsockopt(zmq.SNDHWM, 10_000)
        self.sock.setsockopt(zmq.IMMEDIATE, 1)
        self.monitor = ConnectionMonitor(self.sock, endpoint)
        self.sock.connect(endpoint)

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.monitor.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.monitor.connected

    def trade(self, side: str, qty: float, symbol: str, ts: float | None) -> bool:
        message = trade_message(side, qty, symbol, None, ts)
        self._stamp(message, 0)
        try:
            self.sock.send(self._encode(message), zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def close(self) -> None:
        self.monitor.close()
        self.sock.close()


def _quantiles_us(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    data = sorted(values)
    return {q: round(data[min(len(data) - 1, int(float(q) * len(data)))] * 1e6, 1)
            for q in ("0.5", "0.9", "0.99", "0.999")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint")
    parser.add_argument("--rate", type=float, required=True, help="trades per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--io-thread", choices=("batch", "normal"), default="batch",
                        help="the publisher's ZeroMQ I/O thread: its default SCHED_BATCH context, or a plain "
                             "zmq.Context() (the B3/B4 trade-off, docs/benchmarks.md)")
    parser.add_argument("--stamp", choices=("made", "schedule"), default="made",
                        help="each trade's ts: when it is made, or its intended time on the schedule "
                             "(coordinated-omission corrected)")
    parser.add_argument("--idle-seconds", type=float, default=0.0,
                        help="before the paced run, measure the sender thread idle for this long")
    parser.add_argument("--sender-timer-slack", default="product",
                        help="the sender thread's timer slack: 'product' (push_sender.TIMER_SLACK_NS), "
                             "'default' (the kernel's), or nanoseconds")
    parser.add_argument("--fast-poll", type=float, help="the sender's FAST_POLL, seconds (default: the product's)")
    parser.add_argument("--direct", action="store_true",
                        help="the baseline without the hand-off: send in the calling thread (see above)")
    args = parser.parse_args()

    _sender_knobs(args.sender_timer_slack, args.fast_poll)
    symbols = [f"SYM{i:05d}" for i in range(args.symbols)]
    n = int(args.rate * args.seconds)
    queued = 0
    context = zmq.Context() if args.io_thread == "normal" else None
    with Publisher(args.endpoint, producer="bench-b4", heartbeat_interval=0, context=context,
                   batch_backlog=True) as pub:  # as make_publisher() builds it
        # This (pacing) thread's slack, cut only now: a thread inherits its creator's, and the
        # sender must run with the one the product gives it (until 2026-12-07 it got this 1 ns).
        set_thread_timer_slack(1)  # elsewhere a no-op: sleeps are coarser, pacing spins more
        if not pub.wait_connected(10):
            raise SystemExit("sidecar not reachable")
        sender_id = pub._sender.native_id
        handoff = _time_handoff(pub)
        direct = _Direct(pub, args.endpoint) if args.direct else None
        if direct is not None and not direct.wait_connected(10):
            raise SystemExit("sidecar not reachable (direct socket)")
        idle = None
        if args.idle_seconds > 0:
            time.sleep(push_sender.FAST_WINDOW + 0.1)  # past the fast polls that connecting may have started
            before, t0 = _schedstat(sender_id), time.perf_counter()
            time.sleep(args.idle_seconds)
            idle = _thread_cost(before, _schedstat(sender_id), time.perf_counter() - t0)
        gap = 1.0 / args.rate
        on_schedule = args.stamp == "schedule"
        del handoff[:]  # only the paced run's
        sender_before = _schedstat(sender_id)
        started, wall_started = time.perf_counter(), time.time()
        for i in range(n):
            wait = started + i * gap - _EARLY - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            ts = min(wall_started + i * gap, time.time()) if on_schedule else None
            if direct is not None:
                queued += direct.trade("buy" if i % 2 else "sell", 1.0, symbols[i % len(symbols)], ts)
            else:
                queued += pub.trade("buy" if i % 2 else "sell", 1.0, symbol=symbols[i % len(symbols)], ts=ts).queued
        elapsed = time.perf_counter() - started
        sender = _thread_cost(sender_before, _schedstat(sender_id), elapsed)
        slack, hog_naps = pub._sender.timer_slack_ns, pub._sender.hog_naps
        if direct is not None:
            direct.close()
        pub.close(linger=10.0)
    if context is not None:
        context.term()
    print(json.dumps({"event": "result", "published": n, "queued": queued, "achieved_rate": n / elapsed,
                      "sender": sender, "sender_idle": idle, "sender_timer_slack_ns": slack,
                      "fast_poll_s": push_sender.FAST_POLL, "hog_naps": hog_naps,
                      "handoff_us": _quantiles_us(handoff)}), flush=True)


if __name__ == "__main__":
    main()
