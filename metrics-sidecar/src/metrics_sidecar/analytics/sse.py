"""The GET /stream response: Server-Sent Events fed from a ``StreamClient``.

The ingest thread only ever inserts into the client's pending map (stream.py).
This side wakes ``max_rate`` times a second at most, takes everything pending
(ticks already conflated per symbol) and writes it as one chunk; symbols that
moved also get an ``analytics`` event (their latest view) at most once per
``SIDECAR_SSE_ANALYTICS_INTERVAL_SECONDS``. A write the socket does not accept
within ``SIDECAR_SSE_WRITE_TIMEOUT_SECONDS`` drops the client (reason ``slow``);
an idle stream gets a ``: keep-alive`` comment every ``SIDECAR_SSE_HEARTBEAT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Protocol

import msgspec
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..decode import Tick, Trade
from .stream import StreamHub

if TYPE_CHECKING:
    from ..state import TelemetryState

log = logging.getLogger("metrics_sidecar.sse")
_encode = msgspec.json.Encoder().encode


class StreamTick(BaseModel):
    """``event: tick``: the newest tick of a symbol since the previous write."""

    symbol: str
    price: float
    volume: float
    ts: float
    source: str
    bid: float | None
    ask: float | None


class StreamTrade(BaseModel):
    """``event: trade``: every trade, in arrival order (never conflated)."""

    side: str
    qty: float
    symbol: str | None
    price: float | None
    ts: float


class _View(Protocol):
    def model_dump_json(self) -> str: ...


class _Slow(Exception):
    """A write did not complete within the write timeout."""


def _render(items: list[Tick | Trade], sent: dict[str, int]) -> tuple[list[bytes], list[str]]:
    """SSE frames for the pending items, and the symbols they touched (for analytics)."""
    frames: list[bytes] = []
    touched: dict[str, None] = {}
    for item in items:
        if type(item) is Tick:
            data = {"symbol": item.symbol, "price": item.price, "volume": item.volume, "ts": item.ts_s,
                    "source": item.source, "bid": item.bid, "ask": item.ask}
            frames.append(b"event: tick\ndata: " + _encode(data) + b"\n\n")
            sent["tick"] += 1
            touched[item.symbol] = None
        elif type(item) is Trade:
            data = {"side": item.side, "qty": item.qty, "symbol": item.symbol, "price": item.price,
                    "ts": item.ts_s}
            frames.append(b"event: trade\ndata: " + _encode(data) + b"\n\n")
            sent["trade"] += 1
            if item.symbol is not None:
                touched[item.symbol] = None
    return frames, list(touched)


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(self, hub: StreamHub, symbols: frozenset[str] | None, max_rate: float, heartbeat: float,
                 write_timeout: float, analytics_interval: float, view: Callable[[str], _View | None]) -> None:
        # No Response.__init__: it would add a Content-Length to an endless body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                            (b"x-accel-buffering", b"no")]
        self.hub = hub
        self.symbols = symbols
        self.interval = 1.0 / max_rate
        self.heartbeat = heartbeat
        self.write_timeout = write_timeout
        self.analytics_interval = analytics_interval
        self.view = view

    async def _write(self, send: Send, body: bytes, more: bool = True) -> None:
        message: Message = {"type": "http.response.body", "body": body, "more_body": more}
        try:
            await asyncio.wait_for(send(message), self.write_timeout)
        except TimeoutError:
            raise _Slow from None

    def _views(self, symbols: list[str]) -> list[bytes]:
        """Runs in a worker thread: the views take ``state.lock``."""
        out = []
        for name in symbols:
            view = self.view(name)
            if view is not None:
                out.append(b"event: analytics\ndata: " + view.model_dump_json().encode() + b"\n\n")
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Subscribe only now that the response runs: a client is never left registered
        # by a response that was never sent.
        hub = self.hub
        client = hub.subscribe(self.symbols)
        if client is None:  # filled up since the handler checked
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"detail":"too many stream clients"}'})
            return
        _end_streams_on_signal(hub)
        loop = asyncio.get_running_loop()
        gone = asyncio.Event()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch_disconnect())
        next_analytics: dict[str, float] = {}
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._write(send, b"retry: 1000\n: connected\n\n")
            last_write = loop.time()
            while not (gone.is_set() or client.dropped or hub.closed.is_set()):
                try:
                    await asyncio.wait_for(gone.wait(), self.interval)  # the per-client rate limit
                except TimeoutError:
                    pass
                if gone.is_set() or client.dropped:
                    break
                frames, touched = _render(client.take(), hub.sent)
                now = loop.time()
                due = [s for s in touched if next_analytics.get(s, 0.0) <= now]
                if due:
                    for name in due:
                        next_analytics[name] = now + self.analytics_interval
                    views = await asyncio.to_thread(self._views, due)
                    hub.sent["analytics"] += len(views)
                    frames.extend(views)
                if frames:
                    await self._write(send, b"".join(frames))
                    last_write = now
                elif now - last_write >= self.heartbeat:
                    await self._write(send, b": keep-alive\n\n")
                    last_write = now
            if client.dropped and not gone.is_set():
                await self._write(send, b'event: error\ndata: {"reason":"queue_full"}\n\n', more=False)
            elif not gone.is_set():
                await self._write(send, b"", more=False)  # shutdown: end the stream cleanly
        except _Slow:
            hub.drop(client, "slow")
            log.warning("dropped a stream client: a write took longer than %.1fs", self.write_timeout)
        except OSError:
            pass  # the peer went away mid-write
        finally:
            watcher.cancel()
            hub.unsubscribe(client)


def _end_streams_on_signal(hub: StreamHub) -> None:
    """uvicorn waits for open responses before it exits, and an event stream never
    ends by itself: chain SIGTERM/SIGINT so they also end every stream. Installed
    from the server's (main) thread on the first stream; uvicorn restores its own
    handlers when it stops, which removes this one too."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if getattr(previous, "ends_streams", False):
            continue

        def handler(signum: int, frame: FrameType | None, previous: object = previous) -> None:
            hub.closed.set()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        handler.ends_streams = True  # type: ignore[attr-defined]
        signal.signal(sig, handler)


def stream_response(state: TelemetryState, symbols: frozenset[str] | None, max_rate: float,
                    view: Callable[[str], _View | None]) -> EventStreamResponse | None:
    """A stream response, or None when SIDECAR_SSE_MAX_CLIENTS are connected or the
    sidecar is shutting down."""
    engine = state.analytics
    assert engine is not None
    hub = engine.stream
    if hub.closed.is_set() or len(hub.clients) >= hub.max_clients:
        return None
    s = state.settings
    return EventStreamResponse(hub, symbols, max_rate, s.sse_heartbeat_seconds, s.sse_write_timeout_seconds,
                               s.sse_analytics_interval_seconds, view)
