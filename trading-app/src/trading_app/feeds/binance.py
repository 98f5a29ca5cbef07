"""Relay a Binance-compatible trade stream (WebSocket) as ticks.

A trade event looks like ``{"e":"trade","E":..,"s":"BTCUSDT","t":12345,"p":"0.001",
"q":"100","T":1672515782136,"m":true,"M":true}``; combined streams wrap it as
``{"stream":"btcusdt@trade","data":{...}}``. Mapping: ``s`` -> symbol, ``p`` ->
price, ``q`` -> volume, ``T`` (trade time, ms) -> ``ts`` (so ``event_to_send`` is
the exchange-to-app delay), ``t`` -> event id ``binance-<SYMBOL>-<t>``. The
symbol is in the id because trade ids are per symbol: on a combined stream two
symbols' trades can share a ``t`` and the sidecar's dedup must not merge them.

A message that is not a well-formed trade is counted by reason and skipped; the
stream goes on. A lost or refused connection is retried with exponential backoff
(doubling from ``backoff_initial`` up to ``backoff_max``; reset once a connection
delivers a message); every connection after the first counts as a reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .base import Feed, TickSink

log = logging.getLogger("trading_app.feeds.binance")

# Skip reasons (fixed set).
BAD_JSON = "bad_json"
NOT_OBJECT = "not_object"
NOT_TRADE = "not_trade"  # valid JSON but another event (e.g. a subscribe reply)
MISSING_FIELD = "missing_field"
BAD_FIELD = "bad_field"
REASONS = (BAD_JSON, NOT_OBJECT, NOT_TRADE, MISSING_FIELD, BAD_FIELD)

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$")  # the sidecar's symbol pattern
_MAX_EPOCH_MS = 10**14  # year 5138: anything above is not epoch milliseconds


@dataclass(frozen=True, slots=True)
class TradeTick:
    symbol: str
    price: float
    volume: float
    ts: float  # epoch seconds
    event_id: str


def _decimal(value: Any) -> float:
    """Binance sends prices and quantities as strings; accept numbers too."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(value)
    return value


def map_message(raw: str | bytes) -> TradeTick | str:
    """One WebSocket message -> a tick, or the reason it is skipped. Never raises."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return BAD_JSON
    if isinstance(data, dict) and "stream" in data and isinstance(data.get("data"), dict):
        data = data["data"]
    if not isinstance(data, dict):
        return NOT_OBJECT
    if data.get("e", "trade") != "trade" or "result" in data:
        return NOT_TRADE
    if any(key not in data for key in ("s", "p", "q", "T", "t")):
        return MISSING_FIELD
    symbol = data["s"]
    try:
        price = _decimal(data["p"])
        qty = _decimal(data["q"])
        trade_ms = _integer(data["T"])
        trade_id = _integer(data["t"])
    except ValueError:
        return BAD_FIELD
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol) or price <= 0 or qty < 0:
        return BAD_FIELD
    if trade_ms == 0 or trade_ms >= _MAX_EPOCH_MS:
        return BAD_FIELD
    return TradeTick(symbol.upper(), price, qty, trade_ms / 1000.0, f"binance-{symbol.upper()}-{trade_id}")


def backoff_delays(initial: float, cap: float) -> list[float]:
    """The delay sequence, for docs and tests: initial, 2x, 4x, ... up to cap."""
    delays, delay = [], initial
    while delay < cap:
        delays.append(delay)
        delay *= 2
    return [*delays, cap]


class BinanceFeed(Feed):
    source = "binance"

    def __init__(self, sink: TickSink, url: str, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 count: int | None = None, open_timeout: float = 10.0) -> None:
        super().__init__(sink, count)
        self.url = url
        self.backoff_initial = backoff_initial
        self.backoff_max = max(backoff_max, backoff_initial)
        self.open_timeout = open_timeout
        self.connected = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def reconnects(self) -> int:
        return self.stats.reconnects

    def run(self) -> None:
        asyncio.run(self._main())

    def stop(self) -> None:
        super().stop()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop closed between the check and the call
                pass

    async def _main(self) -> None:
        # Publish loop and task before checking the flag: stop() sets the flag first,
        # so a stop that races with startup is seen here or cancels the task.
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        if self.stopping:
            return
        try:
            await self._connect_loop()
        except asyncio.CancelledError:
            pass
        finally:
            self.connected = False

    async def _connect_loop(self) -> None:
        delay = self.backoff_initial
        ever_connected = False
        while not self.done():
            try:
                async with connect(self.url, open_timeout=self.open_timeout, close_timeout=1,
                                   max_size=2**20, compression=None) as ws:
                    if ever_connected:
                        self.stats.reconnects += 1
                    ever_connected = True
                    self.connected = True
                    log.info("connected to %s", self.url)
                    if await self._consume(ws):
                        delay = self.backoff_initial  # it worked for a while: start over
                    if self.done():
                        return
                    self.stats.disconnects += 1
                    log.warning("stream %s ended (code %s %s); reconnecting in %.1fs", self.url,
                                ws.close_code, ws.close_reason or "", delay)
            except InvalidURI:
                raise
            except ConnectionClosed as exc:
                self.stats.disconnects += 1
                log.warning("connection to %s lost (%s); reconnecting in %.1fs", self.url, exc, delay)
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                self.stats.connect_failures += 1
                log.warning("cannot connect to %s (%s); retrying in %.1fs", self.url, exc, delay)
            self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def _consume(self, ws: Any) -> bool:
        """Relay messages until the stream ends or we are done; True if any arrived."""
        got_any = False
        try:
            async for raw in ws:
                got_any = True
                item = map_message(raw)
                if isinstance(item, str):
                    self.stats.skip(item)
                    continue
                self.sink.emit(item.symbol, item.price, item.volume, ts=item.ts, event_id=item.event_id)
                if self.done():
                    return got_any
        except ConnectionClosed as exc:  # dropped without a clean close frame
            log.debug("connection closed: %s", exc)
        return got_any
