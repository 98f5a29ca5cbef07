"""The durable outbox of the reliable publisher: SQLite in WAL mode.

``append()`` is the only thing ``publish()`` waits for: one INSERT, its own
transaction. With ``synchronous=NORMAL`` (the default) a commit is a write()
to the WAL file, not an fsync: the message survives a crash or ``kill -9`` of
the publisher (the kernel owns the page cache), but an OS crash or power loss
can lose the last commits since the WAL was last synced (at checkpoints).
``synchronous=FULL`` fsyncs every commit: it survives power loss too, at
~5x the cost per publish (docs/delivery.md has the numbers).

Rows are ``(stream, seq, payload)``. A stream is one (endpoint, producer,
instance): every publisher start opens new streams, and rows of earlier streams
are resent as they are, byte for byte, so a resend is the same (producer,
instance, seq) and the sidecar can deduplicate it. Rows are deleted once acked.

Two connections. The writer does every write (INSERT from ``publish()``,
DELETE of acked rows from the sender) under ``write_lock``: SQLite has one
writer at a time, and a second connection waiting on it would sleep in SQLite's
busy handler (1, 2, 5, 10 ms...) inside ``publish()``. The sender's own
connection only reads and checkpoints (PASSIVE, which never blocks the writer),
so checkpoint fsyncs never run inside ``publish()``.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, endpoint TEXT NOT NULL,"
    " producer TEXT NOT NULL, instance TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS messages (stream INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " payload BLOB NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID",
)


class OutboxInUse(RuntimeError):
    """Another process has this outbox open: two senders would interleave resends."""


@dataclass(frozen=True, slots=True)
class StreamRow:
    id: int
    endpoint: str
    producer: str
    instance: str
    first_seq: int  # 0 when the stream has no rows
    last_seq: int


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # the sender checkpoints, never publish()
    return conn


class Outbox:
    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous
        self._lockfile: IO[str] = open(self.path.with_name(self.path.name + ".lock"), "a")  # noqa: SIM115
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lockfile.close()
            raise OutboxInUse(f"outbox {self.path} is in use by another process") from None
        self.write_lock = threading.Lock()  # the writer connection; publish() holds it around its seq too
        self._db = _connect(self.path, synchronous)
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._insert = "INSERT INTO messages (stream, seq, payload) VALUES (?, ?, ?)"

    def new_stream(self, endpoint: str, producer: str, instance: str) -> int:
        cur = self._db.execute("INSERT INTO streams (endpoint, producer, instance, created) VALUES (?, ?, ?, ?)",
                               (endpoint, producer, instance, time.time()))
        return int(cur.lastrowid or 0)

    def append(self, stream: int, seq: int, payload: bytes) -> None:
        """The hot path: one committed INSERT (hold ``write_lock``). Raises sqlite3.Error."""
        self._db.execute(self._insert, (stream, seq, payload))

    def delete_through(self, stream: int, seq: int) -> int:
        with self.write_lock:
            return self._db.execute("DELETE FROM messages WHERE stream = ? AND seq <= ?", (stream, seq)).rowcount

    def drop_stream(self, stream: int) -> None:
        with self.write_lock:
            self._db.execute("DELETE FROM messages WHERE stream = ?", (stream,))
            self._db.execute("DELETE FROM streams WHERE id = ?", (stream,))

    def connect_sender(self) -> SenderView:
        return SenderView(_connect(self.path, self.synchronous))

    def close(self) -> None:
        self._db.close()
        self._lockfile.close()


class SenderView:
    """The sender thread's connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def streams(self) -> list[StreamRow]:
        rows = self._db.execute(
            "SELECT s.id, s.endpoint, s.producer, s.instance, COALESCE(MIN(m.seq), 0), COALESCE(MAX(m.seq), 0)"
            " FROM streams s LEFT JOIN messages m ON m.stream = s.id GROUP BY s.id ORDER BY s.id").fetchall()
        return [StreamRow(*row) for row in rows]

    def read(self, stream: int, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        return self._db.execute(
            "SELECT seq, payload FROM messages WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
            (stream, after_seq, limit)).fetchall()

    def pending(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    def checkpoint(self) -> None:
        # PASSIVE: copy what it can without waiting for the writer; the WAL is
        # reused from the start once a checkpoint completes.
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self._db.close()
