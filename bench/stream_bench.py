"""B12: GET /stream timings that functional tests no longer assert (issue 16 item 6),
measured against baselines of the same run and reported, never enforced.

- tick -> stream client: a tick pushed to a real sidecar until a ``GET /stream``
  client (the default 20 writes/s) reads it, sent at a random phase of the write
  interval; baselines: a bare pyzmq PUSH -> PULL one-way time, and the write interval
  itself (a tick waits for the next write: half the interval on average). Was
  tests/e2e/test_market_api_stream.py's "within a second".
- writes a flooded client gets: 400 ticks/s for some seconds to three clients asking
  2, 20 (the default) and 1000 (capped at 20) writes/s; the writes each read during
  the flood, per second, against the rate asked. Was
  tests/e2e/test_market_stream_rate.py's minimums (the slow client gets at least
  duration - 1 writes, the others at least 3x the slow one's); that test keeps the
  upper bounds, and metrics-sidecar/tests/test_stream_rate_clock.py the exact
  writes under a controlled clock.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import zmq
from harness import percentile, start_sidecar, summary, wait_until
from timing_bench import bare_one_way

MAX_RATE = 20.0  # SIDECAR_SSE_MAX_RATE for the run
FLOOD_RATE = 400  # ticks/s, 20 every 50 ms


class TickReader:
    """A GET /stream client on its own thread: (monotonic receive time, price) per tick."""

    def __init__(self, http: str, params: dict[str, Any]) -> None:
        self.ticks: list[tuple[float, float]] = []
        self.connected = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self._thread = threading.Thread(target=self._run, args=(http + "/stream", params), daemon=True)
        self._thread.start()

    def _run(self, url: str, params: dict[str, Any]) -> None:
        event = ""
        try:
            with self._client.stream("GET", url, params=params) as response:
                for line in response.iter_lines():
                    if line == ": connected":
                        self.connected.set()
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "tick":
                        self.ticks.append((time.monotonic(), float(json.loads(line[5:])["price"])))
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by close()

    def close(self) -> None:
        self._client.close()


def _reader(http: str, **params: Any) -> TickReader:
    reader = TickReader(http, params)
    if not reader.connected.wait(10):
        raise RuntimeError(f"stream client {params} never connected")
    return reader


def _tick(symbol: str, price: float) -> bytes:
    return json.dumps({"type": "tick", "symbol": symbol, "price": price, "ts": time.time()}).encode()


def tick_to_client(push: zmq.Socket[bytes], http: str, trials: int) -> list[float]:
    """Seconds from each tick's send until the stream client read it."""
    reader = _reader(http, symbols="LAT")
    rng = random.Random(12)
    latencies: list[float] = []
    try:
        for i in range(trials):
            time.sleep(rng.uniform(0.1, 0.2))  # a random phase of the 50 ms write interval
            price = 1.0 + i
            sent = time.monotonic()
            push.send(_tick("LAT", price))

            def arrived(price: float = price) -> float | None:
                return next((t for t, p in reader.ticks if p == price), None)

            at = wait_until(arrived, 30, 0.001, f"tick {i} on the stream")
            latencies.append(at - sent)
    finally:
        reader.close()
    return latencies


def flooded_writes(push: zmq.Socket[bytes], http: str, seconds: float) -> dict[str, Any]:
    """Writes each client read during a flood, per second, against the rate it asked."""
    asked = {"slow": 2.0, "default": MAX_RATE, "greedy": MAX_RATE}
    readers = {"slow": _reader(http, symbols="RATE", max_rate=2), "default": _reader(http, symbols="RATE"),
               "greedy": _reader(http, symbols="RATE", max_rate=1000)}
    try:
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < seconds:
            sent += 1
            push.send(_tick("RATE", 100 + sent / 1000))
            if sent % 20 == 0:
                time.sleep(20 / FLOOD_RATE)
        ended = time.monotonic()
        push.send(_tick("RATE", 999.0))
        for name, reader in readers.items():
            def last_read(r: TickReader = reader) -> bool:
                return any(p == 999.0 for _, p in r.ticks)

            wait_until(last_read, 30, 0.01, f"{name}: the last tick")
        duration = ended - started
        writes = {name: sum(started <= t <= ended for t, _ in r.ticks) for name, r in readers.items()}
    finally:
        for reader in readers.values():
            reader.close()
    return {"seconds": duration, "ticks_sent": sent, "asked_per_s": asked, "writes": writes,
            "per_s": {k: n / duration for k, n in writes.items()},
            "old_minimums_held": writes["slow"] >= duration - 1
            and min(writes["default"], writes["greedy"]) >= 3 * writes["slow"],
            "caps_held": all(writes[k] <= asked[k] * duration + 2 for k in asked)}


def run(log_dir: Path, trials: int, flood_seconds: float) -> dict[str, Any]:
    env = {"SIDECAR_SSE_MAX_RATE": str(MAX_RATE), "SIDECAR_SSE_HEARTBEAT_SECONDS": "60",
           "SIDECAR_SSE_ANALYTICS_INTERVAL_SECONDS": "1000"}
    sidecar = start_sidecar(log_dir / "b12", env)
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 0)
    push.connect(sidecar.zmq)
    try:
        latencies = tick_to_client(push, sidecar.http, trials)
        flood = flooded_writes(push, sidecar.http, flood_seconds)
    finally:
        push.close(0)
        context.term()
        sidecar.stop()
    bare = bare_one_way(trials)
    return {"trials": trials, "latency_s": summary(latencies), "p95_s": percentile(latencies, 0.95),
            "max_s": max(latencies), "interval_s": 1 / MAX_RATE, "bare_one_way_median_s": summary(bare)["median"],
            "flood": flood}


def main() -> None:
    """Alone: ``python bench/stream_bench.py`` (bench/run.py --only B12 also runs it)."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-stream-") as logs:
        out = {"B12": run(Path(logs), 40, 5.0), "load": os.getloadavg()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
