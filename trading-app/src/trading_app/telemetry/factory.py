"""``make_publisher()``: the delivery mode ``WEBAPP_DELIVERY`` asks for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .protocol import Publisher
from .push import PushPublisher

if TYPE_CHECKING:
    from ..settings import AppSettings


def make_publisher(settings: AppSettings, role: str) -> Publisher:
    """Producer ``<WEBAPP_PRODUCER>-<role>``: the fire-and-forget ``PushPublisher``,
    or the lossless ``ReliablePublisher``."""
    producer = f"{settings.producer}-{role}"
    if settings.delivery == "reliable":
        from .reliable import ReliablePublisher  # sqlite and its sender only when asked for

        return ReliablePublisher.from_settings(settings, producer)
    # The sidecar reads JSON-array frames: let the sender batch whatever backlog it finds.
    return PushPublisher(settings.zmq_addr, producer=producer, sndhwm=settings.sndhwm,
                         heartbeat_interval=settings.heartbeat_interval_seconds, curve=settings.curve_keys,
                         batch_backlog=True)
