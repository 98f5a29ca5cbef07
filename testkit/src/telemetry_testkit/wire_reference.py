"""The reference decoder: what the wire rules say a frame is, from the pydantic
models in ``schema.py`` and the standard library's JSON parser only. The compiled
core (``metrics_sidecar._core``) must give every frame the same verdict, reason
and normalised values (``metrics-sidecar/tests/test_core_differential.py``).

The order in which problems are reported (the first one decides):
1. not UTF-8 -> bad_json;
2. brackets (outside strings) nested deeper than ``MAX_DEPTH`` -> too_deep;
3. reading the JSON, in reading order: a syntax error, NaN/Infinity, a lone
   surrogate -> bad_json; a float that overflows or an integer longer than 4300
   characters -> non_finite; a key repeated in an object (seen when it closes)
   -> duplicate_key; open brackets past ``PARSE_DEPTH_LIMIT`` -> too_deep;
4. not an object -> not_object; ``type`` missing or unknown -> unknown_type;
5. pydantic's field errors: the one on the key that comes first in the frame
   decides (bad_field; bad_timestamp for a ``ts`` that is not a number or string;
   non_finite for an integer too big for a float); then a missing field ->
   missing_field;
6. ``ts`` that does not normalise (``timestamps.normalize_ts``) -> bad_timestamp.

A batch frame (a JSON array) is read for syntax only (bad_json, too_deep), then
each element that is an object is judged as above; any other element is
not_object, as is an empty or non-array frame.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from metrics_sidecar import reasons
from metrics_sidecar._core import PARSE_DEPTH_LIMIT
from metrics_sidecar.schema import MESSAGE_MODELS
from metrics_sidecar.timestamps import normalize_ts

MAX_DEPTH = 32
_MAX_INT_CHARS = 4300
FIELDS = ("producer", "instance", "seq", "sent_ts", "event_id", "ts", "ts_s", "side", "qty", "symbol", "price",
          "volume", "source", "bid", "ask")

Verdict = str | dict[str, Any]  # a reason, or the normalised fields (with "type")


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


# -- step 2: nesting, on the raw bytes ------------------------------------------------
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_ONE_BRACKET_KIND = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_deeper_than(frame: bytes, limit: int) -> bool:
    """Each pass deletes the innermost ``[]`` pairs; ``limit`` passes empty any
    structure at most ``limit`` deep."""
    brackets = _JSON_STRING.sub(b"", frame).translate(_ONE_BRACKET_KIND, _NOT_BRACKETS)
    for _ in range(limit):
        brackets = brackets.replace(b"[]", b"")
    return b"[]" in brackets


# -- step 3: a private copy of the stdlib's pure-Python JSON reader ---------------------
def _private_module(name: str) -> Any:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_decoder_module = _private_module("json.decoder")
_scanner_module = _private_module("json.scanner")
# ASCII digits only (``\d`` in a str pattern also matches other scripts' digits).
_scanner_module.NUMBER_RE = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?",
                                       re.VERBOSE | re.MULTILINE | re.DOTALL)
_plain_scanstring = _decoder_module.scanstring


def _scanstring(text: str, end: int, strict: bool = True) -> tuple[str, int]:
    value, end = _plain_scanstring(text, end, strict)
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise Rejected(reasons.BAD_JSON)  # a lone surrogate is no character
    return value, end


_decoder_module.scanstring = _scanstring  # keys (JSONObject) and values


class _Reader:
    """One JSON reading; ``strict`` adds the non-finite and duplicate-key checks."""

    def __init__(self, strict: bool) -> None:
        self.depth = 0
        hooks: dict[str, Any] = {"parse_constant": self._constant}
        if strict:
            hooks.update(object_pairs_hook=self._pairs, parse_float=self._float, parse_int=self._int)
        else:  # a batch's array is read for syntax only: a number stays text (an integer
            # past Python's 4300-digit int limit is valid JSON, not bad_json)
            hooks.update(parse_float=str, parse_int=str)
        decoder = _decoder_module.JSONDecoder(**hooks)
        decoder.parse_object = self._counted(decoder.parse_object)
        decoder.parse_array = self._counted(decoder.parse_array)
        decoder.parse_string = _scanstring
        self.decoder = decoder
        self.scan_once = _scanner_module.py_make_scanner(decoder)
        decoder.scan_once = self.scan_once

    def _counted(self, parse: Callable[..., Any]) -> Callable[..., Any]:
        def parse_nested(*args: Any) -> Any:
            self.depth += 1
            if self.depth > PARSE_DEPTH_LIMIT:
                raise Rejected(reasons.TOO_DEEP)
            try:
                return parse(*args)
            finally:
                self.depth -= 1
        return parse_nested

    @staticmethod
    def _constant(text: str) -> None:
        raise Rejected(reasons.BAD_JSON)

    @staticmethod
    def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise Rejected(reasons.DUPLICATE_KEY)
        return dict(pairs)

    @staticmethod
    def _float(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise Rejected(reasons.NON_FINITE)
        return value

    @staticmethod
    def _int(text: str) -> int:
        if len(text) > _MAX_INT_CHARS:
            raise Rejected(reasons.NON_FINITE)
        return int(text)

    def read(self, text: str) -> Any:
        try:
            return self.decoder.decode(text)
        except ValueError as error:  # JSONDecodeError, StopIteration's stand-in
            raise Rejected(reasons.BAD_JSON) from error

    def split_array(self, text: str) -> list[str] | None:
        """The raw text of each element of a top-level array; None if not an array."""
        ws = _decoder_module.WHITESPACE.match
        at = ws(text, 0).end()
        if text[at:at + 1] != "[":
            self.read(text)
            return None
        items: list[str] = []
        self.depth = 1
        at = ws(text, at + 1).end()
        if text[at:at + 1] == "]":
            at += 1
        else:
            while True:
                start = ws(text, at).end()
                try:
                    _, at = self.scan_once(text, start)
                except StopIteration as error:
                    raise Rejected(reasons.BAD_JSON) from error
                except ValueError as error:
                    raise Rejected(reasons.BAD_JSON) from error
                items.append(text[start:at])
                at = ws(text, at).end()
                if text[at:at + 1] == ",":
                    at += 1
                    continue
                if text[at:at + 1] == "]":
                    at += 1
                    break
                raise Rejected(reasons.BAD_JSON)
        if ws(text, at).end() != len(text):
            raise Rejected(reasons.BAD_JSON)
        return items


@contextmanager
def _room_to_recurse() -> Iterator[None]:
    """The pure-Python reader takes a few frames a level: room for PARSE_DEPTH_LIMIT."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 8 * PARSE_DEPTH_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def _utf8(frame: bytes) -> str:
    try:
        return frame.decode()
    except UnicodeDecodeError as error:
        raise Rejected(reasons.BAD_JSON) from error


