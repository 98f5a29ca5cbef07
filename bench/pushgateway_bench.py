"""B7: the same trade events sent as per-event pushes to a Prometheus Pushgateway
(Debian ``prometheus-pushgateway``), the usual way to get events from a process
that Prometheus cannot scrape: after every trade, ``counter.labels(...).inc()``
and a push of the registry.

Two clients, the faster one counts (a conservative baseline): prometheus_client's
``push_to_gateway`` (a new connection per push, as most code does it) and an
httpx keep-alive client PUTting ``generate_latest``. The final value in the
gateway is checked against the number of events pushed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from harness import free_port, scrape, wait_until
from prometheus_client import CollectorRegistry, Counter, generate_latest, push_to_gateway


def _start_gateway(log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        raise RuntimeError("prometheus-pushgateway not installed (apt-get install -y prometheus-pushgateway)")
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(log_dir / "pushgateway.log", "wb") as log:
        popen = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
                                 stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(url + "/-/ready", timeout=1).status_code == 200, 20, 0.05, "pushgateway ready")
    return popen, url


def _pushed_total(url: str, job: str) -> float:
    metrics = scrape(url + "/metrics")
    return sum(v for k, v in metrics.items() if k.startswith("bench_trades_total{") and f'job="{job}"' in k)


def _push_events(url: str, events: int, keep_alive: bool) -> dict[str, Any]:
    registry = CollectorRegistry()
    trades = Counter("bench_trades", "Trades pushed per event", ["side", "symbol"], registry=registry)
    job = "bench_keepalive" if keep_alive else "bench_push_to_gateway"
    client = httpx.Client(timeout=10) if keep_alive else None
    started = time.perf_counter()
    for i in range(events):
        trades.labels("buy" if i % 2 else "sell", f"SYM{i % 10:05d}").inc()
        if client is not None:
            client.put(f"{url}/metrics/job/{job}", content=generate_latest(registry)).raise_for_status()
        else:
            push_to_gateway(url.removeprefix("http://"), job=job, registry=registry)
    elapsed = time.perf_counter() - started
    if client is not None:
        client.close()
    return {"events_per_s": events / elapsed, "events": events, "in_gateway": _pushed_total(url, job)}


def run(log_dir: Path, events: int, repeats: int) -> dict[str, Any]:
    popen, url = _start_gateway(log_dir)
    try:
        rows = {"push_to_gateway": [_push_events(url, events, False) for _ in range(repeats)],
                "keep_alive": [_push_events(url, events, True) for _ in range(repeats)]}
    finally:
        popen.terminate()
        popen.wait(10)
    out: dict[str, Any] = {}
    for name, runs in rows.items():
        rates = sorted(r["events_per_s"] for r in runs)
        out[name] = {"events_per_s": rates[len(rates) // 2], "runs": rates,
                     "exact": all(r["in_gateway"] == r["events"] for r in runs)}
    out["best_events_per_s"] = max(out["push_to_gateway"]["events_per_s"], out["keep_alive"]["events_per_s"])
    return out
