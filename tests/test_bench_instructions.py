"""``bench/analytics_instructions.py`` runs its loop in a child process under
callgrind; CI has no valgrind, so this runs the child alone and checks that it
drains every event through the real ingest loop and the analytics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from telemetry_testkit.procs import REPO


@pytest.mark.parametrize(("ticks", "analytics"), [(False, "on"), (True, "on"), (True, "off"), (True, "setup")])
def test_child_loop_applies_every_event(ticks: bool, analytics: str) -> None:
    args = [sys.executable, str(REPO / "bench" / "analytics_instructions.py"), "--child", "--events", "1000",
            "--symbols", "7", "--analytics", analytics] + (["--ticks"] if ticks else [])
    run = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    if analytics == "setup":  # frames built and queued, no loop: nothing to report
        assert run.stdout.strip() == ""
        return
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["received"] == {"trade": 500 if ticks else 1000, "tick": 500 if ticks else 0, "heartbeat": 0}
    assert (out["positions"], out["series"]) == ((7, 7 if ticks else 0) if analytics == "on" else (0, 0))
