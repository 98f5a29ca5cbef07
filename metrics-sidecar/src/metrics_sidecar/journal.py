"""The journal's on-disk format: what persistence.py appends after every batch
and replays on start.

A file is a sequence of frames ``<u32 length><u32 crc32><body>``; a body is a
msgpack list of records. One frame is written with one ``write()`` per batch.
A crash can only cut the last frame short (a torn tail); ``read_frames`` stops
at the first frame whose length or checksum does not hold, and reports where
the good part ends.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import msgspec

from .decode import Heartbeat, Tick, Trade

_FRAME = struct.Struct("<II")


class EventRec(msgspec.Struct, array_like=True, tag=0):
    """``state.apply(event)`` at time ``applied`` (replay uses it as the clock)."""

    event: Trade | Tick | Heartbeat
    applied: float


class RejectRec(msgspec.Struct, array_like=True, tag=1):
    """``state.reject(reason)``."""

    reason: str


class DuplicatesRec(msgspec.Struct, array_like=True, tag=2):
    """Resends the reliable channel dropped (``messages_duplicate_total``)."""

    count: int


class CursorRec(msgspec.Struct, array_like=True, tag=3):
    """The reliable channel processed (producer, instance) up to ``seq``."""

    producer: str
    instance: str
    seq: int


class BatchesRec(msgspec.Struct, array_like=True, tag=4):
    """``sidecar_ingest_batches_total`` (a counter too: it must not go back)."""

    batches: int


Record = EventRec | RejectRec | DuplicatesRec | CursorRec | BatchesRec
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[Record]).decode


def encode_frame(records: list[Any]) -> bytes:
    body = _encode(records)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def read_frames(data: bytes) -> tuple[Iterator[list[Record]], list[int]]:
    """(frames' records, [end of the last whole frame]); the offset list is
    filled in as the iterator is consumed."""
    end = [0]

    def frames() -> Iterator[list[Record]]:
        offset = 0
        while offset + _FRAME.size <= len(data):
            length, crc = _FRAME.unpack_from(data, offset)
            body = data[offset + _FRAME.size: offset + _FRAME.size + length]
            if len(body) != length or zlib.crc32(body) != crc:
                return
            yield _decode(body)
            offset += _FRAME.size + length
            end[0] = offset

    return frames(), end
