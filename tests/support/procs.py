"""Start the real programs for end-to-end tests: each prints one JSON ``ready``
line with its OS-chosen ports; we wait for it with a deadline, never a sleep."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from polling import free_port, wait_until  # noqa: F401 - re-exported for tests

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = TypeVar("T")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_binary(name: str, fallbacks: tuple[str, ...] = ()) -> str:
    """Path of a system binary; skip (or fail under CI=true) when it is missing."""
    for candidate in (name, *fallbacks):
        path = shutil.which(candidate)
        if path:
            return path
    message = f"{name} not installed (apt-get install -y {name})"
    if in_ci():
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


@dataclass
class Service:
    name: str
    popen: subprocess.Popen[str]
    info: dict[str, Any]
    log_path: Path
    lines: list[str] = field(default_factory=list)

    @property
    def http(self) -> str:
        return str(self.info["http"])

    @property
    def zmq(self) -> str:
        return str(self.info["zmq"])

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then wait; returns the exit code (kills and fails on a hang)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                raise AssertionError(f"{self.name} did not exit within {timeout}s of SIGTERM") from None
        return int(self.popen.returncode)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_ready(name: str, cmd: list[str], env: dict[str, str], log_dir: Path,
                timeout: float = 30.0) -> Service:
    """Start a program that prints a JSON ready line on stdout; wait for it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    log_file = open(log_path, "w")  # noqa: SIM115 - lives as long as the process
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True, env=full_env,
                             cwd=log_dir)
    ready: dict[str, Any] = {}
    got = threading.Event()
    service = Service(name, popen, ready, log_path)

    def pump() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            service.lines.append(line)
            if not got.is_set() and line.startswith("{"):
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if data.get("event") == "ready":
                    ready.update(data)
                    got.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not got.wait(0.05):
        if popen.poll() is not None or time.monotonic() > deadline:
            popen.kill()
            raise AssertionError(f"{name} did not become ready: rc={popen.poll()}\n{service.log()}")
    return service


def start_sidecar(log_dir: Path, env: dict[str, str] | None = None) -> Service:
    base = {"SIDECAR_PORT": "0", "SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:0", "SIDECAR_HOST": "127.0.0.1"}
    return start_ready("metrics-sidecar", [str(BIN / "metrics-sidecar")], {**base, **(env or {})}, log_dir)


@contextmanager
def running_sidecar(log_dir: Path, env: dict[str, str] | None = None) -> Iterator[Service]:
    """``start_sidecar`` for a ``with`` block or a fixture: killed on the way out."""
    service = start_sidecar(log_dir, env)
    try:
        yield service
    finally:
        service.kill()


def start_api(log_dir: Path, zmq_addr: str, env: dict[str, str] | None = None) -> Service:
    base = {"WEBAPP_PORT": "0", "WEBAPP_ZMQ_ADDR": zmq_addr, "WEBAPP_HOST": "127.0.0.1"}
    return start_ready("trading-app-api", [str(BIN / "trading-app-api")], {**base, **(env or {})}, log_dir)
