"""The decode stage alone, in one process: the compiled core (``decode.py``)
against a bare ``json.loads`` baseline, on publisher-format frames (``sender.py``).

``json.loads`` builds plain dicts and checks nothing; it is the floor a Python
decoder starts from. ``json.loads + Trade(**d)`` adds building the event structs.
The core parses, validates every rule and builds the structs. Printed: ns per
event for each, best of ``--repeat`` runs, and the core's ratio to the baseline.

    .venv/bin/python bench/decode_bench.py [--events N] [--batch B] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from sender import encode_frames, trade_messages

from metrics_sidecar.decode import Heartbeat, Tick, Trade, decode, decode_batch

_CLASSES = {"trade": Trade, "tick": Tick, "heartbeat": Heartbeat}


def _loads_build(frame: bytes) -> object:
    data = json.loads(frame)
    items = data if isinstance(data, list) else [data]
    return [_CLASSES[d.pop("type")](**d) for d in items]


def _best_ns_per_event(run: Callable[[bytes], object], frames: list[bytes], events: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for frame in frames:
            run(frame)
        best = min(best, (time.perf_counter_ns() - start) / events)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1, help="messages per frame (1: single-event frames)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    messages = trade_messages(args.events, symbols=50, instance="bench", ticks=True)
    frames = encode_frames(messages, args.batch)
    core = decode if args.batch <= 1 else decode_batch
    sample = core(frames[0])
    if any(isinstance(result, str) for result in (sample if isinstance(sample, list) else [sample])):
        raise SystemExit(f"the core rejected a bench frame: {sample!r}")
    stages: dict[str, Callable[[bytes], object]] = {
        "json.loads": json.loads, "json.loads + structs": _loads_build, "core": core}
    ns = {name: _best_ns_per_event(run, frames, args.events, args.repeat) for name, run in stages.items()}
    for name, value in ns.items():
        ratio = value / ns["json.loads"]
        print(f"batch={args.batch:<4} {name:<22} {value:8.0f} ns/event  ratio to json.loads {ratio:.2f}")


if __name__ == "__main__":
    main()
