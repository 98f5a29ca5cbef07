"""Shared pieces of the reliable-delivery tests: a sidecar that can be killed
and restarted on the same ports with the same state dir, and a scraper that
records every value a counter showed."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.procs import Service, start_sidecar
from support.prom import scrape


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
    """Scrapes in a loop and keeps every value of ``metric`` it saw (while the
    sidecar is down a scrape fails and is skipped)."""

    def __init__(self, url_of: RestartableSidecar, metric: str) -> None:
        super().__init__(daemon=True)
        self.sidecar = url_of
        self.metric = metric
        self.values: list[float] = []
        self.failures = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.values.append(total(self.sidecar.metrics(), self.metric))
            except (httpx.HTTPError, AssertionError):
                self.failures += 1
            self._halt.wait(0.02)  # ~50 scrapes/s: far above Prometheus, without starving the sidecar

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def backwards(self) -> list[tuple[int, float, float]]:
        return [(i, a, b) for i, (a, b) in enumerate(zip(self.values, self.values[1:], strict=False)) if b < a]
