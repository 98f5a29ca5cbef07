"""Durable sidecar state (``SIDECAR_STATE_DIR``): a snapshot plus a journal, so
counters continue across a restart, ``kill -9`` included, instead of resetting.

- The batch ingest (the core, ``StateCore.ingest``) hands over the binary records
  of everything it applied and rejected in one ``core_records()`` call per core
  call: no Python object or call per event (journal.py, format 3).
  ``TelemetryState.apply``/``reject`` (one event at a time) call ``event()``/
  ``reject()`` (an event whose seq the journal cannot hold is refused before the
  state changes). The records wait in memory while the batch holds ``state.lock``.
- ``state.lock`` is replaced by a ``FlushingLock``: releasing it first writes
  the batch's records to ``journal-<gen>`` (one ``write()``). So nothing a scrape
  can see is missing from the file: a counter never goes backwards across a
  crash. A ``write()`` that returned survives ``kill -9`` (the page cache belongs
  to the kernel); ``sync()`` adds an fsync (``SIDECAR_STATE_FSYNC``, before
  reliable acks) so acked effects survive power loss too.
- A write that fails (disk full, I/O error) is retried, the lock still held,
  until it succeeds: applying pauses (the loops wait, messages queue in
  ZeroMQ), scrapes wait, ``/health`` answers 503 with the reason. Releasing
  the lock first would show numbers the journal does not have, and a
  ``kill -9`` would then make them go backwards. SIGTERM during such a stall
  exits at once with status 1: the journal already holds everything shown.
- Every ``SIDECAR_SNAPSHOT_INTERVAL_SECONDS`` (or ``SIDECAR_JOURNAL_MAX_BYTES``)
  the state is written to ``snapshot`` (temp file, fsync, rename) and a new
  journal generation starts; older journals are deleted. The image is copied
  through the read model (``read_model.snapshot_image``, one hold of the lock).
- Start: recovery.py (snapshot, journal replay, damage handling, ``--repair``).

The journal's format is in journal.py, the snapshot's in snapshot.py.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import read_model, recovery, snapshot
from .decode import Heartbeat, Tick, Trade
from .flushing_lock import FlushingLock
from .journal import (
    CORE_RECORDS_VERSION,
    FORMAT_VERSION,
    BatchesRec,
    CoreRec,
    CursorRec,
    DuplicatesRec,
    EventRec,
    FormatRec,
    RejectRec,
    UnrecordableError,
    check_recordable,
    encode_frame,
    encode_frame_skipping,
)
from .settings import Settings
from .state import TelemetryState

log = logging.getLogger("metrics_sidecar.persistence")

MAX_CURSORS = 65_536  # reliable streams remembered (an instance per publisher restart)
_RETRY_MAX_SECONDS = 0.5  # longest wait between two attempts at a failing journal write


class DurableState:
    def __init__(self, settings: Settings, state: TelemetryState) -> None:
        self.settings = settings
        self.state = state
        self.dir = Path(settings.state_dir)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Two sidecars sharing one directory would interleave journals: refuse.
        self._dir_lock = open(self.dir / "LOCK", "a")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(self._dir_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._dir_lock.close()
            raise RuntimeError(f"state directory {self.dir} is in use by another sidecar") from None
        self.cursors: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.generation = 0
        self._records: list[Any] = []
        self._applied = 0.0
        self._journaled_batches = 0
        self._fd = -1
        self._journal_bytes = 0
        self._file_lock = threading.Lock()  # fd rotation vs fsync from the reliable loop
        # What /health and /metrics/ report (read without the state lock).
        self.write_errors = 0  # failed write()/fsync() attempts
        self.stalls = 0  # times applying paused because the journal could not be written
        self.stalled = False
        self.last_error = ""
        self.frames_skipped = 0  # damaged journal frames skipped by this start's recovery
        self.torn_tail_bytes = 0  # bytes after the last intact frame (a write cut short), dropped at start
        self.records_unreadable = 0  # core records this start could not replay (recovery.py)
        self.unrecordable = 0  # records left out of the journal because they could not be encoded (a bug)
        self._exit_requested = threading.Event()
        # main.py points this at uvicorn's should_exit: uvicorn holds SIGTERM until its
        # requests end, and a scrape waiting for a stalled write never would.
        self.exit_check: Callable[[], bool] = lambda: False
        self._last_snapshot = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- hooks called by TelemetryState / the reliable loop (state.lock held) ----------
    def event(self, event: Trade | Tick | Heartbeat) -> None:
        """Raises ``journal.UnrecordableError`` (before the state changes) for an
        event the journal cannot hold."""
        check_recordable(event.seq)
        self._applied = time.time()
        self._records.append(EventRec(event, self._applied))

    def _journaled_clock(self) -> float:
        """``state.clock`` while attached: apply() reads the very time the journal
        recorded for this event, so a replay reproduces every latency exactly."""
        return self._applied

    def reject(self, reason: str) -> None:
        self._records.append(RejectRec(reason))

    def core_records(self, records: bytes) -> None:
        """The batch ingest's records (the core calls this once per call, never per event)."""
        self._records.append(CoreRec(CORE_RECORDS_VERSION, records))

    def duplicates(self, count: int) -> None:
        self.state.duplicates += count
        self._records.append(DuplicatesRec(count))

    def advance(self, producer: str, instance: str, seq: int) -> None:
        """The reliable channel processed this stream up to ``seq``."""
        check_recordable(seq)  # raises before the cursor moves
        key = (producer, instance)
        self.cursors[key] = seq
        self.cursors.move_to_end(key)
        if len(self.cursors) > MAX_CURSORS:
            self.cursors.popitem(last=False)
        self._records.append(CursorRec(producer, instance, seq))

    @property
    def clean(self) -> bool:
        """Everything recorded so far reached the journal file (safe to ack)."""
        return not self._records

    def flush_locked(self) -> None:
        """Write pending records as one frame; never raises. A failed write is
        cut back to the last whole frame and retried, the lock still held,
        until it succeeds (see the module docstring)."""
        if self.state.batches != self._journaled_batches:
            self._records.append(BatchesRec(self.state.batches))
            self._journaled_batches = self.state.batches
        if not self._records or self._fd < 0:
            return  # nothing to write, or closed (nothing may be applied after close())
        if self._journal_bytes == 0:  # a new file: its first frame says its format
            self._records.insert(0, FormatRec(FORMAT_VERSION))
        try:
            frame = encode_frame(self._records)
        except UnrecordableError:  # not reachable from the wire (check_recordable): a bug, never a dead loop
            frame, dropped = encode_frame_skipping(self._records)
            self.unrecordable += dropped
            log.error("%d journal record(s) could not be encoded and were left out", dropped)
        delay = 0.01
        while not self._write_frame(frame):
            if self._exit_requested.is_set() or self.exit_check():
                log.error("exiting during a journal stall: %d bytes of records were never written, and never "
                          "shown; the journal holds everything /metrics/ showed", len(frame))
                logging.shutdown()
                os._exit(1)
            self._exit_requested.wait(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)
        if self.stalled:
            self.stalled = False
            log.warning("journal writes work again; applying resumes")
        self._records.clear()

    def _write_frame(self, frame: bytes) -> bool:
        with self._file_lock:
            try:
                view = memoryview(frame)
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError as exc:
                self._write_failed(exc)
                try:  # a half-written frame would hide nothing (frames resync) but wastes space
                    os.ftruncate(self._fd, self._journal_bytes)
                except OSError:
                    pass
                return False
            self._journal_bytes += len(frame)
            return True

    def _write_failed(self, exc: OSError) -> None:
        self.write_errors += 1
        self.last_error = f"{exc.strerror or exc} ({self.dir})"
        if not self.stalled:
            self.stalled = True
            self.stalls += 1
            log.error("journal write failed (%s): applying pauses and the write is retried until it works",
                      self.last_error)

    def sync(self) -> bool:
        """fsync the journal (``SIDECAR_STATE_FSYNC``); False if that failed (no ack then)."""
        if not self.settings.state_fsync:
            return True
        with self._file_lock:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self.write_errors += 1
                self.last_error = f"fsync: {exc.strerror or exc} ({self.dir})"
                log.error("journal fsync failed (%s): acks withheld", self.last_error)
                return False
        return True

    def request_exit(self) -> None:
        """SIGTERM/SIGINT: a stalled write gives up by exiting (status 1) instead of waiting."""
        self._exit_requested.set()

    # -- start ----------------------------------------------------------------------
    def recover(self, *, repair: bool = False) -> recovery.Recovered:
        """Restore snapshot + journals into ``state`` (call before any loop starts);
        raises ``recovery.StateDirError`` for a state dir it cannot trust."""
        result = recovery.restore(self, repair=repair)
        self.frames_skipped = result.frames_skipped
        self.torn_tail_bytes = result.torn_tail_bytes
        self.records_unreadable = result.records_unreadable
        self._journaled_batches = self.state.batches
        recovery.commit(self, result)  # the fresh snapshot, then the old files go
        self.state.journal = self
        self.state.clock = self._journaled_clock
        self.state.lock = FlushingLock(self)  # type: ignore[assignment]  # same protocol as threading.Lock
        log.info("state restored: %d journal records replayed (generation %d)", result.replayed, self.generation)
        return result

    def cursor_list(self) -> list[snapshot.Cursor]:
        return [(p, i, s) for (p, i), s in self.cursors.items()]

    def open_journal(self, generation: int) -> int:
        return os.open(self.dir / f"journal-{generation}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def use_journal(self, generation: int, fd: int) -> None:
        self.generation = generation
        self._fd = fd
        self._journal_bytes = os.fstat(fd).st_size

    def write_snapshot(self, data: bytes) -> None:
        tmp = self.dir / "snapshot.tmp"
        try:
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            tmp.unlink(missing_ok=True)  # a partial temp file only takes space
            raise
        os.replace(tmp, self.dir / "snapshot")
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive power loss
        finally:
            os.close(dir_fd)

    # -- compaction -----------------------------------------------------------------
    def snapshot_now(self) -> None:
        """Image the state and start a new journal generation. The image is copied
        through the read model in the same hold of the lock as the switch of
        journals (``_next_generation``), so a crash at any moment leaves either (old
        snapshot + both journals) or the new snapshot. A failure to open the new
        journal (OSError) leaves the current one in use."""
        image = read_model.snapshot_image(self.state, self._next_generation)
        self.write_snapshot(snapshot.encode(image))
        recovery.delete_journals_before(self.dir, self.generation)

    def _next_generation(self) -> tuple[int, list[snapshot.Cursor]]:
        """(``state.lock`` held, by ``read_model.snapshot_image``) Write what is
        pending, switch to the next journal generation; that generation and the
        reliable cursors, which the image goes with."""
        self.flush_locked()
        generation = self.generation + 1
        fd = self.open_journal(generation)
        with self._file_lock:
            old = self._fd
            self.use_journal(generation, fd)
        try:
            os.fsync(old)
        except OSError as exc:  # the environment, not a bug: no traceback
            log.error("fsync of journal-%d failed (%s); it stays until a snapshot holds its records",
                      generation - 1, exc)
        finally:
            os.close(old)
        return generation, self.cursor_list()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="state-snapshots", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = self.settings.snapshot_interval_seconds
        while not self._stop.wait(min(1.0, interval)):
            due = time.monotonic() - self._last_snapshot >= interval
            if due or self._journal_bytes >= self.settings.journal_max_bytes:
                self._last_snapshot = time.monotonic()  # a failed attempt waits an interval too
                try:
                    self.snapshot_now()
                except OSError as exc:
                    log.error("snapshot failed (%s); retried after the interval, the journals stay until then", exc)

    def close(self) -> None:
        """A final snapshot so the next start replays nothing."""
        self._stop.set()
        self._exit_requested.set()  # a stall now would never end: exit instead (the journal is whole)
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.snapshot_now()
        except OSError as exc:
            log.error("final snapshot failed (%s); the journal will be replayed on the next start", exc)
        with self._file_lock:
            os.close(self._fd)
            self._fd = -1
        self._dir_lock.close()
