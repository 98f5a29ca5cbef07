"""GET /stream's per-client write rate under a controlled clock: the response runs
on an event loop whose time is virtual (when nothing is ready it jumps to its next
timer instead of sleeping), so the writes during a tick flood are exact — how many,
when, and which price each carries — whatever the machine's speed. The real
process's stream is tests/e2e/test_market_stream_rate.py (caps and upper bounds)."""

from __future__ import annotations

import asyncio
import json
import selectors
import threading
from collections.abc import Callable
from typing import Any

import pytest

from metrics_sidecar.analytics.sse import EventStreamResponse
from metrics_sidecar.analytics.stream import StreamHub
from metrics_sidecar.decode import Tick

STEP = 0.0025  # the flood: one tick every 2.5 ms (400/s) ...
OFFSET = 0.001  # ... starting 1 ms in, so no tick shares a timestamp with a write
TICKS = 1200  # the last one at 2.9985 s
DISCONNECT = 3.2  # the client goes away (the stream's last write was at 3.0 s)


class _JumpingSelector(selectors.DefaultSelector):
    """Never sleeps on a timer: nothing ready means virtual time moves to the next one."""

    loop: VirtualClockLoop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0 if timeout is not None else None)
        if not ready and timeout:
            self.loop.now += timeout
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        selector = _JumpingSelector()
        selector.loop = self
        super().__init__(selector)

    def time(self) -> float:
        return self.now


def _tick(i: int) -> Tick:
    t = Tick(symbol="RATE", price=100.0 + i, ts=1.0)
    t.ts_s = 1.0
    return t


def _stream(max_rate: float) -> list[tuple[float, bytes]]:
    """(virtual time, body) of every write of one client's stream during the flood."""
    hub = StreamHub(capacity=100, max_clients=1)
    response = EventStreamResponse(hub, None, max_rate, heartbeat=60.0, write_timeout=10.0,
                                   analytics_interval=1000.0, view=lambda _symbol: None)
    loop = VirtualClockLoop()
    writes: list[tuple[float, bytes]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            writes.append((loop.time(), message["body"]))

    async def main() -> None:
        gone = asyncio.Event()

        async def receive() -> dict[str, Any]:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def flood() -> None:
            await asyncio.sleep(OFFSET)
            for i in range(TICKS):
                hub.publish_tick(_tick(i))  # what the ingest thread does: a dict insert
                await asyncio.sleep(STEP)
            await asyncio.sleep(DISCONNECT - loop.time())
            gone.set()

        feeder = asyncio.create_task(flood())
        await response({"type": "http"}, receive, send)  # type: ignore[arg-type]
        await feeder

    # Off the main thread: the response chains SIGTERM/SIGINT only from the server's main thread.
    worker = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    worker.start()
    worker.join(60)  # a deadline for a hang, not a speed target: virtual seconds take no time
    assert not worker.is_alive(), writes
    loop.close()
    return writes


@pytest.mark.parametrize(("max_rate", "writes"), [(0.5, 1), (2.0, 6), (20.0, 60)])
def test_a_flooded_client_gets_exactly_one_write_per_interval_with_the_newest_price(
        monkeypatch: pytest.MonkeyPatch, max_rate: float, writes: int) -> None:
    # The analytics views (view() is None here) would run in a worker thread, whose
    # real-time completion the virtual clock cannot wait for: run them inline.
    async def to_thread(func: Callable[..., Any], *args: Any) -> Any:
        return func(*args)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    stream = _stream(max_rate)
    assert stream[0] == (0.0, b"retry: 1000\n: connected\n\n")
    interval = 1 / max_rate
    got = []
    for at, body in stream[1:]:
        event, data = body.split(b"\n", 1)
        assert event == b"event: tick" and data.startswith(b"data: ") and data.endswith(b"\n\n")
        got.append((round(at, 9), json.loads(data[len(b"data: "):])["price"]))
    # Write k at k / max_rate, carrying the newest tick by then (and only it: conflated).
    assert got == [(round(k * interval, 9), 100.0 + round(k * interval / STEP) - 1) for k in range(1, writes + 1)]
