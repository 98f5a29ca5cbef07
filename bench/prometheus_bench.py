"""B8: a click (``POST /trade/buy`` on the real API) until a Prometheus query sees
it, with the real sidecar scraped every second by the real Prometheus
(``/usr/bin/prometheus``). Target: p95 <= scrape interval + 200 ms.

After one warm-up click (the first creates the series), each trial posts once
and polls ``trades_total{side="buy"}`` every 10 ms (the poll step bounds the
resolution). A random pause (seeded) between trials spreads
the clicks over the scrape cycle, as real clicks are.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from harness import free_port, percentile, start_api, start_sidecar, wait_until

from telemetry_devtools import promconf

POLL_S = 0.010


def _start_prometheus(log_dir: Path, target: str, interval: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus not installed (apt-get install -y prometheus)")
    log_dir.mkdir(parents=True, exist_ok=True)
    config = log_dir / "prometheus.yml"
    config.write_text(promconf.render({"sidecar": (target, "/metrics/")}, interval, None))
    port = free_port()
    with open(log_dir / "prometheus.log", "wb") as log:
        popen = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={log_dir / 'tsdb'}",
                                  f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(url + "/-/ready", timeout=1).status_code == 200, 60, 0.1, "prometheus ready")
    return popen, url


def _query(client: httpx.Client, prom: str, expr: str) -> float | None:
    result = client.get(prom + "/api/v1/query", params={"query": expr}).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _buys(client: httpx.Client, prom: str) -> float | None:
    return _query(client, prom, 'sum(trades_total{side="buy"})')


def run(log_dir: Path, trials: int, interval_s: float = 1.0, seed: int = 6) -> dict[str, Any]:
    sidecar = start_sidecar(log_dir)
    api = start_api(log_dir, sidecar.zmq, sidecar.http)
    prom, prom_url = _start_prometheus(log_dir, sidecar.http.removeprefix("http://"), f"{interval_s:g}s")
    rng = random.Random(seed)
    latencies: list[float] = []
    try:
        with httpx.Client(timeout=10) as client:
            wait_until(lambda: _query(client, prom_url, 'up{job="sidecar"}') == 1, 30, 0.1, "the sidecar scraped")
            for trial in range(-1, trials):  # trial -1 warms up (first series, first connections)
                before = _buys(client, prom_url) or 0.0
                posted = time.perf_counter()
                response = client.post(api.http + "/trade/buy", json={"qty": 1})
                response.raise_for_status()
                assert response.json()["queued"], response.text
                def visible(target: float = before + 1) -> bool:
                    return (_buys(client, prom_url) or 0.0) >= target

                wait_until(visible, 10, POLL_S, "click visible")
                if trial >= 0:
                    latencies.append(time.perf_counter() - posted)
                time.sleep(rng.uniform(0, interval_s))
            final = _buys(client, prom_url)
    finally:
        prom.terminate()
        prom.wait(10)
        api.stop()
        sidecar.stop()
    return {"trials": trials, "scrape_interval_s": interval_s, "poll_s": POLL_S, "latencies_s": latencies,
            "p50_s": percentile(latencies, 0.5), "p95_s": percentile(latencies, 0.95), "max_s": max(latencies),
            "buys_counted": final, "exact": final == trials + 1}
