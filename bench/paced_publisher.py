"""The B4 load: the real ``Publisher`` in its own process, calling ``trade()`` at a
fixed rate (as an app would), so the sidecar's own hop histograms measure what a
message experiences from ``publish()`` to applied state.

Pacing sleeps while the next call is more than 80 us away (with the timer slack
cut to 1 ns, a short sleep overshoots by ~7 us instead of ~60 us) and spins the
rest, so calls are evenly spaced, not bursty, and the load generator leaves as
much CPU as it can to the sidecar on a 2-core machine.
Prints ``{"event": "result", "published": n, "queued": q, ...}``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time

from trading_app.publisher import Publisher


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
    args = parser.parse_args()

    _fine_timer_slack()
    symbols = [f"SYM{i:05d}" for i in range(args.symbols)]
    n = int(args.rate * args.seconds)
    queued = 0
    with Publisher(args.endpoint, producer="bench-b4", heartbeat_interval=0) as pub:
        if not pub.wait_connected(10):
            raise SystemExit("sidecar not reachable")
        gap = 1.0 / args.rate
        started = time.perf_counter()
        for i in range(n):
            due = started + i * gap
            while (now := time.perf_counter()) < due:
                if due - now > 80e-6:
                    time.sleep(due - now - 60e-6)
            queued += pub.trade("buy" if i % 2 else "sell", 1.0, symbol=symbols[i % len(symbols)]).queued
        elapsed = time.perf_counter() - started
        pub.close(linger=10.0)
    print(json.dumps({"event": "result", "published": n, "queued": queued, "achieved_rate": n / elapsed}),
          flush=True)


if __name__ == "__main__":
    main()
