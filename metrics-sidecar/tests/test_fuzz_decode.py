"""Fuzzing the decoder: it never raises, always answers with an event or a known
reason, and never accepts what an independent oracle says is hostile.

Two drivers:
- a seeded generator (fast, deterministic): 120,000 inputs, mutated valid
  messages (byte- and structure-level) plus random bytes;
- hypothesis (a few thousand structured examples), also checking parity with the
  pydantic models in ``schema.py``: both accept exactly the same messages, except
  for the documented rules where the decoder is stricter (``STRICTER``), and each
  such difference is justified by its own oracle.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections import Counter
from datetime import UTC, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from metrics_sidecar import reasons
from metrics_sidecar.decode import MAX_DEPTH, Heartbeat, Tick, Trade, decode, decode_batch
from metrics_sidecar.schema import Message
from metrics_sidecar.timestamps import normalize_ts
from telemetry_testkit.fixtures import load_messages

# Reasons only the socket loop or the state give; the decoder never does.
NOT_FROM_DECODER = reasons.NOT_FROM_DECODER
DECODER_REASONS = set(reasons.ALL_REASONS) - NOT_FROM_DECODER
# Where the decoder is stricter than the JSON Schema on purpose (docs/metrics.md).
STRICTER = {reasons.BAD_TIMESTAMP, reasons.NON_FINITE, reasons.DUPLICATE_KEY, reasons.TOO_DEEP}
MESSAGE = TypeAdapter(Message)


# -- the oracle: plain-Python answers to "is this hostile?" ------------------------
class Duplicate(Exception):
    pass


def _pairs_no_dup(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise Duplicate
    return dict(pairs)


def _no_constant(text: str) -> float:
    raise ValueError(text)


def strict_parse(raw: bytes) -> tuple[str, Any]:
    """("ok", value) | ("dup", None) | ("invalid", None) by the stdlib, which is
    independent of msgspec: strict UTF-8, no NaN/Infinity, duplicates detected."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid", None
    try:
        return "ok", json.loads(text, object_pairs_hook=_pairs_no_dup, parse_constant=_no_constant)
    except Duplicate:
        return "dup", None
    except (ValueError, RecursionError):
        return "invalid", None


