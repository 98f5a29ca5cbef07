"""The telemetry messages the app builds, in the shapes the wire schema accepts
(metrics_sidecar/schema.py; docs/schema/message.json). The stamp fields
(producer, instance, seq, event_id, sent_ts) are added by ``endpoints.Stamper``.

``MessageHelpers`` gives a delivery mode ``trade()`` and ``tick()`` on top of its
own ``publish()``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .protocol import Published


def trade_message(side: str, qty: float, symbol: str | None = None, price: float | None = None,
                  ts: float | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "trade", "side": side, "qty": float(qty),
                               "ts": time.time() if ts is None else ts}
    if symbol:
        message["symbol"] = symbol
    if price is not None:
        message["price"] = float(price)
    return message


def tick_message(symbol: str, price: float, volume: float = 0.0, source: str = "sim",
                 ts: float | str | None = None, event_id: str | None = None,
                 bid: float | None = None, ask: float | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "tick", "symbol": symbol, "price": float(price),
                               "volume": float(volume), "source": source,
                               "ts": time.time() if ts is None else ts}
    if event_id is not None:
        message["event_id"] = event_id
    if bid is not None:
        message["bid"] = float(bid)
    if ask is not None:
        message["ask"] = float(ask)
    return message


def heartbeat_message() -> dict[str, Any]:
    return {"type": "heartbeat", "ts": time.time()}


class MessageHelpers:
    """``trade()`` and ``tick()`` for a class that has ``publish()``."""

    def publish(self, message: dict[str, Any]) -> Published:
        raise NotImplementedError

    def trade(self, side: str, qty: float, symbol: str | None = None, price: float | None = None,
              ts: float | None = None) -> Published:
        return self.publish(trade_message(side, qty, symbol, price, ts))

    def tick(self, symbol: str, price: float, volume: float = 0.0, source: str = "sim",
             ts: float | str | None = None, event_id: str | None = None,
             bid: float | None = None, ask: float | None = None) -> Published:
        return self.publish(tick_message(symbol, price, volume, source, ts, event_id, bid, ask))
