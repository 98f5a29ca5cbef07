"""The B4 load: the real ``Publisher`` in its own process, calling ``trade()`` at a
fixed rate (as an app would), so the sidecar's own hop histograms measure what a
message experiences from ``publish()`` to applied state.

Pacing sleeps while the next call is more than half a millisecond away and spins
otherwise, so 1k/s barely uses the CPU and 50k/s is evenly spaced, not bursty.
Prints ``{"event": "result", "published": n, "queued": q, ...}``.
"""

from __future__ import annotations

import argparse
import json
import time

from trading_app.publisher import Publisher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint")
    parser.add_argument("--rate", type=float, required=True, help="trades per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--symbols", type=int, default=10)
    args = parser.parse_args()

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
                if due - now > 0.0005:
                    time.sleep(due - now - 0.0003)
            queued += pub.trade("buy" if i % 2 else "sell", 1.0, symbol=symbols[i % len(symbols)]).queued
        elapsed = time.perf_counter() - started
        pub.close(linger=10.0)
    print(json.dumps({"event": "result", "published": n, "queued": queued, "achieved_rate": n / elapsed}),
          flush=True)


if __name__ == "__main__":
    main()
