"""Helpers for tests that drive the UI in Debian's Chromium (Playwright, never
``playwright install``) against the loop started by ``scripts/launch.py`` — the
README's run command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support.procs import REPO, require_binary

ARTIFACTS = REPO / "test-artifacts"  # git-ignored: every step's screenshot
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def launched_loop(run_dir: Path, *args: str, repo: Path = REPO, env: dict[str, str] | None = None,
                  timeout: float = 120.0) -> Iterator[dict[str, Any]]:
    """Run ``<repo>/scripts/launch.py --ports auto --run-dir <run_dir> *args``; yield
    its ready line (URLs, pids). SIGTERM at the end stops every process it started."""
    proc = subprocess.Popen([sys.executable, str(repo / "scripts" / "launch.py"), "--ports", "auto",
                             "--run-dir", str(run_dir), *args], stdout=subprocess.PIPE, text=True, cwd=repo,
                            env={**os.environ, "WEBAPP_DELIVERY": "fire_and_forget", **(env or {})})
    info: dict[str, Any] = {}
    ready = threading.Event()

    def pump() -> None:  # reads every line, so the launcher never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            if not ready.is_set() and line.startswith('{"event": "ready"'):
                info.update(json.loads(line))
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(timeout):
            logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in run_dir.glob("*.log"))
            raise AssertionError(f"launcher not ready within {timeout}s (rc={proc.poll()})\n{logs}")
        info["run_dir"] = run_dir
        yield info
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1600) -> Iterator[Any]:
    executable = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    """Screenshot to test-artifacts/<name>.png (the README's screenshots are made
    by scripts/screenshots.py)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def table_rows(page: Any, container_key: str) -> list[dict[str, str]]:
    """Rows of the first HTML table (st.table) inside ``st.container(key=...)``,
    as header -> cell text; empty while the table is not there."""
    rows: list[list[str]] = page.evaluate(
        """key => {
            const table = document.querySelector(`.st-key-${key} table`);
            if (!table) return [];
            return [...table.querySelectorAll('tr')].map(
                tr => [...tr.querySelectorAll('th,td')].map(c => c.innerText.trim()));
        }""", container_key)
    if not rows:
        return []
    header = rows[0]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def exception_count(page: Any) -> int:
    """Streamlit renders an uncaught exception as an stException element."""
    return int(page.locator('[data-testid="stException"]').count())
