"""The journal's on-disk format: what persistence.py appends after every batch
and replays on start.

A file is a sequence of frames ``MAGIC <u32 length><u32 crc32><body>``; a body
is a msgpack list of records. One frame is written with one ``write()`` per
batch. Records are encoded one by one as they are recorded (``RecordBuffer``),
so a record the journal cannot hold (an integer beyond 64 bits) is refused
before the state changes, never found at write time with the state already
changed.

Reading (``scan``): a frame whose checksum does not hold is damage. The reader
then looks for the next ``MAGIC`` and carries on from the first intact frame
after it, counting the frames it skipped; damage with no intact frame after it
is a torn tail (a write cut short by a crash), dropped. A frame whose checksum
holds but whose body does not decode is not damage the checksum can explain:
``BadFrame``, which start-up reports (``--repair`` skips it).

Files written before the MAGIC existed (format 1: frames without it) are still
read, with the old rule: stop at the first frame that does not hold.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from .decode import Heartbeat, Tick, Trade

MAGIC = b"\xffSJ2"  # 0xff never occurs in UTF-8 text, so no label can spell it
_FRAME = struct.Struct("<4sII")
_LEGACY_FRAME = struct.Struct("<II")


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
_encoder = msgspec.msgpack.Encoder()
_decode = msgspec.msgpack.Decoder(list[Record]).decode


class UnrecordableError(ValueError):
    """A record the journal cannot encode (e.g. an integer of 2**64 or more).
    Raised before the state changes; the ingest loops count the message as
    ``bad_field`` (a value out of the range the sidecar holds)."""


class BadFrame(Exception):
    """A frame whose checksum holds but whose body is not a list of records."""

    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(f"frame at byte {offset} has a valid checksum but an undecodable body ({problem})")
        self.offset = offset


class RecordBuffer:
    """The batch's records, encoded as they arrive into one buffer."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.count = 0

    def add(self, record: Any) -> None:
        size = len(self.buf)
        try:
            _encoder.encode_into(record, self.buf, -1)
        except (OverflowError, msgspec.EncodeError, TypeError, ValueError) as exc:  # ints beyond 64 bits
            del self.buf[size:]
            raise UnrecordableError(f"the journal cannot record {type(record).__name__}: {exc}") from None
        self.count += 1

    def frame(self) -> bytes:
        body = _array_header(self.count) + self.buf
        return _FRAME.pack(MAGIC, len(body), zlib.crc32(body)) + body

    def clear(self) -> None:
        self.buf.clear()
        self.count = 0


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 65_536:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def encode_frame(records: list[Any]) -> bytes:
    buffer = RecordBuffer()
    for record in records:
        buffer.add(record)
    return buffer.frame()


@dataclass
class ScanStats:
    frames: int = 0  # intact frames read
    skipped: int = 0  # damaged frames with intact frames after them
    good_end: int = 0  # end of the last intact frame
    torn_tail: int = 0  # bytes after the last intact frame that are not a frame
    legacy: bool = False


def scan(data: bytes, stats: ScanStats, *, skip_bad_bodies: bool = False) -> Iterator[list[Record]]:
    """Every intact frame's records, in order; ``stats`` is filled in as the
    iterator is consumed. Raises ``BadFrame`` (unless ``skip_bad_bodies``)."""
    if data and not data.startswith(MAGIC) and _is_legacy(data):
        stats.legacy = True
        yield from _scan_legacy(data, stats)
        return
    offset, size = 0, len(data)
    damaged = 0  # frame starts tried and found damaged since the last intact frame
    while offset < size:
        records = _frame_at(data, offset, resyncing=damaged > 0 or skip_bad_bodies)
        if records is not None:
            body_end = offset + _FRAME.size + _FRAME.unpack_from(data, offset)[1]
            stats.skipped += damaged
            damaged = 0
            stats.frames += 1
            stats.good_end = offset = body_end
            yield records
            continue
        damaged += 1
        nxt = data.find(MAGIC, offset + 1)
        if nxt < 0:
            break
        offset = nxt
    stats.torn_tail = size - stats.good_end


def _frame_at(data: bytes, offset: int, resyncing: bool) -> list[Record] | None:
    if offset + _FRAME.size > len(data):
        return None
    magic, length, crc = _FRAME.unpack_from(data, offset)
    start = offset + _FRAME.size
    body = data[start:start + length]
    if magic != MAGIC or len(body) != length or zlib.crc32(body) != crc:
        return None
    try:
        return _decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        if resyncing:
            return None  # looking for the next frame: this was never one
        raise BadFrame(offset, str(exc)) from None


def _is_legacy(data: bytes) -> bool:
    """A format-1 file: its first frame (no MAGIC) holds."""
    if len(data) < _LEGACY_FRAME.size:
        return False
    length, crc = _LEGACY_FRAME.unpack_from(data, 0)
    body = data[_LEGACY_FRAME.size:_LEGACY_FRAME.size + length]
    return len(body) == length and zlib.crc32(body) == crc


def _scan_legacy(data: bytes, stats: ScanStats) -> Iterator[list[Record]]:
    offset = 0
    while offset + _LEGACY_FRAME.size <= len(data):
        length, crc = _LEGACY_FRAME.unpack_from(data, offset)
        body = data[offset + _LEGACY_FRAME.size:offset + _LEGACY_FRAME.size + length]
        if len(body) != length or zlib.crc32(body) != crc:
            break
        try:
            records = _decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise BadFrame(offset, str(exc)) from None
        offset += _LEGACY_FRAME.size + length
        stats.frames += 1
        stats.good_end = offset
        yield records
    stats.torn_tail = len(data) - stats.good_end
