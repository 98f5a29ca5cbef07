"""Issue 18 wire bounds: every number on the wire fits what every layer can hold
(seq in an int64, qty/volume <= 1e15, price/bid/ask <= 1e12, timestamps below
1e11 seconds). Each bound is exact: the edge value is accepted, the next one is
rejected as ``bad_field`` (``bad_timestamp`` for ``ts``), by the hot-path decoder
and by the pydantic schema alike."""

from __future__ import annotations

import msgspec
import pytest
from pydantic import TypeAdapter, ValidationError

from metrics_sidecar import reasons
from metrics_sidecar.decode import decode, decode_batch
from metrics_sidecar.reliable import Header
from metrics_sidecar.schema import PRICE_MAX, QTY_MAX, SEQ_MAX, TS_SECONDS_BELOW, Message

MESSAGE = TypeAdapter(Message)
TRADE = '{"type":"trade","side":"buy","qty":%s,"ts":1700000000%s}'
TICK = '{"type":"tick","symbol":"BTC","price":%s,"ts":1700000000%s}'
HEARTBEAT = '{"type":"heartbeat","ts":%s%s}'

# (name, frame at the bound: accepted, frame just past it: rejected, reason)
EDGES: list[tuple[str, str, str, str]] = [
    ("seq", HEARTBEAT % (1700000000, f',"seq":{SEQ_MAX}'), HEARTBEAT % (1700000000, f',"seq":{SEQ_MAX + 1}'),
     reasons.BAD_FIELD),
    ("seq_2_64", HEARTBEAT % (1700000000, ',"seq":0'), HEARTBEAT % (1700000000, f',"seq":{2**64}'),
     reasons.BAD_FIELD),
    ("qty", TRADE % ("1e15", ""), TRADE % ("1.0000000000000002e15", ""), reasons.BAD_FIELD),
    ("qty_1e308", TRADE % ("0", ""), TRADE % ("1e308", ""), reasons.BAD_FIELD),
    ("trade_price", TRADE % (1, ',"price":1e12'), TRADE % (1, ',"price":1.0000000000000002e12'), reasons.BAD_FIELD),
    ("tick_price", TICK % ("1e12", ""), TICK % ("1e13", ""), reasons.BAD_FIELD),
    ("tick_volume", TICK % (1, ',"volume":1e15'), TICK % (1, ',"volume":1e16'), reasons.BAD_FIELD),
    ("tick_bid", TICK % (1, ',"bid":1e12'), TICK % (1, ',"bid":1e300'), reasons.BAD_FIELD),
    ("tick_ask", TICK % (1, ',"ask":1e12'), TICK % (1, ',"ask":1e300'), reasons.BAD_FIELD),
    ("sent_ts", TRADE % (1, ',"sent_ts":99999999999.99998'), TRADE % (1, ',"sent_ts":1e11'), reasons.BAD_FIELD),
    ("sent_ts_1e308", TRADE % (1, ',"sent_ts":0'), TRADE % (1, ',"sent_ts":1e308'), reasons.BAD_FIELD),
    ("ts_millis", HEARTBEAT % ("99999999999999.98", ""), HEARTBEAT % ("1e14", ""), reasons.BAD_TIMESTAMP),
]


@pytest.mark.parametrize(("name", "inside", "outside", "reason"), EDGES, ids=[e[0] for e in EDGES])
def test_each_bound_is_exact_in_the_decoder(name: str, inside: str, outside: str, reason: str) -> None:
    assert not isinstance(decode(inside.encode()), str), decode(inside.encode())
    assert decode(outside.encode()) == reason


@pytest.mark.parametrize(("name", "inside", "outside", "reason"), EDGES, ids=[e[0] for e in EDGES])
def test_the_schema_draws_the_same_line(name: str, inside: str, outside: str, reason: str) -> None:
    MESSAGE.validate_json(inside)
    with pytest.raises(ValidationError):
        MESSAGE.validate_json(outside)


@pytest.mark.parametrize(("name", "inside", "outside", "reason"), EDGES, ids=[e[0] for e in EDGES])
def test_an_out_of_range_element_costs_only_itself_in_a_batch(name: str, inside: str, outside: str,
                                                              reason: str) -> None:
    results = decode_batch(f"[{inside},{outside},{inside}]".encode())
    assert results[1] == reason
    assert not isinstance(results[0], str) and not isinstance(results[2], str)


def test_every_accepted_timestamp_is_below_1e11_seconds() -> None:
    for ts in ("99999999999.99998", "99999999999999.98", '"5138-11-16T09:46:39Z"'):
        event = decode((HEARTBEAT % (ts, "")).encode())
        assert not isinstance(event, str) and event.ts_s < TS_SECONDS_BELOW
    assert QTY_MAX == 1e15 and PRICE_MAX == 1e12 and SEQ_MAX == 2**63 - 1


@pytest.mark.parametrize("header", [
    {"producer": "p", "instance": "i", "seq": 1, "acked": 2**64},
    {"producer": "p", "instance": "i", "seq": 1, "acked": SEQ_MAX + 1},
    {"producer": "p", "instance": "i", "seq": SEQ_MAX + 1},
    {"producer": "p", "instance": "i", "seq": 2**64, "acked": 0},
])
def test_a_reliable_header_beyond_int64_is_refused(header: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(header), type=Header)


def test_a_reliable_header_at_the_bound_is_read() -> None:
    raw = msgspec.json.encode({"producer": "p", "instance": "i", "seq": SEQ_MAX, "acked": SEQ_MAX})
    assert msgspec.json.decode(raw, type=Header).acked == SEQ_MAX
