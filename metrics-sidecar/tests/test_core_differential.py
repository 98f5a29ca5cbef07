"""The compiled core against the reference (``testkit/src/telemetry_testkit/wire_reference.py``:
the pydantic models of ``schema.py`` and the standard library's JSON reader).
Every input must get the same verdict, the same reason and the same normalised
values: hypothesis-generated messages and their byte mutations, every fixture in
``testdata/messages/``, the hostile cases, and the decoder fuzz corpus
(``metrics-sidecar/core/fuzz/corpus-min``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metrics_sidecar import reasons
from metrics_sidecar._core import Decoder
from metrics_sidecar.decode import decode, decode_batch
from metrics_sidecar.events import Tick
from metrics_sidecar.timestamps import normalize_ts
from telemetry_testkit import wire_reference as reference
from telemetry_testkit.fixtures import load_messages

CORPUS = Path(__file__).resolve().parents[1] / "core" / "fuzz" / "corpus-min"


def core_verdict(result: Any) -> reference.Verdict:
    if isinstance(result, str):
        return result
    return {"type": result.kind, **{name: getattr(result, name) for name in reference.FIELDS if hasattr(result, name)}}


def same(left: reference.Verdict, right: reference.Verdict) -> bool:
    """Equal, with floats compared exactly (repr: -0.0 is not 0.0)."""
    if isinstance(left, str) or isinstance(right, str):
        return left == right
    def exact(value: Any) -> Any:
        return repr(value) if isinstance(value, float) else value
    return {k: exact(v) for k, v in left.items()} == {k: exact(v) for k, v in right.items()}


def check(frame: bytes) -> None:
    core, expected = core_verdict(decode(frame)), reference.decode(frame)
    assert same(core, expected), f"core {core!r} != reference {expected!r} for {frame[:300]!r}"
    core_batch = [core_verdict(r) for r in decode_batch(frame)]
    expected_batch = reference.decode_batch(frame)
    assert len(core_batch) == len(expected_batch) and all(map(same, core_batch, expected_batch)), (
        f"batch: core {core_batch!r} != reference {expected_batch!r} for {frame[:300]!r}")


# -- generated messages ------------------------------------------------------------------
_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
_json = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=6)
_number = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**20), 10**20),
                    st.sampled_from([0, -0.0, 1e-320, 1e12, 1e12 + 1, 1e15, 1e15 * 1.01, 1e11, 99999999999.99,
                                     2**63 - 1, 2**63, 2**64, 10**30, 10**400]))
_symbol_chars = "ABCXYZabc019._:/-"
_label = st.one_of(st.text(_symbol_chars, min_size=0, max_size=34), st.text(max_size=6),
                   st.sampled_from(["BTCUSDT\n", "é", "-X", "sim", "a b", "A" * 32, "A" * 33]))
_ts = st.one_of(st.floats(min_value=-1, max_value=2e14), st.integers(-5, 2 * 10**14), _number,
                st.datetimes().map(lambda d: d.isoformat() + "Z"),
                st.datetimes().map(lambda d: d.isoformat() + "+01:00"), st.datetimes().map(lambda d: d.isoformat()),
                st.text(max_size=12), st.sampled_from(["2023-11-14T22:13:20Z", "0001-01-01T00:00:00Z", True, None, []]))
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "side": st.sampled_from(["buy", "sell", "BUY", "", None, 1]),
    "qty": _number, "price": _number, "volume": _number, "bid": _number, "ask": _number,
    "sent_ts": st.one_of(_number, _ts), "ts": _ts,
    "seq": st.one_of(st.integers(-3, 2**65), st.sampled_from([1.0, 1.5, "1", True, None, 10**25])),
    "symbol": _label, "source": _label, "producer": _label, "instance": _label,
    "event_id": st.one_of(st.text(max_size=6), st.text(min_size=127, max_size=130), st.none(), st.integers()),
    "type": st.sampled_from(["trade", "tick", "heartbeat", "order", "Trade", 1, None]),
}
_KIND = st.sampled_from(["trade", "tick", "heartbeat"])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A message that is often valid: a kind's required fields, then others, some
    of any value, maybe an extra or repeated key, in any order."""
    kind = draw(_KIND)
    required = {"trade": {"side": "buy", "qty": 1.5, "ts": 1.7e9},
                "tick": {"symbol": "BTC", "price": 2.5, "ts": 1.7e12},
                "heartbeat": {"ts": "2023-11-14T22:13:20+01:00"}}[kind]
    pairs: list[tuple[str, Any]] = [("type", kind), *required.items()]  # type: ignore[attr-defined]
    for name in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=6)):
        pairs.append((name, draw(FIELD_VALUES[name])))
    if draw(st.integers(0, 9)) > 0:
        pairs = list(dict(pairs).items())  # mostly no repeated key (the last value stays)
    if draw(st.integers(0, 3)) == 0:
        pairs.append((draw(st.text(max_size=6)), draw(_json)))
    if draw(st.integers(0, 9)) == 0:
        pairs.pop(draw(st.integers(0, len(pairs) - 1)))
    order = draw(st.permutations(range(len(pairs))))
    return ("{" + ",".join(f"{json.dumps(pairs[i][0])}:{json.dumps(pairs[i][1])}" for i in order) + "}").encode()


