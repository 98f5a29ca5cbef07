"""Lossless delivery (``WEBAPP_DELIVERY=reliable``): a durable SQLite outbox and a
sender that resends over DEALER until the sidecar acks. See docs/delivery.md."""

from .publisher import ReliablePublisher

__all__ = ["ReliablePublisher"]
