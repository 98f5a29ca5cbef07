"""The fixed set of reasons a message is rejected, the ``reason`` label of
``messages_invalid_total``. Documented in docs/metrics.md; never grows at runtime,
so the label is bounded."""

from __future__ import annotations

TOO_LARGE = "too_large"  # frame longer than SIDECAR_MAX_MESSAGE_BYTES
MULTIPART = "multipart"  # a ZeroMQ multipart message (the protocol is one frame)
BAD_JSON = "bad_json"  # not UTF-8 JSON, NaN/Infinity literals, trailing junk
TOO_DEEP = "too_deep"  # JSON nested deeper than decode.MAX_DEPTH (32)
DUPLICATE_KEY = "duplicate_key"  # an object repeats a key (parsers would disagree on which wins)
NOT_OBJECT = "not_object"  # valid JSON but not an object (or an array of objects)
UNKNOWN_TYPE = "unknown_type"  # "type" missing or not trade/tick/heartbeat
MISSING_FIELD = "missing_field"  # a required field is absent
BAD_FIELD = "bad_field"  # a field has the wrong type or an out-of-range value
BAD_TIMESTAMP = "bad_timestamp"  # ts unparseable, ambiguous (no offset) or out of range
NON_FINITE = "non_finite"  # a number overflowed to +/-inf
STALE = "stale"  # a tick older than SIDECAR_TICK_MAX_AGE_SECONDS
FUTURE_TIMESTAMP = "future_timestamp"  # ts or sent_ts more than SIDECAR_MAX_FUTURE_SECONDS after receipt
OVERFLOW = "overflow"  # applying it would make an aggregate non-finite (nothing of it is applied)
INTERNAL_ERROR = "internal_error"  # a bug in the sidecar; logged with a traceback

ALL_REASONS: tuple[str, ...] = (
    TOO_LARGE, MULTIPART, BAD_JSON, NOT_OBJECT, UNKNOWN_TYPE, MISSING_FIELD,
    BAD_FIELD, BAD_TIMESTAMP, NON_FINITE, STALE, INTERNAL_ERROR, TOO_DEEP, DUPLICATE_KEY,
    FUTURE_TIMESTAMP, OVERFLOW,
)

# Given by the socket loops (frame shape) or by the state when applying (judged
# against the receive time and the aggregates), never by the decoder.
NOT_FROM_DECODER: frozenset[str] = frozenset(
    {TOO_LARGE, MULTIPART, STALE, FUTURE_TIMESTAMP, OVERFLOW, INTERNAL_ERROR})
