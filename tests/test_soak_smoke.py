"""The soak command in CI: 20 seconds instead of 10 minutes (``bench/soak.py``).
Real sidecar process, real publisher, half the measured maximum ingest rate:
nothing lost, the sidecar's RSS within 10 % of its post-warm-up baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_soak_20_seconds_at_half_max_rate_loses_nothing_and_rss_stays_flat(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "soak.py"), "--seconds", "20",
                           "--probe-seconds", "3", "--json", str(out)],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert out.exists(), proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["paced_accepted"] > 0 and result["paced_rate"] > 0
    assert result["loss"] == 0, result
    assert result["messages_lost_delta"] == 0, result
    assert result["rss_drift"] <= 0.10, result  # growth only: a fall is buffers draining, not a leak
    assert proc.returncode == 0 and result["ok"], result