_TOKENS = [b"{", b"}", b"[", b"]", b'"', b":", b",", b"\\", b"\xff", b"NaN", b"-Infinity", b"1e400", b"9" * 400,
           b"9" * 4301, b"\\ud800", b"\\u0041", b'"type":', b'"ts":', b'"qty":1,', b" ", b"\x00", b"-0", b"[" * 40,
           b"]" * 40]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    frame = draw(messages())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(frame)))
        op = draw(st.integers(0, 3))
        if op == 0:
            frame = frame[:at] + draw(st.sampled_from(_TOKENS)) + frame[at:]
        elif op == 1:
            frame = frame[:at] + frame[at + draw(st.integers(1, 8)):]
        elif op == 2:
            frame = frame[:at]
        else:
            frame = frame[:at] + bytes([draw(st.integers(0, 255))]) + frame[at + 1:]
    return frame


_SETTINGS = settings(max_examples=1500, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@_SETTINGS
@given(messages())
def test_generated_messages(frame: bytes) -> None:
    check(frame)


@_SETTINGS
@given(mutated())
def test_mutated_messages(frame: bytes) -> None:
    check(frame)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(messages(), mutated(), st.sampled_from([b"1", b"[]", b"{}", b"null", b" 2 "])), max_size=5))
def test_batch_frames(frames: list[bytes]) -> None:
    check(b"[" + b",".join(frames) + b"]")


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=64))
def test_random_bytes(frame: bytes) -> None:
    check(frame)


# -- fixtures, hostile cases, the fuzz corpus ----------------------------------------------
@pytest.mark.parametrize(("name", "raw"), load_messages("valid") + load_messages("invalid"))
def test_every_fixture(name: str, raw: bytes) -> None:
    check(raw)
    check(b"[" + raw + b"]")


HOSTILE = [
    b"", b"{}", b"[]", b"[1,2", b"123 x", b"\xef\xbb\xbf{}", b'{"type":"heartbeat","ts":1}\n',
    b"[" * 2000, b'{"a":' + b"[" * (reference.PARSE_DEPTH_LIMIT - 1), b'{"a":' + b"[" * reference.PARSE_DEPTH_LIMIT,
    b'{"type":"heartbeat","ts":1,"x":' + b"[" * 40 + b"1" + b"]" * 40 + b"}",
    b'{"type":"heartbeat","ts":1,"x":"' + b"[" * 40 + b'"}',
    b'{"type":"heartbeat","ts":1,"\\ud800":1}', b'{"type":"heartbeat","ts":1,"x":"\\udc00\\ud800"}',
    b'{"type":"heartbeat","ts":"\\ud83d\\ude00"}', b'{"type":"heartbeat","ts":1,"x":' + b"9" * 400 + b"}",
    b'{"type":"heartbeat","ts":1,"seq":' + b"9" * 400 + b"}", b'{"type":"heartbeat","ts":1,"seq":-0}',
    b'{"type":"trade","side":"buy","qty":-0,"ts":1}', b'{"type":"trade","side":"buy","qty":-0.0,"ts":1}',
    b'{"type":"heartbeat","ts":1,"ts_s":"x","recv_ts":null}', b'{"type":"heartbeat","ts":"\\u0031"}',
    b'{"type":"heartbeat","ts":1,"a":{"b":1,"b":2},"c":1e400}', b'{"type":"heartbeat","ts":1,"c":1e400,"c":1}',
    b'{"type":"tick","symbol":"A","price":1,"ts":1,"symbol":"B"}', b'{"type":"heartbeat","ts":1,"x":\xd9\xa3}',
    # A batch is read in one pass (core/src/json.rs split_array): an element's strict problem stays its own,
    # a syntax or depth problem anywhere, even after a strict one in the same element, is the frame's.
    b'[{"type":"heartbeat","ts":1,"a":1e999,"b":[}]', b'[{"a":1,"a":2,"b":[1,}, {"type":"heartbeat","ts":1}]',
    b'[{"a":1,"a":2},{"type":"heartbeat","ts":1,"x":1e999},{"type":"heartbeat","ts":2}, 7, [1e999]]',
    b'[{"type":"heartbeat","ts":1,"c":1e999,"x":' + b"[" * 40 + b"1" + b"]" * 40 + b'},{"type":"heartbeat","ts":3}]',
    b'[{"type":"heartbeat","ts":1},{"c":1e999,"x":' + b"[" * 1200 + b"]" * 1200 + b"}]",
    # An integer past Python's 4300-digit limit is valid JSON: as a batch element it is not_object
    # (hypothesis found the reference calling it bad_json).
    b"[" + b"1" * 5000 + b',{"type":"heartbeat","ts":1}]', b'{"type":"heartbeat","ts":1,"x":' + b"1" * 5000 + b"}",
]


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_frames(raw: bytes) -> None:
    check(raw)


