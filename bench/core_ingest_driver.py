"""The core's batch ingest alone, for instruction counts and profiles: B1's trade
frames (one event per frame, 1,000 symbols, seq, event_id and sent_ts on every event)
through ``TelemetryState.ingest`` in batches of 256, then ``end_batch``; no socket.

    .venv/bin/python bench/core_ingest_driver.py off|on REPEATS [EVENTS [PER_FRAME]]

``on``/``off``: the analytics. ``PER_FRAME`` (default 1): events per frame, B2's
batch frames (a JSON array, packed as ``Publisher.publish_many`` packs them) when
above 1. Prints the best µs per event over ``REPEATS``. Under
``valgrind --tool=callgrind --collect-atstart=no --toggle-collect='_core::py_ingest::ingest*'``
the instructions per event are the collected total over EVENTS (docs/benchmarks.md,
*Core per-event cost*)."""

from __future__ import annotations

import sys
import time

from sender import encode_frames, trade_messages

from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState

BATCH = 256


def main() -> None:
    analytics = sys.argv[1] == "on"
    repeats = int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 50_000
    settings = Settings(analytics=analytics)
    per_frame = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    frames = encode_frames(trade_messages(count, 1000, "i1"), per_frame)
    best = float("inf")
    for _ in range(repeats):
        state = TelemetryState(settings)
        started = time.perf_counter()
        for i in range(0, len(frames), BATCH):
            chunk = frames[i:i + BATCH]
            now = time.time()
            state.ingest(chunk, [now] * len(chunk), None, True, 65536)
            state.end_batch()
        best = min(best, time.perf_counter() - started)
        assert sum(state.received.values()) == count
    print(f"{best / count * 1e6:.3f} us/event (best of {repeats}, {count} events, {per_frame} per frame, "
          f"analytics {sys.argv[1]})")


if __name__ == "__main__":
    main()
