"""Pure decode: bytes -> validated event, or the reason it was rejected.

Never raises. The structs below mirror ``schema.py`` (the pydantic source of truth)
so msgspec can validate in C at ~1 us per message; ``tests/test_schema_parity.py``
proves the two accept and reject the same inputs.

A frame is either one JSON object, or a JSON array of objects (the publisher
batches when it has a backlog). In an array, each element is judged on its own:
one bad element does not reject its neighbours.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

import msgspec

from . import reasons
from .schema import (
    EVENT_ID_MAX_LEN,
    INSTANCE_PATTERN,
    PRODUCER_PATTERN,
    SOURCE_PATTERN,
    SYMBOL_PATTERN,
)
from .timestamps import normalize_ts

_NonNeg = Annotated[float, msgspec.Meta(ge=0)]
_Pos = Annotated[float, msgspec.Meta(gt=0)]
_Symbol = Annotated[str, msgspec.Meta(pattern=SYMBOL_PATTERN)]
_Producer = Annotated[str, msgspec.Meta(pattern=PRODUCER_PATTERN)]
_Instance = Annotated[str, msgspec.Meta(pattern=INSTANCE_PATTERN)]
_EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=EVENT_ID_MAX_LEN)]
_Seq = Annotated[int, msgspec.Meta(ge=0)]


class _Envelope(msgspec.Struct, tag_field="type", kw_only=True):
    producer: _Producer | None = None
    instance: _Instance | None = None
    seq: _Seq | None = None
    sent_ts: _NonNeg | None = None
    event_id: _EventId | None = None
    # Filled in by the sidecar, never read from the wire.
    ts_s: float = 0.0  # ``ts`` normalised to epoch seconds
    recv_ts: float = 0.0  # sidecar receive time


class Trade(_Envelope, tag="trade", kw_only=True):
    kind: ClassVar[str] = "trade"
    side: Literal["buy", "sell"]
    qty: _NonNeg
    ts: float | str
    symbol: _Symbol | None = None
    price: _Pos | None = None


class Tick(_Envelope, tag="tick", kw_only=True):
    kind: ClassVar[str] = "tick"
    symbol: _Symbol
    price: _Pos
    volume: _NonNeg = 0.0
    ts: float | str
    source: Annotated[str, msgspec.Meta(pattern=SOURCE_PATTERN)] = "unknown"
    bid: _Pos | None = None
    ask: _Pos | None = None


class Heartbeat(_Envelope, tag="heartbeat", kw_only=True):
    kind: ClassVar[str] = "heartbeat"
    ts: float | str


Event = Trade | Tick | Heartbeat
DecodeResult = Trade | Tick | Heartbeat | str

_decoder = msgspec.json.Decoder(Event)
_any_decoder = msgspec.json.Decoder()

_FINITE_FIELDS = ("qty", "price", "volume", "bid", "ask", "sent_ts")


def _reason_for(error: msgspec.ValidationError) -> str:
    text = str(error)
    if "`$.type`" in text or "missing required field `type`" in text:
        return reasons.UNKNOWN_TYPE
    if "missing required field" in text:
        return reasons.MISSING_FIELD
    if "Expected `object`" in text and "- at" not in text:
        return reasons.NOT_OBJECT
    if "Number out of range" in text:
        return reasons.NON_FINITE
    if "`$.ts`" in text:
        return reasons.BAD_TIMESTAMP
    return reasons.BAD_FIELD


def _finish(event: Event) -> DecodeResult:
    """Checks msgspec cannot express: finite floats and timestamp normalisation."""
    for name in _FINITE_FIELDS:
        value = getattr(event, name, None)
        if value is not None and not math.isfinite(value):
            return reasons.NON_FINITE
    ts = normalize_ts(event.ts)
    if ts is None:
        return reasons.BAD_TIMESTAMP
    event.ts_s = ts
    return event


def decode(frame: bytes) -> DecodeResult:
    """One JSON object -> event or reason. The hot path: keep it lean."""
    try:
        event = _decoder.decode(frame)
    except msgspec.ValidationError as error:
        return _reason_for(error)
    except msgspec.DecodeError:
        return reasons.BAD_JSON
    return _finish(event)


def decode_batch(frame: bytes) -> list[DecodeResult]:
    """A JSON array of messages -> one result per element."""
    try:
        items = _any_decoder.decode(frame)
    except msgspec.DecodeError:
        return [reasons.BAD_JSON]
    if not isinstance(items, list) or not items:
        return [reasons.NOT_OBJECT]
    results: list[DecodeResult] = []
    for item in items:
        if not isinstance(item, dict):
            results.append(reasons.NOT_OBJECT)
            continue
        try:
            results.append(_finish(msgspec.convert(item, Event)))
        except msgspec.ValidationError as error:
            results.append(_reason_for(error))
    return results
