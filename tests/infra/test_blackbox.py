"""prometheus/blackbox.yml with the real blackbox exporter (Debian's
prometheus-blackbox-exporter): the config loads, and its http_health module
probes the real sidecar's and API's /health: success when they answer 200 with
status ok, failure for a closed port or a body without status ok."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telemetry_testkit.procs import REPO, free_port, require_binary, start_api, start_sidecar, wait_until
from telemetry_testkit.prom import scrape

pytestmark = pytest.mark.prometheus
CONFIG = REPO / "prometheus" / "blackbox.yml"


def test_config_check() -> None:
    binary = require_binary("prometheus-blackbox-exporter", ("blackbox_exporter",))
    result = subprocess.run([binary, f"--config.file={CONFIG}", "--config.check"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[str]:
    binary = require_binary("prometheus-blackbox-exporter", ("blackbox_exporter",))
    port = free_port()
    with open(tmp_path / "blackbox.log", "wb") as log:
        popen = subprocess.Popen([binary, f"--config.file={CONFIG}", f"--web.listen-address=127.0.0.1:{port}"],
                                 stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/-/healthy", timeout=1).status_code == 200, 15, 0.05,
                   "blackbox exporter ready")
        yield url
    finally:
        popen.terminate()
        popen.wait(10)


def _probe(exporter: str, target: str) -> float:
    return scrape(f"{exporter}/probe?module=http_health&target={target}")["probe_success"]


def test_http_health_module_probes_the_real_endpoints(exporter: str, tmp_path: Path) -> None:
    sidecar = start_sidecar(tmp_path / "sidecar")
    try:
        api = start_api(tmp_path / "api", sidecar.zmq)
        try:
            assert _probe(exporter, f"{sidecar.http}/health") == 1
            assert _probe(exporter, f"{api.http}/health") == 1
            # 200 but no "status": "ok" in the body -> failure (the body check works)
            assert _probe(exporter, f"{sidecar.http}/health/liveness") == 0
        finally:
            api.kill()
    finally:
        sidecar.kill()
    assert _probe(exporter, f"{sidecar.http}/health") == 0  # nothing listens any more
