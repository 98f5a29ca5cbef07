"""Shared by every benchmark: the processes they start (the real sidecar, the
real API, the helper programs in this directory), reading an exposition, and
statistics. Every process is registered and killed at exit, so a crashed
benchmark never leaves anything running on the shared machine."""

from __future__ import annotations

import atexit
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
T = TypeVar("T")
sys.path.insert(0, str(REPO / "scripts"))
from polling import free_port, scrape, wait_until  # noqa: E402, F401 - re-exported for the benchmarks

_started: list[subprocess.Popen[Any]] = []


@atexit.register
def _kill_all() -> None:
    for popen in _started:
        if popen.poll() is None:
            popen.kill()
            popen.wait()


def rss_bytes(pid: int) -> int:
    """Resident set size from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[str]
    info: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    log_path: Path | None = None

    @property
    def http(self) -> str:
        return str(self.info["http"])

    @property
    def zmq(self) -> str:
        return str(self.info["zmq"])

    def result(self, timeout: float) -> dict[str, Any]:
        """The last JSON line a short-lived helper prints before it exits."""
        self.popen.wait(timeout)
        for line in reversed(self.lines):
            if line.startswith("{"):
                data: dict[str, Any] = json.loads(line)
                if data.get("event") == "result":
                    return data
        raise RuntimeError(f"{self.name} printed no result (rc={self.popen.returncode}): {self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path and self.log_path.exists() else ""


def start(name: str, cmd: list[str], env: dict[str, str], log_dir: Path, timeout: float = 30.0,
          ready: bool = True) -> Proc:
    """Start a program; when ``ready``, wait for its JSON ``{"event": "ready"}`` line."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log_file = open(log_path, "w")  # noqa: SIM115 - lives as long as the process
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True, cwd=log_dir,
                             env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
    _started.append(popen)
    info: dict[str, Any] = {}
    got = threading.Event()
    proc = Proc(name, popen, info, log_path=log_path)

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

    threading.Thread(target=pump, daemon=True).start()
    if ready:
        deadline = time.monotonic() + timeout
        while not got.wait(0.02):
            if popen.poll() is not None or time.monotonic() > deadline:
                popen.kill()
                raise RuntimeError(f"{name} did not become ready (rc={popen.poll()}): {proc.log()}")
    return proc


def start_sidecar(log_dir: Path, env: dict[str, str] | None = None) -> Proc:
    base = {"SIDECAR_PORT": "0", "SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:0", "SIDECAR_HOST": "127.0.0.1",
            "SIDECAR_LOG_LEVEL": "WARNING"}
    return start("metrics-sidecar", [str(BIN / "metrics-sidecar")], {**base, **(env or {})}, log_dir)


def start_api(log_dir: Path, zmq_addr: str, sidecar_url: str) -> Proc:
    env = {"WEBAPP_PORT": "0", "WEBAPP_ZMQ_ADDR": zmq_addr, "WEBAPP_HOST": "127.0.0.1",
           "WEBAPP_SIDECAR_URL": sidecar_url, "WEBAPP_LOG_LEVEL": "WARNING"}
    return start("trading-app-api", [str(BIN / "trading-app-api")], env, log_dir)


def start_helper(name: str, script: str, args: list[str], log_dir: Path, ready: bool = True) -> Proc:
    """One of the helper programs in this directory (``python bench/<script>.py``)."""
    return start(name, [PYTHON, str(BENCH / f"{script}.py"), *args], {}, log_dir, ready=ready)


def total(metrics: dict[str, float], name: str) -> float:
    """Sum of every series of one metric name."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of unsorted data."""
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def spread(values: list[float]) -> float:
    """(max - min) / median: how noisy the repeated measurements were."""
    m = median(values)
    return (max(values) - min(values)) / m if values and m else float("nan")


def summary(values: list[float]) -> dict[str, Any]:
    """Median of repeated runs, with the runs and their spread kept for the report."""
    return {"median": median(values), "runs": values, "spread": spread(values)}
