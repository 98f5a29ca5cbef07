"""The B4 load: the real ``Publisher`` in its own process, calling ``trade()`` at a
fixed rate (as an app would), so the sidecar's own hop histograms measure what a
message experiences from ``publish()`` to applied state.

Pacing never spins: a call is made up to 100 us before its slot (so at 50k/s
calls leave in runs of at most 5, at 10k/s one at a time) and the loop sleeps
otherwise, with the timer slack cut to 1 ns so a short sleep overshoots by ~7 us
instead of ~60 us. The load generator thus leaves the CPU to the sidecar on a
2-core machine, as an app doing real work between calls would. Each trade's
``ts`` is stamped when it is made, so calling early does not flatter latency.

``--stamp schedule`` corrects for coordinated omission: each trade's ``ts`` is
its intended time on the paced schedule (wall clock at start + i / rate), or
the time it is made if that is earlier (a call made early is not credited the
wait). The sidecar's ``event_to_apply`` is then applied minus intended time: a
send held up behind a stalled loop counts the whole stall, not just its own
trip, and ``event_to_send`` is how far behind schedule each send left.
Prints ``{"event": "result", "published": n, "queued": q, ...}``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time

import zmq

from trading_app.telemetry.push import PushPublisher as Publisher

_EARLY = 100e-6  # how far ahead of its slot a call may go


def _fine_timer_slack() -> None:
    try:
        ctypes.CDLL(None).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK = 29, 1 ns (Linux)
    except (OSError, AttributeError):
        pass  # elsewhere: sleeps are coarser, pacing spins more


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
    args = parser.parse_args()

    _fine_timer_slack()
    symbols = [f"SYM{i:05d}" for i in range(args.symbols)]
    n = int(args.rate * args.seconds)
    queued = 0
    context = zmq.Context() if args.io_thread == "normal" else None
    with Publisher(args.endpoint, producer="bench-b4", heartbeat_interval=0, context=context,
                   batch_backlog=True) as pub:  # as make_publisher() builds it
        if not pub.wait_connected(10):
            raise SystemExit("sidecar not reachable")
        gap = 1.0 / args.rate
        on_schedule = args.stamp == "schedule"
        started, wall_started = time.perf_counter(), time.time()
        for i in range(n):
            wait = started + i * gap - _EARLY - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            ts = min(wall_started + i * gap, time.time()) if on_schedule else None
            queued += pub.trade("buy" if i % 2 else "sell", 1.0, symbol=symbols[i % len(symbols)], ts=ts).queued
        elapsed = time.perf_counter() - started
        pub.close(linger=10.0)
    if context is not None:
        context.term()
    print(json.dumps({"event": "result", "published": n, "queued": queued, "achieved_rate": n / elapsed}),
          flush=True)


if __name__ == "__main__":
    main()
