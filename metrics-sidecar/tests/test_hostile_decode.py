"""Hostile input, one category at a time: each is rejected with its counted reason,
the decoder never raises, and the cheap checks on the common path cannot be
fooled into accepting a duplicate key."""

from __future__ import annotations

import json

import pytest

from metrics_sidecar import reasons
from metrics_sidecar.decode import MAX_DEPTH, Heartbeat, Trade, decode, decode_batch, nesting_deeper_than
from metrics_sidecar.schema import SYMBOL_PATTERN

TRADE = b'{"type":"trade","side":"buy","qty":1,"ts":1700000000'  # + more fields + "}"


def nested(levels: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * levels + b"1" + closer * levels


HOSTILE: list[tuple[str, bytes, str]] = [
    # invalid UTF-8, wherever it hides (msgspec alone only checks strings it keeps)
    ("utf8_in_value", TRADE + b',"event_id":"ab\xffcd"}', reasons.BAD_JSON),
    ("utf8_in_key", TRADE + b',"\xff":1}', reasons.BAD_JSON),
    ("utf8_in_ignored_field", TRADE + b',"note":"\xc3"}', reasons.BAD_JSON),
    ("utf8_surrogate_bytes", TRADE + b',"note":"\xed\xa0\x80"}', reasons.BAD_JSON),
    ("utf8_overlong", TRADE + b',"note":"\xc0\xaf"}', reasons.BAD_JSON),
    ("latin1_frame", '{"type":"trade","side":"buy","qty":1,"ts":1700000000,"symbol":"é"}'.encode("latin-1"),
     reasons.BAD_JSON),
    ("utf16_frame", json.dumps({"type": "heartbeat", "ts": 1700000000}).encode("utf-16"), reasons.BAD_JSON),
    ("lone_surrogate_escape", TRADE + b',"note":"\\ud800"}', reasons.BAD_JSON),
    # not JSON / not an object
    ("empty", b"", reasons.BAD_JSON),
    ("truncated", TRADE, reasons.BAD_JSON),
    ("trailing_junk", TRADE + b"}}", reasons.BAD_JSON),
    ("nul_byte", TRADE + b"}\x00", reasons.BAD_JSON),
    ("bom", b"\xef\xbb\xbf" + TRADE + b"}", reasons.BAD_JSON),
    ("string", b'"trade"', reasons.NOT_OBJECT),
    ("number", b"42", reasons.NOT_OBJECT),
    ("null", b"null", reasons.NOT_OBJECT),
    # deeply nested
    ("deep_extra_array", TRADE + b',"x":' + nested(MAX_DEPTH) + b"}", reasons.TOO_DEEP),
    ("deep_extra_object", TRADE + b',"x":' + nested(MAX_DEPTH, b'{"k":', b"}") + b"}", reasons.TOO_DEEP),
    ("deep_100k", TRADE + b',"x":' + nested(100_000) + b"}", reasons.TOO_DEEP),
    ("deep_unclosed_100k", TRADE + b',"x":' + b"[" * 100_000, reasons.TOO_DEEP),
    ("deep_then_invalid", b'{"type":"trade","qty":"x","y":' + nested(MAX_DEPTH) + b"}", reasons.TOO_DEEP),
    # NaN / Infinity / huge numbers
    ("nan_literal", b'{"type":"trade","side":"buy","qty":NaN,"ts":1700000000}', reasons.BAD_JSON),
    ("infinity_literal", b'{"type":"trade","side":"buy","qty":Infinity,"ts":1700000000}', reasons.BAD_JSON),
    ("nan_in_ignored_field", TRADE + b',"note":NaN}', reasons.BAD_JSON),
    ("float_overflow", b'{"type":"trade","side":"buy","qty":1e400,"ts":1700000000}', reasons.NON_FINITE),
    ("int_overflows_float", b'{"type":"trade","side":"buy","qty":1' + b"0" * 400 + b',"ts":1700000000}',
     reasons.NON_FINITE),
    ("float_overflow_ignored_field", TRADE + b',"note":-1e999}', reasons.NON_FINITE),
    ("int_5000_digits_ignored_field", TRADE + b',"note":' + b"9" * 5000 + b"}", reasons.NON_FINITE),
    ("int_5000_digits_seq", TRADE + b',"seq":' + b"9" * 5000 + b"}", reasons.NON_FINITE),
    ("ts_overflow", b'{"type":"heartbeat","ts":1e400}', reasons.NON_FINITE),
    ("ts_nanoseconds", b'{"type":"heartbeat","ts":1700000000000000000}', reasons.BAD_TIMESTAMP),
    ("ts_year_1", b'{"type":"heartbeat","ts":"0001-01-01T00:00:00Z"}', reasons.BAD_TIMESTAMP),
    # duplicate keys, however they are spelled
    ("dup_known_field", TRADE + b',"qty":1000000}', reasons.DUPLICATE_KEY),
    ("dup_type", TRADE + b',"type":"heartbeat"}', reasons.DUPLICATE_KEY),
    ("dup_with_spaces", TRADE + b' , "qty" : 2 }', reasons.DUPLICATE_KEY),
    ("dup_escaped_key", TRADE + b',"q\\u0074y":2}', reasons.DUPLICATE_KEY),
    ("dup_unknown_field", TRADE + b',"note":1,"note":2}', reasons.DUPLICATE_KEY),
    ("dup_nested", TRADE + b',"note":{"a":1,"a":2}}', reasons.DUPLICATE_KEY),
    ("dup_same_value", TRADE + b',"ts":1700000000}', reasons.DUPLICATE_KEY),
    ("dup_default_value", b'{"type":"tick","symbol":"A","price":1,"ts":1700000000,"volume":0.0,"volume":0.0}',
     reasons.DUPLICATE_KEY),
    ("dup_null_value", TRADE + b',"price":null,"price":null}', reasons.DUPLICATE_KEY),
    ("dup_hidden_behind_colons", b'{"type":"heartbeat","ts":"2023-11-14T22:13:20Z","ts":"2023-11-14T22:13:21Z"}',
     reasons.DUPLICATE_KEY),
    ("dup_key_text_in_value", TRADE + b',"event_id":"\\"qty\\":","qty":3}', reasons.DUPLICATE_KEY),
    ("dup_and_invalid", b'{"type":"trade","qty":"x","qty":"y"}', reasons.DUPLICATE_KEY),
    # unknown types and wrong field types
    ("type_missing", b'{"side":"buy","qty":1,"ts":1700000000}', reasons.UNKNOWN_TYPE),
    ("type_unknown", b'{"type":"order","side":"buy","qty":1,"ts":1700000000}', reasons.UNKNOWN_TYPE),
    ("type_case", b'{"type":"Trade","side":"buy","qty":1,"ts":1700000000}', reasons.UNKNOWN_TYPE),
    ("type_not_string", b'{"type":1,"side":"buy","qty":1,"ts":1700000000}', reasons.UNKNOWN_TYPE),
    ("qty_string", b'{"type":"trade","side":"buy","qty":"1","ts":1700000000}', reasons.BAD_FIELD),
    ("qty_bool", b'{"type":"trade","side":"buy","qty":true,"ts":1700000000}', reasons.BAD_FIELD),
    ("qty_object", b'{"type":"trade","side":"buy","qty":{"v":1},"ts":1700000000}', reasons.BAD_FIELD),
    ("seq_float", b'{"type":"heartbeat","ts":1700000000,"seq":1.5}', reasons.BAD_FIELD),
    ("symbol_newline", TRADE + b',"symbol":"BTCUSDT\\n"}', reasons.BAD_FIELD),
    ("symbol_too_long", TRADE + b',"symbol":"' + b"A" * 33 + b'"}', reasons.BAD_FIELD),
    ("symbol_label_injection", TRADE + b',"symbol":"x\\"} 1\\nevil{a=\\""}', reasons.BAD_FIELD),
    ("producer_unicode", b'{"type":"heartbeat","ts":1700000000,"producer":"\xc3\xa9"}', reasons.BAD_FIELD),
    ("event_id_too_long", TRADE + b',"event_id":"' + b"e" * 129 + b'"}', reasons.BAD_FIELD),
    ("missing_qty", b'{"type":"trade","side":"buy","ts":1700000000}', reasons.MISSING_FIELD),
]


@pytest.mark.parametrize(("name", "raw", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_gets_its_reason(name: str, raw: bytes, reason: str) -> None:
    assert decode(raw) == reason


@pytest.mark.parametrize(("name", "raw", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_in_a_batch_the_neighbours_survive(name: str, raw: bytes, reason: str) -> None:
    valid = b'{"type":"heartbeat","ts":1700000000}'
    results = decode_batch(b"[" + valid + b"," + raw + b"," + valid + b"]")
    if len(results) == 1:
        # The element is not JSON (or nests past the parser's own limit): neither is the frame.
        assert reason in (reasons.BAD_JSON, reasons.TOO_DEEP) and results[0] in (reasons.BAD_JSON, reasons.TOO_DEEP)
        return
    assert isinstance(results[0], Heartbeat) and results[1] == reason and isinstance(results[2], Heartbeat)


def test_the_depth_limit_is_exact() -> None:
    assert isinstance(decode(TRADE + b',"x":' + nested(MAX_DEPTH - 1) + b"}"), Trade)  # object + 31 = 32 levels
    assert decode(TRADE + b',"x":' + nested(MAX_DEPTH) + b"}") == reasons.TOO_DEEP  # 33 levels
    assert nesting_deeper_than(nested(MAX_DEPTH), MAX_DEPTH) is False
    assert nesting_deeper_than(nested(MAX_DEPTH + 1), MAX_DEPTH) is True
    brackets_in_strings = b'{"x":"' + b"[" * 100 + b'"}'
    assert nesting_deeper_than(brackets_in_strings, MAX_DEPTH) is False
    assert isinstance(decode(TRADE + b',"note":"' + b"[{" * 100 + b'"}'), Trade)


@pytest.mark.parametrize("raw", [
    TRADE + b',"symbol":"X:Y/Z","event_id":"a:b:c"}',  # colons in values are not keys
    b'{"type":"tick","symbol":"A","price":1,"ts":"2023-11-14T22:13:20+01:00","volume":0.0,"source":"unknown"}',
    TRADE + b',"price":null,"symbol":null}',  # explicit nulls are fine
    TRADE + b',"note":{"a":[1,{"b":2}]},"other":"\\"q\\""}',
    TRADE + b' , "symbol" : "BTCUSDT" }',
])
def test_legitimate_frames_that_take_the_careful_path_are_accepted(raw: bytes) -> None:
    assert not isinstance(decode(raw), str), decode(raw)


def test_symbol_pattern_is_anchored_at_the_true_end() -> None:
    assert SYMBOL_PATTERN.endswith("$")  # the schema's; the decoder turns it into \Z
    assert isinstance(decode(TRADE + b',"symbol":"BTCUSDT"}'), Trade)
    assert decode(TRADE + b',"symbol":"BTCUSDT\\n"}') == reasons.BAD_FIELD


def test_a_batch_of_junk_elements_is_judged_element_by_element() -> None:
    """Every element counts once, whatever it is (non-objects skip the parse)."""
    junk = [b"1", b'"s"', b"null", b"[]", b"{}", b'{"type":"trade"}', b" 2", b'{"type":"heartbeat","ts":1700000000}']
    results = decode_batch(b"[" + b",".join(junk * 1000) + b"]")
    assert len(results) == 8000
    expected = [reasons.NOT_OBJECT] * 4 + [reasons.UNKNOWN_TYPE, reasons.MISSING_FIELD, reasons.NOT_OBJECT, "Heartbeat"]
    assert [r if isinstance(r, str) else type(r).__name__ for r in results] == expected * 1000
