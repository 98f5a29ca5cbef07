"""A publisher process for the reliable tests (run as a script, not collected).

    reliable_publisher_child.py ENDPOINT OUTBOX COUNT [--kill-after K]

Publishes COUNT trades through ``ReliablePublisher``. With ``--kill-after K`` it
sends itself SIGKILL right after the K-th ``publish()`` returned: exactly K
messages were accepted and the sender thread is mid-stream (unacked rows in the
outbox, batches on the wire). Without it, it drains, closes and prints one JSON
line with its counters.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from dataclasses import asdict

from trading_app.telemetry.reliable import ReliablePublisher


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("outbox")
    parser.add_argument("count", type=int)
    parser.add_argument("--kill-after", type=int, default=-1)
    args = parser.parse_args()
    pub = ReliablePublisher(args.endpoint, args.outbox, producer="child", heartbeat_interval=0,
                            ack_timeout=0.5, drain_seconds=30)
    accepted = 0
    for i in range(args.count):
        accepted += pub.trade("buy", 1.0, symbol="BTCUSDT").queued
        if i + 1 == args.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    unacked_before_close = pub.unacked()
    pub.close()
    print(json.dumps({"accepted": accepted, "instance": pub.instance, "unacked_before_close": unacked_before_close,
                      "unacked_after_close": pub.unacked(), **asdict(pub.stats().outbox)}), flush=True)


if __name__ == "__main__":
    main()