def test_the_fuzz_corpus() -> None:
    files = sorted(CORPUS.iterdir()) if CORPUS.is_dir() else []
    assert len(files) >= 100, f"expected the committed fuzz corpus in {CORPUS}"
    for path in files:
        check(path.read_bytes())


# -- the boundary ----------------------------------------------------------------------------
def _decoder(normalize: Any) -> Decoder:
    from metrics_sidecar import decode as module
    from metrics_sidecar.schema import (
        EVENT_ID_MAX_LEN,
        INSTANCE_PATTERN,
        PRODUCER_PATTERN,
        SOURCE_PATTERN,
        SYMBOL_PATTERN,
    )
    return Decoder(trade=module.Trade, tick=module.Tick, heartbeat=module.Heartbeat, normalize_ts=normalize,
                   max_depth=32, symbol_pattern=SYMBOL_PATTERN, producer_pattern=PRODUCER_PATTERN,
                   instance_pattern=INSTANCE_PATTERN, source_pattern=SOURCE_PATTERN,
                   event_id_max_len=EVENT_ID_MAX_LEN, ts_seconds_below=1e11, ts_millis_below=1e14)


def test_a_failure_inside_the_core_costs_one_element_as_internal_error() -> None:
    def broken(text: str) -> float | None:
        raise RuntimeError("a bug")
    decoder = _decoder(broken)
    assert decoder.decode(b'{"type":"heartbeat","ts":"2023-11-14T22:13:20Z"}') == reasons.INTERNAL_ERROR
    batch = decoder.decode_batch(b'[{"type":"heartbeat","ts":"2023-11-14T22:13:20Z"},{"type":"heartbeat","ts":5}]')
    assert batch[0] == reasons.INTERNAL_ERROR and batch[1].ts_s == 5.0


def test_a_pattern_the_core_cannot_express_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="only"):
        Decoder(trade=dict, tick=dict, heartbeat=dict, normalize_ts=normalize_ts, max_depth=32,
                symbol_pattern=r"^(BTC|ETH)$", producer_pattern="^[a]$", instance_pattern="^[a]$",
                source_pattern="^[a]$", event_id_max_len=1, ts_seconds_below=1e11, ts_millis_below=1e14)


def test_values_are_exact() -> None:
    event = decode(b'{"type":"tick","symbol":"A","price":0.1,"volume":3,"ts":1700000000123,"seq":9007199254740993}')
    assert isinstance(event, Tick)
    assert (event.price, event.volume, event.ts, event.ts_s, event.seq) == (0.1, 3.0, 1700000000123.0,
                                                                          1700000000.123, 9007199254740993)
    assert math.copysign(1.0, decode(b'{"type":"trade","side":"buy","qty":-0.0,"ts":1}').qty) == -1.0  # type: ignore[union-attr]
