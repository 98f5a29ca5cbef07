"""The journal's on-disk format: what persistence.py appends after every batch
and replays on start.

A file is a sequence of frames ``MAGIC <u32 length><u32 crc32><body>``; a body
is a msgpack list of records. One frame is written with one ``write()`` per
batch. The only values the format cannot hold are integers beyond 64 bits; the
one integer an event carries from the wire, ``seq``, is checked when the event
is recorded (``check_recordable``), before the state changes. Should a batch
still fail to encode, ``encode_frame_skipping`` writes every record that does.

Reading (``scan``): a frame whose checksum does not hold is damage. The reader
then looks for the next ``MAGIC`` and carries on from the first intact frame
after it, counting the frames it skipped; damage with no intact frame after it
is a torn tail (a write cut short by a crash), dropped. A frame whose checksum
holds but whose body does not decode is not damage the checksum can explain:
``BadFrame``, which start-up reports (``--repair`` skips it).

Files written before the MAGIC existed (format 1: frames without it) are still
read, with the old rule: stop at the first frame that does not hold.

Format 3 (``FORMAT_VERSION``) keeps format 2's frames and adds two records: the
first frame of every journal file starts with ``FormatRec(3)``, and the batch
ingest's events and rejections travel as ``CoreRec``: one per core call, its
``records`` the compact binary records the core wrote (``core/src/journal.rs``,
layout version ``CORE_RECORDS_VERSION``), so journaling costs no Python object or
call per event. Replay hands each ``CoreRec`` back to the core in one call
(``StateCore.replay``). A file without ``FormatRec`` was written in format 2 (its
events are ``EventRec``s): it is replayed, and the start-up log says so.
``EventRec`` stays for ``TelemetryState.apply`` (one event at a time, tests and
tools): it is still Python per event.
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


class CoreRec(msgspec.Struct, array_like=True, tag=5):
    """What one batch-ingest call applied and rejected, as the core's binary records
    (``core/src/journal.rs``, layout ``version``); replayed by ``StateCore.replay``."""

    version: int
    records: bytes


class FormatRec(msgspec.Struct, array_like=True, tag=6):
    """The first record of a journal file (format 3 on): the file's format."""

    version: int


FORMAT_VERSION = 3  # FormatRec.version this sidecar writes; it reads 1 to 3
CORE_RECORDS_VERSION = 1  # CoreRec.version this sidecar writes and reads (journal.rs VERSION)

Record = EventRec | RejectRec | DuplicatesRec | CursorRec | BatchesRec | CoreRec | FormatRec
_encoder = msgspec.msgpack.Encoder()
_decode = msgspec.msgpack.Decoder(list[Record]).decode


MAX_RECORDABLE_INT = 2**64 - 1  # msgpack's largest integer


class UnrecordableError(ValueError):
    """A record the journal cannot encode (e.g. an integer of 2**64 or more).
    Raised before the state changes; the ingest loops count the message as
    ``bad_field`` (a value out of the range the sidecar holds)."""


def check_recordable(seq: int | None) -> None:
    """Raise ``UnrecordableError`` for a seq no journal field holds."""
    if seq is not None and not 0 <= seq <= MAX_RECORDABLE_INT:
        raise UnrecordableError(f"seq {seq} is beyond what the journal holds (0..2**64-1)")


class BadFrame(Exception):
    """A frame whose checksum holds but whose body is not a list of records."""

    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(f"frame at byte {offset} has a valid checksum but an undecodable body ({problem})")
        self.offset = offset


def encode_frame(records: list[Any]) -> bytes:
    """One frame; ``UnrecordableError`` if a record cannot be encoded."""
    try:
        body = _encoder.encode(records)
    except (OverflowError, msgspec.EncodeError, TypeError, ValueError) as exc:  # ints beyond 64 bits
        raise UnrecordableError(f"the journal cannot record a batch: {exc}") from None
    return _FRAME.pack(MAGIC, len(body), zlib.crc32(body)) + body


def encode_frame_skipping(records: list[Any]) -> tuple[bytes, int]:
    """(the frame of every record that encodes, how many did not): the slow path
    after ``encode_frame`` failed, so that one bad record never blocks the rest."""
    parts = []
    for record in records:
        try:
            parts.append(_encoder.encode(record))
        except (OverflowError, msgspec.EncodeError, TypeError, ValueError):
            continue
    body = _array_header(len(parts)) + b"".join(parts)
    return _FRAME.pack(MAGIC, len(body), zlib.crc32(body)) + body, len(records) - len(parts)


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 65_536:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


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
