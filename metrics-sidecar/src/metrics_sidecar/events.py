"""The events the sidecar applies: what the decoder (the compiled core, see
``decode.py``) builds from a valid message, with its defaults filled in.

The wire rules live in ``schema.py``; these structs only carry the result.
They are msgspec structs because the snapshot and the HTTP API serialise them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec


# gc=False: an event holds only strings and numbers, so it can never be part of a
# reference cycle, and the cyclic collector need not track it. The sidecar keeps
# thousands alive at a time (recent events, the analytics inbox, SSE queues); tracked,
# every young-generation collection would walk them.
class _Envelope(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    producer: str | None = None
    instance: str | None = None
    seq: int | None = None
    sent_ts: float | None = None
    event_id: str | None = None
    # Filled in by the sidecar, never read from the wire.
    ts_s: float = 0.0  # ``ts`` normalised to epoch seconds
    recv_ts: float = 0.0  # sidecar receive time


class Trade(_Envelope, tag="trade", kw_only=True):
    kind: ClassVar[str] = "trade"
    side: Literal["buy", "sell"]
    qty: float
    ts: float | str
    symbol: str | None = None
    price: float | None = None


class Tick(_Envelope, tag="tick", kw_only=True):
    kind: ClassVar[str] = "tick"
    symbol: str
    price: float
    volume: float = 0.0
    ts: float | str
    source: str = "unknown"
    bid: float | None = None
    ask: float | None = None


class Heartbeat(_Envelope, tag="heartbeat", kw_only=True):
    kind: ClassVar[str] = "heartbeat"
    ts: float | str


Event = Trade | Tick | Heartbeat
