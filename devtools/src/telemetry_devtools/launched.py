"""Start ``scripts/launch.py`` as a child and read its ready line: shared by the
browser tests and scripts/screenshots.py. Also the flags Debian's Chromium runs
with headless here."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class Launched:
    """The launcher process; ``info`` fills in with its ready line (URLs, pids)."""

    def __init__(self, repo: Path, run_dir: Path, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(repo / "scripts" / "launch.py"), "--ports", "auto",
                                      "--run-dir", str(run_dir), *args], stdout=subprocess.PIPE, text=True,
                                     cwd=repo, env=env)
        self.run_dir = run_dir
        self.info: dict[str, Any] = {}
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:  # reads every line, so the launcher never blocks on a full pipe
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not self.ready.is_set() and line.startswith('{"event": "ready"'):
                self.info.update(json.loads(line))
                self.ready.set()

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        if not self.ready.wait(timeout):
            logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                             for p in self.run_dir.glob("*.log"))
            raise TimeoutError(f"launcher not ready within {timeout}s (rc={self.proc.poll()})\n{logs}")
        return self.info

    def stop(self) -> None:
        """SIGTERM: the launcher stops every process it started."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
