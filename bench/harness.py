"""Shared by every benchmark: the processes they start (the real sidecar, the
real API, the helper programs in this directory), reading an exposition, and
statistics. Every process is registered and killed at exit, so a crashed
benchmark never leaves anything running on the shared machine."""

from __future__ import annotations

import atexit
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

from telemetry_devtools.polling import free_port, scrape, wait_until  # noqa: F401 - re-exported for the benchmarks
from telemetry_devtools.readyproc import ReadyProcess, spawn

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
T = TypeVar("T")

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


class Proc(ReadyProcess):
    def result(self, timeout: float) -> dict[str, Any]:
        """The last JSON line a short-lived helper prints before it exits."""
        self.wait_output(timeout)
        for line in reversed(self.lines):
            if line.startswith("{"):
                data: dict[str, Any] = json.loads(line)
                if data.get("event") == "result":
                    return data
        raise RuntimeError(f"{self.name} printed no result (rc={self.popen.returncode}): {self.log()[-3000:]}")

    def stop(self, timeout: float = 10.0) -> None:
        self.terminate(timeout)  # a hang is killed: a benchmark reports, it does not fail on it


def start(name: str, cmd: list[str], env: dict[str, str], log_dir: Path, timeout: float = 30.0,
          ready: bool = True) -> Proc:
    """Start a program; when ``ready``, wait for its JSON ``{"event": "ready"}`` line.
    Registered, so it is killed when the benchmark exits, however it exits."""
    return spawn(Proc, name, cmd, env, log_dir, timeout=timeout, wait=ready, on_start=_started.append)


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
