"""Pure decode: bytes -> validated event, or the reason it was rejected.

Never raises. The structs below mirror ``schema.py`` (the pydantic source of truth)
so msgspec can validate in C at ~1 us per message; ``tests/test_fuzz_decode.py``
proves the two accept and reject the same inputs.

A frame is either one JSON object, or a JSON array of objects (the publisher
batches when it has a backlog). In an array, each element is judged on its own:
one bad element does not reject its neighbours.

Hostile input is rejected, never trusted: invalid UTF-8 anywhere (msgspec only
checks the strings it keeps), nesting deeper than ``MAX_DEPTH`` and duplicate
keys (JSON parsers silently keep the last one, so two readers of the same bytes
could disagree) each get a counted reason. On the common path that costs one
colon count: the full check runs only when the frame has keys the struct did not
account for (extra or nested fields, colons inside strings, duplicates).
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec.structs import astuple, fields

from . import reasons
from .schema import (
    EVENT_ID_MAX_LEN,
    INSTANCE_PATTERN,
    PRICE_MAX,
    PRODUCER_PATTERN,
    QTY_MAX,
    SEQ_MAX,
    SOURCE_PATTERN,
    SYMBOL_PATTERN,
    TS_SECONDS_BELOW,
)
from .timestamps import _MS_THRESHOLD as _EPOCH_SECONDS_BELOW
from .timestamps import normalize_ts

MAX_DEPTH = 32  # a message is one flat object; nested extra fields are tolerated up to here


def _whole_string(pattern: str) -> str:
    """msgspec matches with Python's ``re.search``, where ``$`` also matches before a
    trailing newline ("BTC\\n" would pass); pydantic's Rust regex does not. ``\\Z`` is
    Python's true end of string, so both accept exactly the same labels."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


# The numeric bounds of schema.py (issue 18): what the journal, the core and a
# float aggregate can all hold.
_Qty = Annotated[float, msgspec.Meta(ge=0, le=QTY_MAX)]
_Price = Annotated[float, msgspec.Meta(gt=0, le=PRICE_MAX)]
_SentTs = Annotated[float, msgspec.Meta(ge=0, lt=TS_SECONDS_BELOW)]
_Symbol = Annotated[str, msgspec.Meta(pattern=_whole_string(SYMBOL_PATTERN))]
_Producer = Annotated[str, msgspec.Meta(pattern=_whole_string(PRODUCER_PATTERN))]
_Instance = Annotated[str, msgspec.Meta(pattern=_whole_string(INSTANCE_PATTERN))]
_Source = Annotated[str, msgspec.Meta(pattern=_whole_string(SOURCE_PATTERN))]
_EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=EVENT_ID_MAX_LEN)]
_Seq = Annotated[int, msgspec.Meta(ge=0, le=SEQ_MAX)]

# The label fields (producer, instance, symbol, source) are plain ``str`` in the
# structs the hot path decodes: msgspec would run each pattern's regex on every
# message (~0.4 us each), while the same few labels repeat. ``_labels_ok`` checks
# them against the same patterns through a cache. The ``_Strict*`` subclasses
# below carry the patterns and only run to name the reason of a rejection, so
# every frame gets exactly the verdict a patterned decoder would give.


