"""``bench/journal_instructions.py`` runs its loop in a child process under
callgrind; CI has no valgrind, so this runs the child alone and checks that each
variant drains every event through the real ingest loop: the journal written,
the stalled stream clients holding every trade."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from telemetry_testkit.procs import REPO


@pytest.mark.parametrize("variant", ["off", "journal", "stream", "setup"])
def test_child_loop_applies_every_event(variant: str) -> None:
    args = [sys.executable, str(REPO / "bench" / "journal_instructions.py"), "--child", "--events", "1000",
            "--variant", variant]
    run = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    if variant == "setup":  # frames built and queued, no loop: nothing to report
        assert run.stdout.strip() == ""
        return
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["received"] == {"trade": 1000, "tick": 0, "heartbeat": 0}
    assert out["pending"] == ([1000] * 3 if variant == "stream" else [])  # trades never conflate
    assert (out["journal_bytes"] > 0) == (variant == "journal")
