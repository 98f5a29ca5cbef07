"""Instructions per event that the analytics add to the ingest path, counted by
callgrind (which the load of a shared machine does not blur). docs/analytics.md "Cost".

    .venv/bin/python bench/analytics_instructions.py                 # B1's stream, 10 symbols
    .venv/bin/python bench/analytics_instructions.py --ticks --symbols 1000 --events 20000,100000

Each variant (analytics off/on, two stream lengths) runs the product's ingest path
(``ingest_bench.drain_frames``: publisher-format frames queued on a real PULL
socket over inproc, the PULL loop's drain, the one ingest entry) in its own process
under ``valgrind --tool=callgrind``, and a third stops before the loop: building
and queueing the frames also scales with the stream, so it is counted alone and
taken out. The per-event count is the slope between the two lengths, so start-up
and series creation cancel out. Needs valgrind (``apt-get install -y valgrind``);
two variants run at a time. ``--child`` runs one loop without valgrind (what each
variant executes); ``--keep DIR`` keeps the callgrind files (for
``callgrind_annotate --inclusive=yes``).

The frames' timestamps are spread over the stream (``ingest_bench.mix_frames``)
and the stale-tick age is lifted (``mix_settings``): under valgrind the run takes
minutes, and a tick refused as stale is never applied. (The earlier driver waited
for every event to be applied, so once its ticks went stale under valgrind it
waited forever: the hang with ``--ticks``.)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(events: int, symbols: int, ticks: bool, analytics: bool, loop_too: bool = True) -> None:
    import zmq
    from ingest_bench import drain_frames, mix_frames, mix_settings, queued

    # The same bytes in every variant's process (the timestamps' digits and the ids
    # cost the decoder instructions): the stream ends on the hour before now.
    end = float(int(time.time()) // 3600 * 3600)
    frames = mix_frames(events, symbols, ticks=ticks, end=end, instance="instructions")
    context = zmq.Context()
    settings = mix_settings(analytics, symbols)
    if loop_too:
        gc.collect()
        gc.freeze()  # as main.py does once the sidecar is up
        state, _, _ = drain_frames(settings, frames, context)
        engine = state.analytics
        # The core's columns: symbols with a tick series, and with a position.
        columns = None if engine is None else engine.core.columns(1)
        print(json.dumps({"received": state.received,
                          "positions": 0 if columns is None else len(columns[6]),
                          "series": 0 if columns is None else len(columns[0])}))
    else:
        queued(context, frames).close(linger=0)
    context.term()


def count(events: int, symbols: int, ticks: bool, analytics: str, keep: Path | None = None) -> int:
    """Total instructions of one child process under callgrind (``analytics``: on,
    off, or setup: frames built and queued, no loop); ``keep``: a directory the
    callgrind file is copied to."""
    from callgrind import instructions

    args = [sys.executable, __file__, "--child", "--events", str(events), "--symbols", str(symbols),
            "--analytics", analytics] + (["--ticks"] if ticks else [])
    return instructions(args, None if keep is None else keep / f"callgrind.{analytics}.{events}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--ticks", action="store_true", help="trades and ticks alternating (else trades only)")
    parser.add_argument("--events", default="20000,60000", help="the two stream lengths")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--analytics", choices=("on", "off", "setup"), default="on")
    parser.add_argument("--keep", type=Path, help="copy the callgrind files here")
    args = parser.parse_args()
    if args.child:
        child(int(args.events.split(",")[0]), args.symbols, args.ticks, args.analytics == "on",
              loop_too=args.analytics != "setup")
        return
    short, long = (int(n) for n in args.events.split(","))
    runs = [(n, a) for n in (short, long) for a in ("setup", "off", "on")]
    with ThreadPoolExecutor(2) as pool:
        counted = pool.map(lambda r: count(r[0], args.symbols, args.ticks, r[1], args.keep), runs)
        totals = dict(zip(runs, counted, strict=True))

    def per_event(variant: str) -> float:
        loop_long = totals[long, variant] - totals[long, "setup"]
        loop_short = totals[short, variant] - totals[short, "setup"]
        return (loop_long - loop_short) / (long - short)

    off, on = per_event("off"), per_event("on")
    stream = "trades+ticks" if args.ticks else "trades"
    print(f"{stream}, {args.symbols} symbols: {off:,.0f} instructions/event off, {on:,.0f} on: "
          f"+{on - off:,.0f} ({(on - off) / off:+.1%})")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # children inherit it: fewer run-to-run differences
    # numpy's OpenBLAS threads spin-wait at start-up for as long as they are scheduled,
    # which under valgrind adds a few hundred instructions an event at random.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    main()
