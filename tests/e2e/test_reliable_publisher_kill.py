"""Lossless mode, publisher side: ``kill -9`` the publishing process mid-stream
and start it again on the same outbox; every message it accepted (``publish()``
returned) is counted exactly once."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from telemetry_testkit.procs import wait_until
from telemetry_testkit.reliable import RestartableSidecar, total

CHILD = Path(__file__).with_name("reliable_publisher_child.py")
FIRST = 30_000  # accepted before the kill
SECOND = 10_000  # accepted by the restarted process


def _outbox_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


def test_kill9_publisher_mid_stream_every_accepted_message_counted_once(tmp_path: Path) -> None:
    sidecar = RestartableSidecar(tmp_path)
    sidecar.start()
    outbox = tmp_path / "outbox" / "child.sqlite"
    first: subprocess.Popen[bytes] | None = None
    try:
        first = subprocess.Popen([sys.executable, str(CHILD), sidecar.reliable, str(outbox), str(FIRST + 5_000),
                                  "--kill-after", str(FIRST)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Freeze the sidecar once delivery is under way, so that at the kill some
        # messages are counted, some are on the wire (sent, never acked) and the
        # rest exist only in the outbox.
        wait_until(lambda: total(sidecar.metrics(), "trades_total") >= 2_000, 30, message="delivery under way")
        assert sidecar.service is not None
        sidecar.service.popen.send_signal(signal.SIGSTOP)
        try:
            assert first.wait(60) == -9, first.stderr.read() if first.stderr else ""
        finally:
            sidecar.service.popen.send_signal(signal.SIGCONT)
        left = _outbox_rows(outbox)
        assert 0 < left <= FIRST

        second = subprocess.run([sys.executable, str(CHILD), sidecar.reliable, str(outbox), str(SECOND)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        report = json.loads(second.stdout)
        assert report["accepted"] == SECOND and report["unacked_after_close"] == 0
        metrics = wait_until(lambda: (m := sidecar.metrics()) and total(m, "trades_total") >= FIRST + SECOND and m,
                             30, message="every accepted message counted")
    finally:
        sidecar.kill9()
        if first is not None and first.poll() is None:
            first.kill()

    assert total(metrics, "trades_total") == FIRST + SECOND  # exactly once: none lost, none twice
    assert metrics['messages_received_total{type="trade"}'] == FIRST + SECOND
    assert metrics['messages_lost_total{producer="child"}'] == 0
    assert metrics["messages_duplicate_total"] > 0  # what was on the wire at the kill was resent, counted once
    assert _outbox_rows(outbox) == 0  # everything acked, the earlier run's stream included
    with sqlite3.connect(outbox) as db:
        assert db.execute("SELECT COUNT(*) FROM streams").fetchone()[0] == 1  # only the live stream remains
