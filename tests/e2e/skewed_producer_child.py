"""A producer process whose wall clock runs ahead (run as a script, not collected).

    skewed_producer_child.py MODE ENDPOINT PRODUCER [OUTBOX]

``CLOCK_SHIFT_SECONDS`` (test-only, this script only) is added to every
``time.time()`` of the process before ``trading_app`` is imported, so every time
it stamps or reports (``ts``, ``sent_ts``, the clock-probe replies) reads like a
host clock that far ahead; nothing else is changed. MODE ``reliable`` runs a
``ReliablePublisher`` on ENDPOINT (the sidecar's ROUTER) with OUTBOX, ``push`` a
``PushPublisher`` (fire-and-forget). Either sends heartbeats every 0.2 s until
its stdin closes, then closes.
"""

from __future__ import annotations

import os
import sys
import time

_real_time = time.time
_shift = float(os.environ["CLOCK_SHIFT_SECONDS"])


def _shifted_time() -> float:
    return _real_time() + _shift


time.time = _shifted_time  # before trading_app's modules bind time.time

from trading_app.telemetry.protocol import Publisher  # noqa: E402
from trading_app.telemetry.push import PushPublisher  # noqa: E402
from trading_app.telemetry.reliable import ReliablePublisher  # noqa: E402


def main() -> None:
    mode, endpoint, producer = sys.argv[1:4]
    pub: Publisher
    if mode == "reliable":
        pub = ReliablePublisher(endpoint, sys.argv[4], producer=producer, heartbeat_interval=0.2)
    else:
        pub = PushPublisher(endpoint, producer=producer, heartbeat_interval=0.2)
    print("started", flush=True)
    sys.stdin.read()  # until the test closes it
    pub.close()


if __name__ == "__main__":
    main()