# gc=False: an event holds only strings and numbers, so it can never be part of a
# reference cycle, and the cyclic collector need not track it. The sidecar keeps
# thousands alive at a time (recent events, the analytics inbox, SSE queues); tracked,
# every young-generation collection would walk them.
class _Envelope(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    producer: str | None = None
    instance: str | None = None
    seq: _Seq | None = None
    sent_ts: _SentTs | None = None
    event_id: _EventId | None = None
    # Filled in by the sidecar, never read from the wire.
    ts_s: float = 0.0  # ``ts`` normalised to epoch seconds
    recv_ts: float = 0.0  # sidecar receive time


class Trade(_Envelope, tag="trade", kw_only=True):
    kind: ClassVar[str] = "trade"
    side: Literal["buy", "sell"]
    qty: _Qty
    ts: float | str
    symbol: str | None = None
    price: _Price | None = None


class Tick(_Envelope, tag="tick", kw_only=True):
    kind: ClassVar[str] = "tick"
    symbol: str
    price: _Price
    volume: _Qty = 0.0
    ts: float | str
    source: str = "unknown"
    bid: _Price | None = None
    ask: _Price | None = None


class Heartbeat(_Envelope, tag="heartbeat", kw_only=True):
    kind: ClassVar[str] = "heartbeat"
    ts: float | str


class _StrictTrade(Trade, tag="trade", kw_only=True):
    producer: _Producer | None = None
    instance: _Instance | None = None
    symbol: _Symbol | None = None


class _StrictTick(Tick, tag="tick", kw_only=True):
    producer: _Producer | None = None
    instance: _Instance | None = None
    symbol: _Symbol
    source: _Source = "unknown"


class _StrictHeartbeat(Heartbeat, tag="heartbeat", kw_only=True):
    producer: _Producer | None = None
    instance: _Instance | None = None


Event = Trade | Tick | Heartbeat
DecodeResult = Trade | Tick | Heartbeat | str

_decoder = msgspec.json.Decoder(Event)
_strict_decoder = msgspec.json.Decoder(_StrictTrade | _StrictTick | _StrictHeartbeat)


class _CheckedLabels(dict[str | None, bool]):
    """Strings already checked against one label pattern (bounded: a flood of
    distinct junk labels clears it rather than growing it)."""

    def __init__(self, pattern: str) -> None:
        super().__init__({None: True})
        self._search = re.compile(_whole_string(pattern)).search  # what msgspec's Meta(pattern=) runs

    def __missing__(self, value: str) -> bool:
        ok = self._search(value) is not None
        if len(self) >= 4096:
            self.clear()
            self[None] = True
        self[value] = ok
        return ok


_PRODUCER_OK = _CheckedLabels(PRODUCER_PATTERN)
_INSTANCE_OK = _CheckedLabels(INSTANCE_PATTERN)
_SYMBOL_OK = _CheckedLabels(SYMBOL_PATTERN)
_SOURCE_OK = _CheckedLabels(SOURCE_PATTERN)


def _labels_ok(event: Event) -> bool:
    if not (_PRODUCER_OK[event.producer] and _INSTANCE_OK[event.instance]):
        return False
    if type(event) is Trade:
        return _SYMBOL_OK[event.symbol]
    if type(event) is Tick:
        return _SYMBOL_OK[event.symbol] and _SOURCE_OK[event.source]
    return True
_batch_decoder = msgspec.json.Decoder(list[msgspec.Raw])

# Per struct, aligned with ``astuple``: (default or _REQUIRED, the bytes ``"name":``),
# or None for ``ts_s``/``recv_ts``, which the sidecar fills in and are never wire keys.
_REQUIRED = object()
_NOT_WIRE = ("ts_s", "recv_ts")
_KEY_META: dict[type, tuple[tuple[object, bytes] | None, ...]] = {
    cls: tuple(None if f.name in _NOT_WIRE else
               (_REQUIRED if f.required else f.default, b'"%s":' % f.encode_name.encode())
               for f in fields(cls))
    for cls in (Trade, Tick, Heartbeat)
}
# Optional fields whose default is not None (Tick.volume, Tick.source).
_VALUE_DEFAULTS: dict[type, tuple[tuple[str, object], ...]] = {
    cls: tuple((f.name, f.default) for f in fields(cls)
               if f.name not in _NOT_WIRE and not f.required and f.default is not None)
    for cls in (Trade, Tick, Heartbeat)
}
# Stage 2 of _keys_unaccounted subtracts colons in string values; a default that is
# not on the wire must not contribute any.
assert not any(":" in str(d) for defaults in _VALUE_DEFAULTS.values() for _, d in defaults)


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


# -- structural checks (off the common path) ------------------------------------
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_ONE_BRACKET_KIND = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_MAX_INT_DIGITS = 4300  # CPython's int parsing limit, and pydantic's ("number out of range")


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> None:
    if len({key for key, _ in pairs}) != len(pairs):
        raise _Rejected(reasons.DUPLICATE_KEY)


def _finite_float(text: str) -> None:
    if not math.isfinite(float(text)):
        raise _Rejected(reasons.NON_FINITE)


def _bounded_int(text: str) -> None:
    if len(text) > _MAX_INT_DIGITS:
        raise _Rejected(reasons.NON_FINITE)


def _no_constants(text: str) -> None:
    raise _Rejected(reasons.BAD_JSON)  # NaN, Infinity, -Infinity are not JSON


def nesting_deeper_than(frame: bytes, limit: int) -> bool:
    """True if brackets (outside strings) nest deeper than ``limit``. No recursion:
    each pass deletes the innermost ``[]`` pairs, so ``limit`` passes empty any
    structure at most ``limit`` deep."""
    if frame.count(b"[") + frame.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", frame).translate(_ONE_BRACKET_KIND, _NOT_BRACKETS)
    for _ in range(limit):
        brackets = brackets.replace(b"[]", b"")
        if not brackets:
            return False
    return b"[]" in brackets


def _structure_problem(frame: bytes) -> str | None:
    """A full (slow, exact) pass for what msgspec does not check: nesting depth,
    duplicate keys at any level, numbers that overflow. None if the frame is fine."""
    if nesting_deeper_than(frame, MAX_DEPTH):
        return reasons.TOO_DEEP
    try:
        json.loads(frame.decode(), object_pairs_hook=_no_duplicate_keys, parse_float=_finite_float,
                   parse_int=_bounded_int, parse_constant=_no_constants)
    except _Rejected as rejected:
        return rejected.reason
    except RecursionError:
        return reasons.TOO_DEEP
    except ValueError:  # also UnicodeDecodeError
        return reasons.BAD_JSON
    return None


def _is_utf8(frame: bytes) -> bool:
    try:
        frame.decode()
    except UnicodeDecodeError:
        return False
    return True


# -- decoding ---------------------------------------------------------------------
def _finish(event: Event) -> DecodeResult:
    """Timestamp normalisation, the check msgspec cannot express. (Floats need no
    finiteness check: msgspec rejects an out-of-range number as "Number out of
    range" (non_finite), and NaN/Infinity are not JSON.)"""
    ts = event.ts
    if type(ts) is float and 0.0 <= ts < _EPOCH_SECONDS_BELOW:
        event.ts_s = ts  # the common case, exactly what normalize_ts returns for it
        return event
    seconds = normalize_ts(ts)
    if seconds is None:
        return reasons.BAD_TIMESTAMP
    event.ts_s = seconds
    return event


def _keys_unaccounted(frame: bytes, event: Event) -> bool:
    """False proves the frame holds exactly the keys the struct decoded: no
    duplicate, unknown or nested key. Every key is followed by exactly one
    structural ':', so more colons than keys known to be present means there is
    something else to look at (or just colons inside strings, or a field sent
    with its default value: the second stage accounts for those)."""
    colons = frame.count(b":")
    # Stage 1, the common path: a field differing from its default was on the wire.
    values = astuple(event)
    known = 1 + len(values) - values.count(None) - len(_NOT_WIRE)  # 1: the "type" tag
    for name, default in _VALUE_DEFAULTS[type(event)]:
        if getattr(event, name) == default:
            known -= 1
    if colons <= known:
        return False
    # Stage 2: a field equal to its default counts if ``"name":`` is in the frame
    # (that byte sequence cannot occur inside a JSON string), and colons inside
    # the decoded string values are not keys. Escapes could hide either: give up.
    if b"\\" in frame:
        return True
    known = 1
    for value, meta in zip(values, _KEY_META[type(event)], strict=True):
        if meta is None:
            continue
        if meta[0] is _REQUIRED or value != meta[0]:
            known += 1
            if type(value) is str:
                colons -= value.count(":")
        elif meta[1] in frame:
            known += 1
    return colons > known


def decode(frame: bytes) -> DecodeResult:
    """One JSON object -> event or reason. The hot path: keep it lean."""
    if not frame.isascii() and not _is_utf8(frame):
        return reasons.BAD_JSON
    try:
        event = _decoder.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return _rejection(frame)
    if not _labels_ok(event):
        return _rejection(frame)
    if _keys_unaccounted(frame, event):
        problem = _structure_problem(frame)
        if problem is not None:
            return problem
    return _finish(event)


def _rejection(frame: bytes) -> str:
    """The reason for a frame the fast path turned down, from the patterned
    decoder (off the common path: it decodes the frame a second time)."""
    try:
        _strict_decoder.decode(frame)
    except msgspec.ValidationError as error:
        # Structural reasons win over schema ones. Without a ':' there is no key, so
        # no duplicate: skip the slow pass (cheap rejects keep garbage floods cheap).
        problem = _structure_problem(frame) if b":" in frame or nesting_deeper_than(frame, MAX_DEPTH) else None
        return problem or _reason_for(error)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return reasons.BAD_JSON
    except RecursionError:
        return reasons.TOO_DEEP
    return reasons.BAD_FIELD  # unreachable: the strict structs accept less than the fast ones


def decode_batch(frame: bytes) -> list[DecodeResult]:
    """A JSON array of messages -> one result per element, each judged by ``decode``."""
    if not frame.isascii() and not _is_utf8(frame):
        return [reasons.BAD_JSON]
    try:
        items = _batch_decoder.decode(frame)
    except msgspec.ValidationError:
        return [reasons.NOT_OBJECT]
    except (msgspec.DecodeError, UnicodeDecodeError):
        return [reasons.BAD_JSON]
    except RecursionError:
        return [reasons.TOO_DEEP]
    if not items:
        return [reasons.NOT_OBJECT]
    # An element that is not an object is rejected without a parse (a frame of
    # 30,000 numbers must not cost 30,000 decodes).
    return [decode(raw) if raw[:1] == b"{" else reasons.NOT_OBJECT for raw in map(bytes, items)]
