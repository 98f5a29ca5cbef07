"""What both delivery modes share about endpoints: parsing ``WEBAPP_ZMQ_ADDR``,
sharding by symbol, and stamping a message for its endpoint.

Sharding: crc32 of the symbol modulo the number of endpoints, so each symbol's
state lives in exactly one sidecar. ``seq`` counts per endpoint, so each
sidecar's loss accounting stays exact. Event ids are ``<instance>-<seq>``, or
``<instance>-<endpoint>-<seq>`` with several endpoints.
"""

from __future__ import annotations

import time
import uuid
import zlib
from typing import Any

_time = time.time


def parse_addresses(addresses: str | list[str]) -> list[str]:
    """``"tcp://a:1, tcp://b:2"`` or a list -> endpoints; at least one."""
    if isinstance(addresses, str):
        addresses = [a.strip() for a in addresses.split(",") if a.strip()]
    if not addresses:
        raise ValueError("at least one ZeroMQ endpoint is required")
    return list(addresses)


def shard_index(message: dict[str, Any], endpoints: int) -> int:
    """The endpoint a message goes to: by its symbol (none: endpoint 0's shard of "")."""
    if endpoints == 1:
        return 0
    return zlib.crc32((message.get("symbol") or "").encode()) % endpoints


def wait_connected(publisher: Any, timeout: float) -> bool:
    """Poll ``publisher.connected`` for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if publisher.connected:
            return True
        time.sleep(0.01)
    return bool(publisher.connected)


class Stamper:
    """Writes ``producer``, ``instance``, ``seq``, ``event_id`` (unless the caller
    set one) and ``sent_ts`` into a message. Not thread-safe: the caller holds the
    lock that also orders what it does with the seq (queue or outbox)."""

    def __init__(self, producer: str, endpoints: int) -> None:
        self.producer = producer
        self.instance = uuid.uuid4().hex[:12]  # changes on every start: a restart is not loss
        self.prefixes = [f"{self.instance}-" if endpoints == 1 else f"{self.instance}-{i}-"
                         for i in range(endpoints)]
        self.seqs = [0] * endpoints  # last seq used, per endpoint

    def stamp(self, message: dict[str, Any], endpoint: int, seq: int) -> None:
        """``event_id`` is kept when the caller set one; a None one (the
        placeholder ``messages.py``'s builders put in) is filled in."""
        message["producer"] = self.producer
        message["instance"] = self.instance
        message["seq"] = seq
        if message.get("event_id") is None:
            message["event_id"] = f"{self.prefixes[endpoint]}{seq}"
        message["sent_ts"] = _time()

    def stamp_next(self, message: dict[str, Any], endpoint: int) -> int:
        """Stamp with the endpoint's next seq (consumed even if the message is then
        dropped). The fire-and-forget ``publish()`` has this written out in its
        own body (push.py says why): keep the two the same."""
        seq = self.seqs[endpoint] + 1
        self.seqs[endpoint] = seq
        self.stamp(message, endpoint, seq)
        return seq
