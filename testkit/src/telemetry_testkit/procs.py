"""Start the real programs for end-to-end tests: each prints one JSON ``ready``
line with its OS-chosen ports; we wait for it with a deadline, never a sleep."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from telemetry_devtools import REPO  # noqa: F401 - re-exported for tests
from telemetry_devtools.polling import free_port, wait_until  # noqa: F401 - re-exported for tests
from telemetry_devtools.readyproc import ReadyProcess, spawn

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


class Service(ReadyProcess):
    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then wait; returns the exit code (kills and fails on a hang)."""
        if not self.terminate(timeout):
            raise AssertionError(f"{self.name} did not exit within {timeout}s of SIGTERM")
        return int(self.popen.returncode)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def start_ready(name: str, cmd: list[str], env: dict[str, str], log_dir: Path,
                timeout: float = 30.0) -> Service:
    """Start a program that prints a JSON ready line on stdout; wait for it."""
    try:
        return spawn(Service, name, cmd, env, log_dir, timeout=timeout)
    except RuntimeError as exc:
        raise AssertionError(str(exc)) from None


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
