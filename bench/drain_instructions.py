"""Instructions per event of the PULL loop's drain, both implementations
(metrics_sidecar/drains.py: the core's, and the Python fallback), counted by
callgrind (which the load of a shared machine does not blur). docs/benchmarks.md
"The PULL drain in the core".

    .venv/bin/python bench/drain_instructions.py                  # B1's trade stream, analytics on
    .venv/bin/python bench/drain_instructions.py --analytics off --events 10000,30000

Each variant runs ``breakdown_bench.drain_all`` (the real loop's drain over queued
publisher-format frames, inproc) in its own process under ``valgrind
--tool=callgrind``; a ``setup`` variant stops before the drain (building and
queueing the frames also scales with the stream) and is taken out. Per event: the
slope between the two stream lengths, so start-up cancels out. Two variants run
at a time. ``--child`` runs one variant without valgrind.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

VARIANTS = ("setup", "python", "core")


def child(events: int, variant: str, analytics: bool) -> None:
    import zmq
    from breakdown_bench import _queued_socket, drain_all
    from sender import encode_frames, trade_messages

    from metrics_sidecar.settings import Settings

    frames = encode_frames(trade_messages(events, 10, "drain-instructions"), 1)
    context = zmq.Context()
    sock = _queued_socket(context, frames, "inproc://drain-instructions")
    if variant != "setup":
        settings = Settings.model_validate({"analytics": analytics})
        state = drain_all(settings, sock, events, context, python=variant == "python")
        assert state.received["trade"] == events
    sock.close(linger=0)
    context.term()


def count(events: int, variant: str, analytics: bool) -> int:
    from callgrind import instructions

    return instructions([sys.executable, __file__, "--child", variant, "--events", str(events),
                         "--analytics", "on" if analytics else "off"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="10000,30000", help="the two stream lengths")
    parser.add_argument("--analytics", choices=("on", "off"), default="on")
    parser.add_argument("--child", choices=VARIANTS)
    args = parser.parse_args()
    analytics = args.analytics == "on"
    if args.child:
        child(int(args.events.split(",")[0]), args.child, analytics)
        return
    short, long = (int(n) for n in args.events.split(","))
    runs = [(n, v) for n in (short, long) for v in VARIANTS]
    with ThreadPoolExecutor(2) as pool:
        totals = dict(zip(runs, pool.map(lambda r: count(r[0], r[1], analytics), runs), strict=True))

    def per_event(variant: str) -> float:
        return ((totals[long, variant] - totals[long, "setup"])
                - (totals[short, variant] - totals[short, "setup"])) / (long - short)

    python, core = per_event("python"), per_event("core")
    print(f"B1 trades, 10 symbols, analytics {args.analytics}: drain per event: Python {python:,.0f} "
          f"instructions, core {core:,.0f} ({core / python:.2f}×)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # children inherit it: fewer run-to-run differences
    main()
