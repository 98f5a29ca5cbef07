"""A real Prometheus server for tests, and helpers to read metrics."""

from __future__ import annotations

import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from telemetry_devtools import promconf
from telemetry_devtools.polling import scrape  # noqa: F401 - re-exported for tests

from .procs import free_port, require_binary, wait_until


@dataclass
class Prometheus:
    url: str
    popen: subprocess.Popen[bytes]

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {body}")
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        """The single scalar a query returns, or None when it returns nothing."""
        result = self.query(expr)
        if not result:
            return None
        v = float(result[0]["value"][1])
        return None if math.isnan(v) else v

    def wait_for_targets_up(self, timeout: float = 20.0) -> None:
        def all_up() -> bool:
            targets = httpx.get(f"{self.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            return bool(targets) and all(t["health"] == "up" for t in targets)

        wait_until(all_up, timeout, 0.2, "every Prometheus target up")

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()


def start_prometheus(tmp: Path, targets: dict[str, tuple[str, str]], scrape_interval: str = "1s",
                     rules: bool = True, features: tuple[str, ...] = ()) -> Prometheus:
    """targets: job -> (host:port, metrics_path). ``features``: --enable-feature values
    (e.g. "exemplar-storage"). Waits until the API answers."""
    binary = require_binary("prometheus")
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "prometheus.yml"
    config.write_text(promconf.render(targets, scrape_interval, promconf.RULES_DIR if rules else None))
    for _attempt in range(3):
        port = free_port()
        log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115
        popen = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
             *(f"--enable-feature={feature}" for feature in features)],
            stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and popen.poll() is None:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    return Prometheus(url, popen)
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        popen.kill()
    raise AssertionError(f"prometheus did not start: {(tmp / 'prometheus.log').read_text()[-2000:]}")
