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


# Why the builders write the stamp's keys as None placeholders: a dict built from
# a literal is sized for its keys; the five the stamp adds to a six-key message
# would outgrow that table, and the resize (a new table, and the old freed) would
# happen inside publish(). Written here, it happens in the caller's own code before
# publish(), and the stamp only overwrites values. The optional fields are in the
# literal too, deleted when absent, so the table is sized for the largest message.
# The key order stays what it was: fields, then producer, instance, seq, event_id, sent_ts.

STAMP_KEYS = ("producer", "instance", "seq", "event_id", "sent_ts")


def drop_placeholders(message: dict[str, Any]) -> None:
    """Remove the stamp keys still holding a builder's None: a message refused before
    it was stamped then reads as it was given (no ``seq`` where none was consumed)."""
    for key in STAMP_KEYS:
        if key in message and message[key] is None:
            del message[key]


def trade_message(side: str, qty: float, symbol: str | None = None, price: float | None = None,
                  ts: float | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "trade", "side": side, "qty": float(qty),
                               "ts": time.time() if ts is None else ts, "symbol": symbol,
                               "price": None if price is None else float(price),
                               "producer": None, "instance": None, "seq": None, "event_id": None, "sent_ts": None}
    if not symbol:
        del message["symbol"]
    if price is None:
        del message["price"]
    return message


def tick_message(symbol: str, price: float, volume: float = 0.0, source: str = "sim",
                 ts: float | str | None = None, event_id: str | None = None,
                 bid: float | None = None, ask: float | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "tick", "symbol": symbol, "price": float(price),
                               "volume": float(volume), "source": source,
                               "ts": time.time() if ts is None else ts,
                               "bid": None if bid is None else float(bid), "ask": None if ask is None else float(ask),
                               "producer": None, "instance": None, "seq": None, "event_id": event_id,
                               "sent_ts": None}
    if bid is None:
        del message["bid"]
    if ask is None:
        del message["ask"]
    return message


def heartbeat_message() -> dict[str, Any]:
    return {"type": "heartbeat", "ts": time.time(),
            "producer": None, "instance": None, "seq": None, "event_id": None, "sent_ts": None}


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
