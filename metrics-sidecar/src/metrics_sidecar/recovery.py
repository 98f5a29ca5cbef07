"""Start-up from ``SIDECAR_STATE_DIR``: load the snapshot, replay the journals
(the core's records through ``StateCore.replay``, one call per record chunk, at
the recorded apply times; format-2 event records through ``state.apply``, with
the journaled clock), and decide what damage allows.

- Damaged journal frames (checksum wrong) are skipped and counted
  (``sidecar_journal_frames_skipped_total``); every intact frame after them is
  replayed. Damage at the very end is a torn tail (a crash mid-write), dropped.
- A damaged snapshot, a journal frame whose checksum holds but whose body does
  not decode, or a snapshot missing while journals that build on it exist:
  ``StateDirError`` naming the file, and the sidecar does not start (starting
  would show wrong or partial counts, which Prometheus reads as a reset).
- ``--repair`` (``repair=True``): the same, except that it keeps what is
  intact and goes on: a damaged snapshot is moved aside and the journals are
  replayed without it, undecodable frames are skipped.
- Files with damage are moved to ``damaged-<UTC time>/`` in the state dir, never
  deleted: after the fresh snapshot holds everything intact in them.
- Formats (journal.py): a file without a ``FormatRec`` is format 2 (or 1),
  replayed, logged and counted (``Recovered.old_format_files``). A file of a
  newer format than this sidecar reads, or a core record chunk of a newer layout,
  is ``StateDirError`` (``--repair``: skipped and moved aside). Core records in an
  intact frame that cannot be replayed (a torn last record, an unknown one) are
  skipped, logged and counted (``records_unreadable``), the file moved aside.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import snapshot
from .journal import (
    CORE_RECORDS_VERSION,
    FORMAT_VERSION,
    BadFrame,
    BatchesRec,
    CoreRec,
    CursorRec,
    DuplicatesRec,
    EventRec,
    FormatRec,
    Record,
    RejectRec,
    ScanStats,
    scan,
)

if TYPE_CHECKING:
    from .persistence import DurableState

log = logging.getLogger("metrics_sidecar.recovery")

REPAIR_ADVICE = (
    "To start from what is intact, stop every sidecar using this directory and run "
    "'metrics-sidecar --repair' with the same SIDECAR_STATE_DIR: it keeps every intact record, moves the "
    "damaged files to <state dir>/damaged-<time>/ and writes a fresh snapshot (counts restart from what "
    "was intact). Or restore the directory from a backup. See docs/delivery.md, 'Damaged state directory'.")
IO_ADVICE = "Fix the directory (free space, permissions, mount) and start again."


class StateDirError(Exception):
    """The state dir cannot be used as it is; ``str()`` names the file, the
    problem and the recovery."""

    def __init__(self, path: Path, problem: str, advice: str = REPAIR_ADVICE) -> None:
        super().__init__(f"{path}: {problem}. {advice}")
        self.path = path


@dataclass
class Recovered:
    replayed: int = 0
    generation: int = 0
    frames_skipped: int = 0
    torn_tail_bytes: int = 0
    records_unreadable: int = 0  # core records (in intact frames) that could not be replayed
    old_format_files: int = 0  # journals written in format 2 or 1 (replayed)
    partial: bool = False  # (repair) started without the snapshot the journals built on
    damaged: list[Path] = field(default_factory=list)  # files to move aside
    moved_to: str = ""


def journal_files(directory: Path) -> list[tuple[int, Path]]:
    out = []
    for p in directory.glob("journal-*"):
        try:
            out.append((int(p.name.split("-", 1)[1]), p))
        except ValueError:
            continue
    return sorted(out)


def restore(durable: DurableState, *, repair: bool) -> Recovered:
    try:
        return _restore(durable, repair)
    except StateDirError:
        raise
    except OSError as exc:
        raise StateDirError(Path(exc.filename or durable.dir), f"cannot read ({exc.strerror or exc})",
                            IO_ADVICE) from None


def _restore(durable: DurableState, repair: bool) -> Recovered:
    state = durable.state
    result = Recovered()
    path = durable.dir / "snapshot"
    journals = journal_files(durable.dir)
    image: snapshot.StateImage | None = None
    if path.exists():
        try:
            image = snapshot.decode(path.read_bytes())
        except snapshot.SnapshotError as exc:
            if not repair:
                raise StateDirError(path, str(exc)) from None
            log.error("%s: %s; moved aside, the journals are replayed without it", path, exc)
            result.damaged.append(path)
            result.partial = True
    elif journals:
        if not repair:
            raise StateDirError(path, f"missing, but {journals[-1][1].name} builds on it: starting would show "
                                      "only part of the counts")
        log.error("%s is missing: the journals are replayed without it (counts are partial)", path)
        result.partial = True
    if image is not None:
        try:
            snapshot.restore(state, image)
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:  # unloadable here
            raise StateDirError(path, f"cannot be loaded ({exc!r})") from None
        durable.generation = image.generation
        for producer, instance, seq in image.cursors:
            durable.cursors[producer, instance] = seq
    now = [0.0]
    state.clock = lambda: now[0]
    # Analytics (positions, bars, windows) are not in the snapshot: replaying only
    # the journal's tail into them would give half a position. They start empty.
    analytics, state.analytics = state.analytics, None
    try:
        for gen, jpath in journals:
            if gen >= durable.generation:
                result.replayed += _replay(durable, jpath, now, result, repair)
    finally:
        state.clock = time.time
        state.analytics = analytics
    result.generation = max([durable.generation, *(g for g, _ in journals)]) + 1
    return result


class _NewerFormat(Exception):
    pass


def _replay(durable: DurableState, path: Path, now: list[float], result: Recovered, repair: bool) -> int:
    data = path.read_bytes()
    stats = ScanStats()
    replay = _Replay(durable, now)
    try:
        for records in scan(data, stats, skip_bad_bodies=repair):
            replay.frame(records)
    except BadFrame as exc:
        raise StateDirError(path, str(exc)) from None
    except _NewerFormat as exc:
        if not repair:
            raise StateDirError(path, f"{exc}: written by a newer sidecar",
                                "Start the sidecar version that wrote it, or run 'metrics-sidecar --repair' "
                                "to start without it (docs/delivery.md, 'Damaged state directory').") from None
        log.error("journal %s: %s; skipped and moved aside", path.name, exc)
        result.damaged.append(path)
        return replay.count
    except (KeyError, ValueError, TypeError, AttributeError) as exc:  # a record this version cannot apply
        raise StateDirError(path, f"a record cannot be replayed ({exc!r})") from None
    if data and not replay.format_seen:
        log.warning("journal %s is in format %d (written by an older sidecar): replayed", path.name,
                    1 if stats.legacy else 2)
        result.old_format_files += 1
    if replay.unreadable:
        log.error("journal %s: %d core record(s) could not be replayed (%d bytes of torn records): skipped, "
                  "every other record was replayed", path.name, replay.unreadable, replay.torn_bytes)
        result.records_unreadable += replay.unreadable
        result.damaged.append(path)
    if stats.skipped:
        log.error("journal %s: skipped %d damaged frame(s); every intact frame after them was replayed",
                  path.name, stats.skipped)
        result.frames_skipped += stats.skipped
        if path not in result.damaged:
            result.damaged.append(path)
    if stats.torn_tail:
        # A write cut short by a crash (nothing in it was acked), or damage at the end.
        log.warning("journal %s: dropped %d bytes after the last intact frame (a torn tail)",
                    path.name, stats.torn_tail)
        result.torn_tail_bytes += stats.torn_tail
    return replay.count


class _Replay:
    """One journal file's records, applied in order."""

    def __init__(self, durable: DurableState, now: list[float]) -> None:
        self.durable = durable
        self.now = now
        self.count = 0
        self.unreadable = 0  # core records that could not be read (torn ones included)
        self.torn_bytes = 0  # bytes of torn core records
        self.format_seen = False

    def frame(self, records: list[Record]) -> None:
        durable = self.durable
        state = durable.state
        now = self.now
        for rec in records:
            if type(rec) is CoreRec:
                if rec.version != CORE_RECORDS_VERSION:
                    raise _NewerFormat(f"core records of layout {rec.version} (this sidecar reads "
                                       f"{CORE_RECORDS_VERSION})")
                replayed, unreadable, torn = state.core.replay(rec.records)
                self.count += replayed
                self.unreadable += unreadable + (torn > 0)
                self.torn_bytes += torn
                continue
            if type(rec) is EventRec:
                now[0] = rec.applied
                state.apply(rec.event)
            elif type(rec) is RejectRec:
                state.reject(rec.reason)
            elif type(rec) is DuplicatesRec:
                state.duplicates += rec.count
            elif type(rec) is CursorRec:
                durable.cursors[rec.producer, rec.instance] = rec.seq
                durable.cursors.move_to_end((rec.producer, rec.instance))
            elif type(rec) is BatchesRec:
                state.batches = rec.batches
            elif type(rec) is FormatRec:
                if rec.version > FORMAT_VERSION:
                    raise _NewerFormat(f"format {rec.version} (this sidecar reads up to {FORMAT_VERSION})")
                self.format_seen = True
                continue
            self.count += 1


