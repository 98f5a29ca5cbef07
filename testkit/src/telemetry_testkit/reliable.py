"""Shared pieces of the reliable-delivery tests: a sidecar that can be killed
and restarted on the same ports with the same state dir, and a scraper that
records every value a counter showed."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from telemetry_testkit.procs import Service, start_sidecar
from telemetry_testkit.prom import scrape


@dataclass
class RestartableSidecar:
    """A reliable sidecar whose every restart reuses its ports and SIDECAR_STATE_DIR."""

    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    reliable_channel: bool = True  # False: PULL only (fire-and-forget), still with durable state
    service: Service | None = None
    env: dict[str, str] = field(default_factory=dict)
    starts: int = 0

    def start(self) -> Service:
        if not self.env:
            self.env = {"SIDECAR_STATE_DIR": str(self.root / "state"), **self.extra_env}
            if self.reliable_channel:
                self.env.setdefault("SIDECAR_RELIABLE_BIND", "tcp://127.0.0.1:0")
        self.starts += 1
        self.service = start_sidecar(self.root / f"run{self.starts}", self.env)
        if self.starts == 1:  # pin the OS-chosen ports for every restart
            self.env.update({"SIDECAR_ZMQ_BIND": self.service.zmq,
                             "SIDECAR_PORT": self.service.http.rsplit(":", 1)[1]})
            if self.reliable_channel:
                self.env["SIDECAR_RELIABLE_BIND"] = self.service.info["reliable"]
        return self.service

    @property
    def http(self) -> str:
        assert self.service is not None
        return self.service.http

    @property
    def zmq(self) -> str:
        assert self.service is not None
        return self.service.zmq

    @property
    def reliable(self) -> str:
        assert self.service is not None
        return str(self.service.info["reliable"])

    def freeze(self) -> None:
        """SIGSTOP: the process reads and acks nothing more, while the kernel keeps
        accepting what producers send it, until ``kill9`` discards all of that."""
        assert self.service is not None
        os.kill(self.service.popen.pid, signal.SIGSTOP)

    def kill9(self) -> None:
        assert self.service is not None
        self.service.kill()  # SIGKILL: no shutdown code runs

    def stop(self) -> int:
        assert self.service is not None
        return self.service.stop()

    def metrics(self) -> dict[str, float]:
        return scrape(self.http + "/metrics/")


def total(metrics: dict[str, float], name: str) -> float:
    """Sum of every series of one metric (e.g. trades_total over side and symbol)."""
    prefix = name + "{"
    return sum(v for k, v in metrics.items() if k == name or k.startswith(prefix))


class Scraper(threading.Thread):
    """Scrapes in a loop and keeps every value each counter showed (while the
    sidecar is down a scrape fails and is skipped). Every series counts: a
    counter's total and each of its labelled series."""

    def __init__(self, sidecar: RestartableSidecar, prefixes: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.sidecar = sidecar
        self.prefixes = prefixes
        self.scrapes: list[dict[str, float]] = []
        self.failures = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                metrics = self.sidecar.metrics()
                self.scrapes.append({k: v for k, v in metrics.items() if k.startswith(self.prefixes)})
            except (httpx.HTTPError, AssertionError):
                self.failures += 1
            self._halt.wait(0.02)  # ~50 scrapes/s: far above Prometheus, without starving the sidecar

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def values(self, name: str) -> list[float]:
        return [total(m, name) for m in self.scrapes]

    def backwards(self) -> list[tuple[int, str, float, float]]:
        """(scrape index, series, before, after) for every series that decreased."""
        out: list[tuple[int, str, float, float]] = []
        for i, (a, b) in enumerate(zip(self.scrapes, self.scrapes[1:], strict=False)):
            out.extend((i, key, a[key], b.get(key, 0.0)) for key in a if b.get(key, 0.0) < a[key])
        return out
