"""A Binance-like WebSocket server on 127.0.0.1 for the feed tests (unit and
end to end): these machines have no internet, and the relay must be tested
against a real socket that drops and closes connections."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from websockets.asyncio.server import ServerConnection, serve

Handler = Callable[[ServerConnection, int], Awaitable[None]]


class LocalStream:
    """A Binance-like WebSocket server on 127.0.0.1 (OS-chosen port) in a thread;
    the handler gets each connection and its index (0 for the first)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),), daemon=True)
        self.thread.start()
        assert self._ready.wait(5), "local stream did not start"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/btcusdt@trade"

    async def _serve(self) -> None:
        self._stop = asyncio.Event()

        async def handle(ws: ServerConnection) -> None:
            index = self.connections
            self.connections += 1
            await self.handler(ws, index)

        async with serve(handle, "127.0.0.1", 0, compression=None, close_timeout=1) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def close(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(5)
        self.loop.close()
