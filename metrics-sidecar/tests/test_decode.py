"""Table-driven decode tests over the shared fixture messages."""

from __future__ import annotations

import pytest

from metrics_sidecar import reasons
from metrics_sidecar.decode import Heartbeat, Tick, Trade, decode, decode_batch
from telemetry_testkit.fixtures import load_messages

VALID = load_messages("valid")
INVALID = load_messages("invalid")


def test_fixtures_cover_every_reason_the_decoder_can_give() -> None:
    decoder_reasons = set(reasons.ALL_REASONS) - reasons.NOT_FROM_DECODER
    assert {name.split("__")[0] for name, _ in INVALID} == decoder_reasons


@pytest.mark.parametrize(("name", "raw"), VALID, ids=[n for n, _ in VALID])
def test_valid_fixture_decodes(name: str, raw: bytes) -> None:
    result = decode(raw)
    assert not isinstance(result, str), f"{name} rejected as {result}"
    assert isinstance(result, (Trade, Tick, Heartbeat))
    assert 1.6e9 < result.ts_s < 1.8e9


@pytest.mark.parametrize(("name", "raw"), INVALID, ids=[n for n, _ in INVALID])
def test_invalid_fixture_gives_its_reason(name: str, raw: bytes) -> None:
    assert decode(raw) == name.split("__")[0]


def test_seed_message_exactly_as_written() -> None:
    event = decode(b'{"type":"trade","side":"buy","qty":1.5,"ts":1700000000.25}')
    assert isinstance(event, Trade)
    assert (event.side, event.qty, event.ts_s, event.symbol) == ("buy", 1.5, 1700000000.25, None)


@pytest.mark.parametrize(("ts", "expected"), [
    (1700000000, 1700000000.0),
    (1700000000.5, 1700000000.5),
    (1700000000123, 1700000000.123),
    ('"2023-11-14T22:13:20Z"', 1700000000.0),
    ('"2023-11-14T22:13:20.250+00:00"', 1700000000.25),
    ('"2023-11-14T23:13:20+01:00"', 1700000000.0),
])
def test_timestamp_forms_normalise_to_epoch_seconds(ts: object, expected: float) -> None:
    event = decode(b'{"type":"heartbeat","ts":%s}' % str(ts).encode())
    assert isinstance(event, Heartbeat)
    assert event.ts_s == pytest.approx(expected, abs=1e-6)


def test_batch_frame_judges_each_element_alone() -> None:
    results = decode_batch(b'[{"type":"trade","side":"buy","qty":1,"ts":1700000000},'
                           b'{"type":"trade","side":"buy","qty":-1,"ts":1700000000},'
                           b'7,'
                           b'{"type":"tick","symbol":"X","price":2,"ts":1700000000}]')
    assert [r if isinstance(r, str) else type(r).__name__ for r in results] == [
        "Trade", reasons.BAD_FIELD, reasons.NOT_OBJECT, "Tick"]


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[", b"[]", b"{}", b"null", b"1e999", b'{"type":null}'])
def test_decode_never_raises(raw: bytes) -> None:
    result = decode_batch(raw) if raw[:1] == b"[" else [decode(raw)]
    assert all(isinstance(r, str) for r in result)