# -- steps 4-6: the schema -------------------------------------------------------------
def _too_big_for_float(value: Any) -> bool:
    if type(value) is not int:
        return False
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _field_reason(name: str, value: Any) -> str | None:
    """The reason for pydantic's errors on one field, None if it does not count
    here (a number ``ts`` out of range is judged at step 6)."""
    if _too_big_for_float(value) and name != "seq":
        return reasons.NON_FINITE
    if name == "ts":
        if isinstance(value, str) or (type(value) in (int, float)):
            return None
        return reasons.BAD_TIMESTAMP
    return reasons.BAD_FIELD


def _schema(frame: bytes, message: Any) -> Verdict:
    if not isinstance(message, dict):
        return reasons.NOT_OBJECT
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_MODELS:
        return reasons.UNKNOWN_TYPE
    model = MESSAGE_MODELS[kind]
    try:
        validated = model.model_validate_json(frame)
    except ValidationError as error:
        order = {key: i for i, key in enumerate(message)}
        found: list[tuple[int, str]] = []
        missing = False
        for problem in error.errors():
            name = str(problem["loc"][0])
            if problem["type"] == "missing":
                missing = True
                continue
            reason = _field_reason(name, message.get(name))
            if reason is not None:
                found.append((order[name], reason))
        if found:
            return min(found)[1]
        if missing:
            return reasons.MISSING_FIELD
        validated = model.model_construct(**message)  # only a number ts out of range was wrong
    ts = validated.ts  # type: ignore[attr-defined]  # every message model has a ts
    ts_s = normalize_ts(float(ts) if type(ts) is int else ts)
    if ts_s is None:
        return reasons.BAD_TIMESTAMP
    fields = {name: getattr(validated, name, None) for name in FIELDS if name in model.model_fields}
    if type(fields["ts"]) is int:
        fields["ts"] = float(fields["ts"])
    fields.update(type=kind, ts_s=ts_s)
    return fields


def decode(frame: bytes) -> Verdict:
    """One frame holding one JSON object."""
    try:
        text = _utf8(frame)
        if nesting_deeper_than(frame, MAX_DEPTH):
            return reasons.TOO_DEEP
        with _room_to_recurse():
            message = _Reader(strict=True).read(text)
    except Rejected as rejected:
        return rejected.reason
    return _schema(frame, message)


def decode_batch(frame: bytes) -> list[Verdict]:
    """One frame holding a JSON array: each element judged on its own."""
    try:
        with _room_to_recurse():
            items = _Reader(strict=False).split_array(_utf8(frame))
    except Rejected as rejected:
        return [rejected.reason]
    if not items:
        return [reasons.NOT_OBJECT]
    return [decode(item.encode()) if item.startswith("{") else reasons.NOT_OBJECT for item in items]
