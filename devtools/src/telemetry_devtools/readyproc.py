"""Start one of this repository's programs and wait for its ready line: the
sidecar, the API, the feed CLI and the benchmark helpers print a JSON
``{"event": "ready", ...}`` line on stdout (with their ports) once they serve.
Shared by the tests (testkit/src/telemetry_testkit/procs.py) and the benchmarks (bench/harness.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar


@dataclass
class ReadyProcess:
    name: str
    popen: subprocess.Popen[str]
    info: dict[str, Any]  # the ready line
    log_path: Path  # stderr
    lines: list[str] = field(default_factory=list)  # stdout, as it arrives
    reader: threading.Thread | None = None  # appends to ``lines``; ends at the stdout's EOF

    def terminate(self, timeout: float) -> bool:
        """SIGTERM and wait up to ``timeout``; a process still running then is killed.
        True if it exited by itself (or had already exited)."""
        if self.popen.poll() is not None:
            return True
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            return False
        return True

    def wait_output(self, timeout: float) -> None:
        """Wait for the process to exit AND for its last stdout line to be in ``lines``:
        the reader thread may still hold it when ``popen.wait()`` returns."""
        self.popen.wait(timeout)
        if self.reader is not None:
            self.reader.join(timeout)

    @property
    def http(self) -> str:
        return str(self.info["http"])

    @property
    def zmq(self) -> str:
        return str(self.info["zmq"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


P = TypeVar("P", bound=ReadyProcess)


def spawn(kind: type[P], name: str, cmd: list[str], env: dict[str, str], log_dir: Path, *,
          timeout: float = 30.0, wait: bool = True,
          on_start: Callable[[subprocess.Popen[str]], None] | None = None) -> P:
    """Start ``cmd`` (``env`` over this process' environment, cwd ``log_dir``, stderr to
    ``<log_dir>/<name>.log``); with ``wait``, return once its ready line arrived, or kill
    it and raise ``RuntimeError`` with its log if it exits or ``timeout`` passes first."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log_file = open(log_path, "w")  # noqa: SIM115 - lives as long as the process
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True, cwd=log_dir,
                             env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
    if on_start is not None:
        on_start(popen)
    info: dict[str, Any] = {}
    got = threading.Event()
    proc = kind(name, popen, info, log_path)

    def pump() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            proc.lines.append(line)
            if not got.is_set() and line.startswith("{"):
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if data.get("event") == "ready":
                    info.update(data)
                    got.set()

    proc.reader = threading.Thread(target=pump, daemon=True)
    proc.reader.start()
    if wait:
        deadline = time.monotonic() + timeout
        while not got.wait(0.02):
            if popen.poll() is not None or time.monotonic() > deadline:
                popen.kill()
                raise RuntimeError(f"{name} did not become ready (rc={popen.poll()}):\n{proc.log()[-3000:]}")
    return proc
