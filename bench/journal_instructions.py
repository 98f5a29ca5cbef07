"""Instructions per event of the PULL loop with the journal on (``SIDECAR_STATE_DIR``)
and off, and with three stream clients that never read, counted by callgrind
(which the load of a shared machine does not blur). docs/benchmarks.md, "Read side".

    .venv/bin/python bench/journal_instructions.py                  # B1's stream (trades), 10 symbols
    .venv/bin/python bench/journal_instructions.py --ticks --events 20000,60000

Each variant runs the PULL loop's drain (``IngestLoop.drain``) over queued publisher-format frames
(inproc, as ``breakdown_bench`` does) in its own process under ``valgrind
--tool=callgrind``; ``setup`` stops before the loop (building and queueing the
frames also scales with the stream, so it is counted alone and taken out). The
per-event count is the slope between the two lengths, so start-up cancels out.
Variants: ``off`` (no state dir), ``journal`` (a state dir: every batch journaled
and written at the lock's release), ``stream`` (no state dir, three ``GET /stream``
clients subscribed that never take anything: every trade and moving tick fanned
out to each). Needs valgrind. ``--child`` runs one variant without valgrind.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("setup", "off", "journal", "stream")


def child(events: int, symbols: int, ticks: bool, variant: str) -> None:
    import zmq
    from breakdown_bench import _queued_socket, settle
    from sender import encode_frames, trade_messages

    from metrics_sidecar.ingest import IngestLoop
    from metrics_sidecar.persistence import DurableState
    from metrics_sidecar.settings import Settings
    from metrics_sidecar.state import TelemetryState

    frames = encode_frames(trade_messages(events, symbols, "journal", ticks=ticks), 1)
    context = zmq.Context()
    sock = _queued_socket(context, frames, "inproc://journal")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate({
            "max_symbols": max(1000, symbols), "rcvhwm": 10_000_000, "sse_queue_size": 1_000_000,
            "state_dir": str(Path(tmp) / "state") if variant == "journal" else ""})
        if variant != "setup":
            state = TelemetryState(settings)
            store = None
            if variant == "journal":
                store = DurableState(settings, state)
                store.recover()
            if variant == "stream":
                assert state.analytics is not None
                for _ in range(3):
                    state.analytics.stream.subscribe(None)
            loop = IngestLoop(settings, state, context)
            gc.collect()
            gc.freeze()  # as main.py does once the sidecar is up
            while sum(state.received.values()) < events:
                loop.drain(sock)
            settle(state)
            pending = [len(c.pending) for c in state.analytics.stream.clients] if state.analytics else []
            print(json.dumps({"received": state.received, "pending": pending,
                              "journal_bytes": 0 if store is None else store._journal_bytes}))
    sock.close(linger=0)
    context.term()


def count(events: int, symbols: int, ticks: bool, variant: str) -> int:
    """Total instructions of one child process under callgrind."""
    from callgrind import instructions

    return instructions([sys.executable, __file__, "--child", "--events", str(events), "--symbols", str(symbols),
                         "--variant", variant] + (["--ticks"] if ticks else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--ticks", action="store_true", help="trades and ticks alternating (else trades only)")
    parser.add_argument("--events", default="10000,30000", help="the two stream lengths")
    parser.add_argument("--variants", default="off,journal,stream", help="measured against setup")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--variant", choices=VARIANTS, default="off")
    args = parser.parse_args()
    if args.child:
        child(int(args.events.split(",")[0]), args.symbols, args.ticks, args.variant)
        return
    short, long = (int(n) for n in args.events.split(","))
    variants = ["setup", *args.variants.split(",")]
    runs = [(n, v) for n in (short, long) for v in variants]
    with ThreadPoolExecutor(2) as pool:
        totals = dict(zip(runs, pool.map(lambda r: count(r[0], args.symbols, args.ticks, r[1]), runs), strict=True))

    def per_event(variant: str) -> float:
        loop_long = totals[long, variant] - totals[long, "setup"]
        loop_short = totals[short, variant] - totals[short, "setup"]
        return (loop_long - loop_short) / (long - short)

    stream = "trades+ticks" if args.ticks else "trades"
    counts = {v: per_event(v) for v in variants[1:]}
    off = counts.get("off")
    print(json.dumps({"stream": stream, "symbols": args.symbols, "events": [short, long],
                      "instructions_per_event": {v: round(c) for v, c in counts.items()},
                      "ratio_to_off": {v: round(c / off, 3) for v, c in counts.items()} if off else {}}))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # children inherit it: fewer run-to-run differences
    main()