def commit(durable: DurableState, result: Recovered) -> None:
    """After a successful restore: damaged snapshot aside, fresh snapshot, then
    damaged journals aside and the rest deleted. A crash anywhere in between
    leaves a directory the next start reads the same way."""
    from .read_model import snapshot_image

    def start_generation() -> tuple[int, list[snapshot.Cursor]]:
        durable.use_journal(result.generation, durable.open_journal(result.generation))
        return durable.generation, durable.cursor_list()

    try:
        aside = durable.dir / time.strftime("damaged-%Y%m%dT%H%M%SZ", time.gmtime())
        snap = durable.dir / "snapshot"
        if snap in result.damaged:
            _move_aside(snap, aside)
        durable.write_snapshot(snapshot.encode(snapshot_image(durable.state, start_generation)))
        for path in result.damaged:
            if path != snap:  # (the snapshot went aside first; the one there now is the fresh one)
                _move_aside(path, aside)
        if result.damaged:
            result.moved_to = str(aside)
            log.error("damaged files moved to %s (their intact records are in the new snapshot)", aside)
        delete_journals_before(durable.dir, durable.generation)
    except OSError as exc:
        raise StateDirError(Path(exc.filename or durable.dir), f"cannot write ({exc.strerror or exc})",
                            IO_ADVICE) from None


def _move_aside(path: Path, aside: Path) -> None:
    aside.mkdir(mode=0o700, exist_ok=True)
    os.replace(path, aside / path.name)


def delete_journals_before(directory: Path, generation: int) -> None:
    for gen, path in journal_files(directory):
        if gen < generation:
            path.unlink(missing_ok=True)
