"""Durable sidecar state (``SIDECAR_STATE_DIR``): a snapshot plus a journal, so
counters continue across a restart, ``kill -9`` included, instead of resetting.

- ``TelemetryState`` calls ``event()``/``reject()`` for everything it is asked
  to apply; the records wait in memory while the batch holds ``state.lock``.
- ``state.lock`` is replaced by a ``FlushingLock``: releasing it first writes
  the batch's records to ``journal-<gen>`` (one ``write()``). So nothing a scrape
  can see is missing from the file: a counter never goes backwards across a
  crash. A ``write()`` that returned survives ``kill -9`` (the page cache belongs
  to the kernel); ``sync()`` adds an fsync (``SIDECAR_STATE_FSYNC``, before
  reliable acks) so acked effects survive power loss too.
- Every ``SIDECAR_SNAPSHOT_INTERVAL_SECONDS`` (or ``SIDECAR_JOURNAL_MAX_BYTES``)
  the state is written to ``snapshot`` (temp file, fsync, rename) and a new
  journal generation starts; older journals are deleted.
- Start: load the snapshot, replay every journal of its generation or later
  through ``state.apply`` (with the journaled clock), drop a torn tail, write a
  fresh snapshot. Replay reproduces dedup, loss and latency exactly.

The journal's format is in journal.py.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from . import snapshot
from .decode import Heartbeat, Tick, Trade
from .journal import BatchesRec, CursorRec, DuplicatesRec, EventRec, RejectRec, encode_frame, read_frames
from .settings import Settings
from .state import TelemetryState

log = logging.getLogger("metrics_sidecar.persistence")

MAX_CURSORS = 65_536  # reliable streams remembered (an instance per publisher restart)


class FlushingLock:
    """Drop-in for ``state.lock``: its release writes the holder's journal records
    first, so state is never visible before it is on its way to disk."""

    def __init__(self, durable: DurableState) -> None:
        self._lock = threading.Lock()
        self._durable = durable

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        try:
            self._durable.flush_locked()
        finally:
            self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


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
        self.write_errors = 0
        self._last_snapshot = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- hooks called by TelemetryState / the reliable loop (state.lock held) ----------
    def event(self, event: Trade | Tick | Heartbeat) -> None:
        self._applied = time.time()
        self._records.append(EventRec(event, self._applied))

    def _journaled_clock(self) -> float:
        """``state.clock`` while attached: apply() reads the very time the journal
        recorded for this event, so a replay reproduces every latency exactly."""
        return self._applied

    def reject(self, reason: str) -> None:
        self._records.append(RejectRec(reason))

    def duplicates(self, count: int) -> None:
        self.state.duplicates += count
        self._records.append(DuplicatesRec(count))

    def advance(self, producer: str, instance: str, seq: int) -> None:
        """The reliable channel processed this stream up to ``seq``."""
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
        """Write pending records as one frame. On an I/O error the file is cut back
        to the last whole frame and the records stay queued for the next flush."""
        if self.state.batches != self._journaled_batches:
            self._records.append(BatchesRec(self.state.batches))
            self._journaled_batches = self.state.batches
        if not self._records:
            return
        if self._fd < 0:
            return  # closed: nothing may be applied after close(); kept, never acked
        frame = encode_frame(self._records)
        with self._file_lock:
            try:
                view = memoryview(frame)
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError:
                self.write_errors += 1
                log.exception("journal write failed; will retry (acks withheld)")
                try:  # a half-written frame would hide every later frame from replay
                    os.ftruncate(self._fd, self._journal_bytes)
                except OSError:
                    log.exception("cannot cut the journal back to its last whole frame")
                return
            self._journal_bytes += len(frame)
        self._records.clear()

    def sync(self) -> None:
        if self.settings.state_fsync:
            with self._file_lock:
                os.fsync(self._fd)

    # -- start: recover, then attach ----------------------------------------------
    def recover(self) -> dict[str, int]:
        """Restore snapshot + journals into ``state`` (call before any loop starts)."""
        state = self.state
        replayed = 0
        path = self.dir / "snapshot"
        if path.exists():
            image = snapshot.decode(path.read_bytes())
            snapshot.restore(state, image)
            self.generation = image.generation
            for producer, instance, seq in image.cursors:
                self.cursors[producer, instance] = seq
        journals = sorted(self._journals())
        now = [0.0]
        state.clock = lambda: now[0]
        # Analytics (positions, bars, windows) are not in the snapshot: replaying only
        # the journal's tail into them would give half a position. They start empty.
        analytics, state.analytics = state.analytics, None
        try:
            for gen, jpath in journals:
                if gen >= self.generation:
                    replayed += self._replay(jpath, now)
        finally:
            state.clock = time.time
            state.analytics = analytics
        self.generation = max([self.generation, *(g for g, _ in journals)]) + 1
        self._journaled_batches = state.batches
        self._write_snapshot(snapshot.encode(snapshot.capture(state, self.generation, self._cursor_list())))
        self._open_journal()
        self._delete_journals_before(self.generation)
        state.journal = self
        state.clock = self._journaled_clock
        state.lock = FlushingLock(self)  # type: ignore[assignment]  # same protocol as threading.Lock
        log.info("state restored: %d journal records replayed (generation %d)", replayed, self.generation)
        return {"replayed": replayed, "generation": self.generation}

    def _replay(self, path: Path, now: list[float]) -> int:
        state = self.state
        data = path.read_bytes()
        frames, good_end = read_frames(data)
        count = 0
        for records in frames:
            for rec in records:
                if type(rec) is EventRec:
                    now[0] = rec.applied
                    state.apply(rec.event)
                elif type(rec) is RejectRec:
                    state.reject(rec.reason)
                elif type(rec) is DuplicatesRec:
                    state.duplicates += rec.count
                elif type(rec) is CursorRec:
                    self.cursors[rec.producer, rec.instance] = rec.seq
                    self.cursors.move_to_end((rec.producer, rec.instance))
                elif type(rec) is BatchesRec:
                    state.batches = rec.batches
                count += 1
        if good_end[0] < len(data):
            # A torn tail: a write cut short by a crash. Nothing in it was acked.
            log.warning("journal %s: dropped %d bytes of a torn tail", path.name, len(data) - good_end[0])
        return count

    def _journals(self) -> list[tuple[int, Path]]:
        out = []
        for p in self.dir.glob("journal-*"):
            try:
                out.append((int(p.name.split("-", 1)[1]), p))
            except ValueError:
                continue
        return out

    def _cursor_list(self) -> list[snapshot.Cursor]:
        return [(p, i, s) for (p, i), s in self.cursors.items()]

    def _open_journal(self) -> None:
        path = self.dir / f"journal-{self.generation}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._journal_bytes = os.fstat(self._fd).st_size

    def _write_snapshot(self, data: bytes) -> None:
        tmp = self.dir / "snapshot.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / "snapshot")
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive power loss
        finally:
            os.close(dir_fd)

    def _delete_journals_before(self, generation: int) -> None:
        for gen, path in self._journals():
            if gen < generation:
                path.unlink(missing_ok=True)

    # -- compaction -----------------------------------------------------------------
    def snapshot_now(self) -> None:
        """Image the state and start a new journal generation. The image is taken
        under the lock at the exact point the journals switch, so a crash at any
        moment leaves either (old snapshot + both journals) or the new snapshot."""
        state = self.state
        with state.lock:
            self.flush_locked()
            self.generation += 1
            data = snapshot.encode(snapshot.capture(state, self.generation, self._cursor_list()))
            with self._file_lock:
                os.fsync(self._fd)
                os.close(self._fd)
                self._open_journal()
        self._write_snapshot(data)
        self._delete_journals_before(self.generation)
        self._last_snapshot = time.monotonic()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="state-snapshots", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = self.settings.snapshot_interval_seconds
        while not self._stop.wait(min(1.0, interval)):
            due = time.monotonic() - self._last_snapshot >= interval
            if due or self._journal_bytes >= self.settings.journal_max_bytes:
                try:
                    self.snapshot_now()
                except OSError:
                    log.exception("snapshot failed; the journal keeps growing until one succeeds")

    def close(self) -> None:
        """A final snapshot so the next start replays nothing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.snapshot_now()
        except OSError:
            log.exception("final snapshot failed; the journal will be replayed on the next start")
        with self._file_lock:
            os.close(self._fd)
            self._fd = -1
        self._dir_lock.close()