def depth(value: Any) -> int:
    """Nesting depth without recursion (a scalar is 0, {} or [] is 1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def all_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def check_result(raw: bytes, result: object) -> None:
    """The invariants every decode must satisfy, whatever the input."""
    if isinstance(result, str):
        assert result in DECODER_REASONS, (raw[:200], result)
        if result == reasons.DUPLICATE_KEY:
            assert strict_parse(raw)[0] == "dup", raw[:200]
        return
    assert isinstance(result, (Trade, Tick, Heartbeat)), (raw[:200], result)
    assert math.isfinite(result.ts_s) and result.ts_s >= 0
    verdict, parsed = strict_parse(raw)
    assert verdict == "ok", (raw[:200], verdict)  # valid UTF-8, strict JSON, no duplicate key
    assert isinstance(parsed, dict) and parsed.get("type") == result.kind
    assert depth(parsed) <= MAX_DEPTH and all_finite(parsed), raw[:200]


# -- driver 1: seeded mutation fuzzing ---------------------------------------------
TOKENS = [b"{", b"}", b"[", b"]", b'"', b":", b",", b"\\", b"\xff", b"\xc3", b"\xed\xa0\x80", b"NaN",
          b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"9" * 400, b"null", b"true", b"\\u0000",
          b"\\ud800", b'"type":', b'"qty":', b'"ts":', b" ", b"\n", b"\x00", b"0", b"-", b"."]
VALUES: list[Any] = [None, True, False, 0, -1, 1.5, -0.0, 10**30, 1e308, "", "x", "BTCUSDT", "BTC\n",
                     "2023-11-14T22:13:20Z", "2023-11-14T22:13:20", "1700000000", [], {}, [1, 2], {"a": 1},
                     1700000000, 1700000000123, 1700000000123456789, "buy", "sell", "trade", "tick"]


def _corpus(rng: random.Random) -> list[dict[str, Any]]:
    seeds = [json.loads(raw) for _, raw in load_messages("valid")]
    for i in range(200):
        seeds.append({"type": "trade", "side": rng.choice(["buy", "sell"]), "qty": rng.random() * 10,
                      "ts": 1.7e9 + i, "symbol": rng.choice(["BTCUSDT", "ETH-USD", "X:Y/Z", "a.b"]),
                      "producer": "fuzz", "instance": "i1", "seq": i, "event_id": f"e-{i}", "sent_ts": 1.7e9 + i})
        seeds.append({"type": "tick", "symbol": "SOLUSDT", "price": 1 + rng.random(), "volume": rng.random(),
                      "ts": "2023-11-14T22:13:20.5+01:00" if i % 2 else 1.7e12 + i, "source": "sim"})
    return seeds


def _structural_mutation(rng: random.Random, message: dict[str, Any]) -> bytes:
    pairs = list(message.items())
    op = rng.randrange(7)
    if op == 0 and pairs:  # duplicate a key, with the same or a different value
        key, value = rng.choice(pairs)
        pairs.insert(rng.randrange(len(pairs) + 1), (key, rng.choice([value, *VALUES])))
    elif op == 1 and pairs:  # drop a field
        pairs.pop(rng.randrange(len(pairs)))
    elif op == 2 and pairs:  # a field gets a value of another type
        i = rng.randrange(len(pairs))
        pairs[i] = (pairs[i][0], rng.choice(VALUES))
    elif op == 3:  # an extra field, sometimes deeply nested
        nested: Any = rng.choice(VALUES)
        for _ in range(rng.choice([0, 1, 5, MAX_DEPTH - 1, MAX_DEPTH, 60])):
            nested = [nested] if rng.random() < 0.5 else {"k": nested}
        pairs.append((rng.choice(["extra", "note", "", "ts_x"]), nested))
    elif op == 4:  # a batch frame
        return json.dumps([message, rng.choice(VALUES), message]).encode()
    elif op == 5:  # numbers that overflow or are not JSON at all
        i = rng.randrange(len(pairs)) if pairs else 0
        if pairs:
            pairs[i] = (pairs[i][0], rng.choice([math.inf, -math.inf, math.nan, 1e308 * 10]))
    body = ",".join(f"{json.dumps(k)}{rng.choice([':', ' : '])}{json.dumps(v)}" for k, v in pairs)
    return ("{" + body + "}").encode()


def _byte_mutation(rng: random.Random, raw: bytes) -> bytes:
    for _ in range(rng.randint(1, 3)):
        pos = rng.randrange(len(raw) + 1)
        op = rng.randrange(5)
        if op == 0:
            raw = raw[:pos] + rng.choice(TOKENS) + raw[pos:]
        elif op == 1:
            raw = raw[:pos] + raw[pos + rng.randint(1, 8):]
        elif op == 2 and raw:
            pos = min(pos, len(raw) - 1)
            raw = raw[:pos] + bytes([rng.randrange(256)]) + raw[pos + 1:]
        elif op == 3:
            raw = raw[:pos]
        else:
            raw = raw[:pos] + raw[max(0, pos - 20):pos] + raw[pos:]
    return raw


def generated_inputs(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    corpus = _corpus(rng)
    out: list[bytes] = []
    for i in range(n):
        kind = i % 10
        message = rng.choice(corpus)
        if kind < 4:
            out.append(_structural_mutation(rng, message))
        elif kind < 8:
            out.append(_byte_mutation(rng, json.dumps(message, separators=(",", ":")).encode()))
        elif kind == 8:
            out.append(_byte_mutation(rng, _structural_mutation(rng, message)))
        else:
            out.append(rng.randbytes(rng.choice([0, 1, 2, 8, 64, 300])))
    return out


def test_decoder_survives_120k_generated_inputs() -> None:
    inputs = generated_inputs(120_000, seed=20240607)
    outcomes: Counter[str] = Counter()
    for raw in inputs:
        results = decode_batch(raw) if raw[:1] == b"[" else [decode(raw)]
        assert results, raw[:200]
        if raw[:1] != b"[":
            check_result(raw, results[0])
        else:
            for result in results:
                assert isinstance(result, (Trade, Tick, Heartbeat)) or result in DECODER_REASONS
        for result in results:
            outcomes[result if isinstance(result, str) else "accepted"] += 1
    print("\nfuzz outcomes:", dict(outcomes.most_common()))
    # The generator reaches every decoder reason and plenty of valid messages.
    assert set(outcomes) == DECODER_REASONS | {"accepted"}, set(outcomes) ^ (DECODER_REASONS | {"accepted"})
    assert min(outcomes.values()) >= 100, outcomes
    assert outcomes["accepted"] >= 20_000


# -- driver 2: hypothesis, structured, with pydantic parity --------------------------
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                         st.text(max_size=20))
_json_value = st.recursive(_json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=8)
_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(10**20), max_value=10**20),
                    st.sampled_from([0, 0.0, -0.0, 1e-320, 1e308, 10**400, 1.5]))
_zones = st.sampled_from([None, UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))])
_ts = st.one_of(
    st.floats(min_value=0, max_value=2e9), st.integers(min_value=-10, max_value=10**15), _number,
    st.builds(lambda d, z: d.replace(tzinfo=z).isoformat(), st.datetimes(), _zones),
    st.datetimes().map(lambda d: d.isoformat() + "Z"), st.text(max_size=30))
# Built from the pattern's alphabet rather than st.from_regex (several times faster).
_ALNUM = string.ascii_letters + string.digits
_symbol = st.one_of(st.builds(str.__add__, st.sampled_from(_ALNUM), st.text(_ALNUM + "._:/-", max_size=31)),
                    st.text(max_size=40), st.sampled_from(["BTCUSDT\n", "", "A" * 33, "é", "\x00", "-X", "a b"]))
_short_text = st.one_of(st.text(_ALNUM + "._-", min_size=1, max_size=12), st.text(max_size=12))
_valid_symbol = st.builds(str.__add__, st.sampled_from(_ALNUM), st.text(_ALNUM + "._:/-", max_size=31))
_positive = st.floats(min_value=1e-9, max_value=1e9)
_epoch = st.floats(min_value=0, max_value=2e9)
_iso = st.builds(lambda d, z: d.replace(tzinfo=z).isoformat(), st.datetimes(), _zones.filter(bool))
_name = st.text(_ALNUM + "._-", min_size=1, max_size=12).filter(lambda t: t[0] in _ALNUM)
# Per field: values the schema accepts, and anything else (invalid or valid by chance).
VALID: dict[str, st.SearchStrategy[Any]] = {
    "side": st.sampled_from(["buy", "sell"]), "qty": st.floats(min_value=0, max_value=1e6),
    "price": _positive, "volume": st.floats(min_value=0, max_value=1e6), "bid": _positive, "ask": _positive,
    "ts": st.one_of(_epoch, _iso, st.integers(0, 2 * 10**12)), "sent_ts": _epoch, "symbol": _valid_symbol,
    "source": st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=16),
    "producer": _name, "instance": _name, "seq": st.integers(0, 10**12),
    "event_id": st.text(min_size=1, max_size=128),
}
ANY: dict[str, st.SearchStrategy[Any]] = {
    "side": st.one_of(st.sampled_from(["BUY", "hold", ""]), _json_scalar),
    "qty": _number, "price": _number, "volume": _number, "bid": _number, "ask": _number,
    "ts": _ts, "sent_ts": st.one_of(_number, _ts), "symbol": st.one_of(_symbol, _json_scalar),
    "source": st.one_of(st.text(string.ascii_lowercase + "_-", max_size=17), _short_text),
    "producer": _short_text, "instance": _short_text,
    "seq": st.one_of(st.integers(min_value=-5, max_value=10**25), _json_scalar),
    "event_id": st.one_of(st.text(max_size=130), _json_scalar),
}
# Keys the pydantic models would keep as extras. Not "ts_s"/"recv_ts": the decoder
# structs use those names for what the sidecar fills in (a known, documented gap).
_extra_key = st.text(max_size=8).filter(lambda k: k not in VALID and k not in ("type", "ts_s", "recv_ts"))


# Strategies built once: building them inside the composite costs more than drawing.
_KIND = st.sampled_from(["trade", "tick", "heartbeat"] * 3 + ["order", None])
_NAMES = st.lists(st.sampled_from(sorted(VALID)), max_size=9, unique=True)
_SMALL = st.integers(0, 30)
_DEEP = st.integers(MAX_DEPTH - 2, MAX_DEPTH + 3)
_SEP = st.sampled_from([":", " : "])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    kind = draw(_KIND)
    pairs: list[tuple[str, Any]] = [] if kind is None else [("type", kind)]
    for name in draw(_NAMES):  # mostly valid values; about one field in six gets anything
        pairs.append((name, draw(ANY[name] if draw(_SMALL) % 6 == 0 else VALID[name])))
    complete = draw(_SMALL) % 2 == 0  # then mostly complete messages: acceptance is likely
    if kind == "trade" and complete:
        pairs += [("side", "buy"), ("qty", 1.0), ("ts", 1.7e9)]
    if kind == "tick" and complete:
        pairs += [("symbol", "BTCUSDT"), ("price", 2.5), ("ts", 1.7e9)]
    if kind == "heartbeat" and complete:
        pairs.append(("ts", 1.7e9))
    if draw(_SMALL) % 10 != 0:  # 10 %: repeated keys stay repeated
        pairs = _dedupe_keep_last(pairs)
    for _ in range(draw(_SMALL) % 3):
        pairs.append((draw(_extra_key), draw(_json_value)))
    if draw(_SMALL) % 20 == 0:
        nested: Any = 1
        for _ in range(draw(_DEEP)):
            nested = [nested]
        pairs.append(("deep", nested))
    turn = draw(_SMALL) % (len(pairs) or 1)  # "type" need not come first
    pairs = pairs[turn:] + pairs[:turn]
    sep = draw(_SEP)
    return ("{" + ",".join(f"{json.dumps(k)}{sep}{json.dumps(v)}" for k, v in pairs) + "}").encode()


def _dedupe_keep_last(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return list(dict(pairs).items())


def _loose_parse(raw: bytes) -> Any:
    """What a lenient parser (pydantic's, for extra fields) makes of the bytes:
    duplicates keep the last value, NaN/Infinity allowed, giant integers are inf."""
    return json.loads(raw, parse_int=lambda s: int(s) if len(s) <= 4300 else math.inf)


def _why_stricter(raw: bytes, reason: str, model: Any) -> str | None:
    """None if the decoder had a documented reason to reject what pydantic accepted."""
    verdict, _ = strict_parse(raw)
    loose = _loose_parse(raw)
    if reason == reasons.DUPLICATE_KEY:
        return None if verdict == "dup" else "no duplicate key"
    if reason == reasons.TOO_DEEP:
        return None if depth(loose) > MAX_DEPTH else "not deep"
    if reason == reasons.NON_FINITE:
        return None if not all_finite(loose) else "all finite"
    if reason == reasons.BAD_JSON:  # NaN/Infinity literals: pydantic keeps them in extra fields
        try:
            json.loads(raw, parse_constant=_no_constant)
        except ValueError:
            return None
        return "no NaN/Infinity literal"
    if reason == reasons.BAD_TIMESTAMP:
        return None if normalize_ts(model.ts) is None else "ts normalises"
    return f"{reason} is not a documented decoder-only rule"


@settings(max_examples=2000, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(messages())
def test_decoder_and_pydantic_accept_exactly_the_same_messages(raw: bytes) -> None:
    result = decode(raw)
    check_result(raw, result)
    event(f"decoder: {result if isinstance(result, str) else 'accepted'}")  # --hypothesis-show-statistics
    try:
        model: Any = MESSAGE.validate_json(raw)
    except ValidationError:
        assert isinstance(result, str), f"decoder accepted what pydantic rejects: {raw[:300]!r}"
        return
    if isinstance(result, str):
        problem = _why_stricter(raw, result, model)
        assert problem is None, f"decoder rejected ({result}) what pydantic accepts: {problem}: {raw[:300]!r}"
        return
    # Both accepted: the same message.
    assert model.type == result.kind
    assert result.ts_s == normalize_ts(model.ts)
    for name in ("side", "qty", "symbol", "price", "volume", "source", "producer", "instance", "seq", "event_id"):
        if name in type(model).model_fields:
            assert getattr(result, name) == getattr(model, name), name


def _reject_constant(name: str) -> None:
    raise ValueError(name)  # NaN, Infinity, -Infinity: not JSON (RFC 8259)


def _is_json(frame: bytes) -> bool:
    try:
        json.loads(frame.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


def test_a_batch_element_that_is_too_deep_and_not_json_makes_the_batch_not_json() -> None:
    # Found by hypothesis: alone, the element is too_deep (checked first); in a batch, the
    # frame is not JSON at all, so it cannot be split into elements.
    element = b'{"type":"trade","x":' + b"[" * (MAX_DEPTH + 8) + b"Infinity" + b"]" * (MAX_DEPTH + 8) + b"}"
    assert decode(element) == reasons.TOO_DEEP
    assert decode_batch(b"[" + element + b"]") == [reasons.BAD_JSON]


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.lists(messages(), min_size=1, max_size=5))
def test_a_batch_frame_judges_each_element_like_a_single_frame(frames: list[bytes]) -> None:
    batch = decode_batch(b"[" + b",".join(frames) + b"]")
    singles = [decode(frame) for frame in frames]
    # One element that is not JSON makes the whole frame not JSON. Alone, such an element
    # may be judged too_deep instead (the depth rule outranks every parse problem), so
    # whether it is JSON is asked of the strict reference parser, not of its verdict.
    if reasons.BAD_JSON in singles or not all(_is_json(frame) for frame in frames):
        assert batch == [reasons.BAD_JSON]
        return
    assert [r if isinstance(r, str) else (type(r), r.ts_s) for r in batch] == [
        r if isinstance(r, str) else (type(r), r.ts_s) for r in singles]
