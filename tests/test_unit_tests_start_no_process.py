"""The package unit tests (metrics-sidecar/tests, trading-app/tests) start no
process: a test that needs a sidecar, the API, Prometheus, Chromium or any other
subprocess lives under tests/ (docs/CONTRIBUTING.md), where the end-to-end fixtures
are. Checked by name, so a new unit test that reaches for a starter fails here
rather than slowing and coupling the unit suite."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UNIT_TEST_DIRS = ("metrics-sidecar/tests", "trading-app/tests")
# The telemetry_testkit starters, and the standard ways to start a process.
STARTERS = re.compile(r"\b(start_sidecar|running_sidecar|start_api|start_ready|start_prometheus|ReadyProcess|"
                      r"require_binary|chromium_page|launched_loop|subprocess|Popen|multiprocessing|os\.exec\w*|"
                      r"os\.spawn\w*|os\.fork)\b")


def starters_named(path: Path) -> list[str]:
    return sorted({m.group(0) for m in STARTERS.finditer(path.read_text())})


def test_package_unit_tests_name_no_process_starter() -> None:
    files = sorted(p for d in UNIT_TEST_DIRS for p in (REPO / d).rglob("*.py"))
    assert len(files) > 10  # the directories are where this test expects them
    found = {str(p.relative_to(REPO)): names for p in files if (names := starters_named(p))}
    assert found == {}


def test_a_starter_is_found(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text("from support.procs import free_port, start_sidecar\nimport subprocess\n")
    assert starters_named(sample) == ["start_sidecar", "subprocess"]
    sample.write_text("from support.procs import free_port, wait_until\n")
    assert starters_named(sample) == []
