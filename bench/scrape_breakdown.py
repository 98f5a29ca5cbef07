"""Where a ``/metrics/`` scrape's time goes (B5), per part, in one process run:

    .venv/bin/python bench/scrape_breakdown.py --symbols 1000 --calls 40

In-process, on the bench's state (scrape_bench: trades both sides, ticks from two
sources, analytics on): each step of ``exposition.render`` timed alone (minimum and
median of ``--calls`` calls; minima are what the code costs, medians what the
machine's load adds). Over HTTP: a real sidecar holding the same symbols, scraped by
three clients on one keep-alive connection each (httpx; a raw socket reading the
body with ``recv_into``; curl, a C client as Prometheus' Go one is compiled), and
the same 1.5 MB body served by the same stack (FastAPI, a sync route, uvicorn with
h11) from a constant (``static``): the HTTP layer's and each client's own cost,
without the rendering. And what ``Content-Encoding: gzip`` would cost (Prometheus
sends ``Accept-Encoding: gzip``; the sidecar answers with the identity encoding).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from harness import start_sidecar
from ingest_bench import feed
from scrape_bench import RawClient, in_process_state


def timed(call: Callable[[], object], calls: int) -> dict[str, float]:
    """Minimum and median wall time of ``calls`` calls, and the median CPU time of this
    thread (``cpu``: what the load of the other processes does not inflate), in ms; one
    warm-up call first."""
    call()
    wall, cpu = [], []
    for _ in range(calls):
        c0, t0 = time.thread_time(), time.perf_counter()
        call()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    return {"min": min(wall), "median": statistics.median(wall), "cpu": statistics.median(cpu)}


def compress(body: bytes, level: int) -> Callable[[], object]:
    return lambda: gzip.compress(body, level)


def in_process(symbols: int, calls: int) -> dict[str, Any]:
    from prometheus_client import generate_latest

    from metrics_sidecar import read_model
    from metrics_sidecar.analytics.table import symbol_columns
    from metrics_sidecar.analytics_exposition import write_analytics
    from metrics_sidecar.clock_probe import write_offset_methods
    from metrics_sidecar.exposition import render, write_state
    from metrics_sidecar.textformat import Writer

    state, process = in_process_state(symbols, 4 * symbols)
    engine = state.analytics
    assert engine is not None
    now = time.time()
    full = Writer()
    write_state(state, full, now)
    write_offset_methods(state, full, now)
    write_analytics(state, full, now)
    columns_copy = read_model.analytics_scrape(state)[2]

    def state_only() -> None:
        write_state(state, Writer(), now)

    def analytics_only() -> None:
        write_analytics(state, Writer(), now)

    body = render(state, process)
    parts = {
        "render (whole body)": timed(lambda: render(state, process), calls),
        "write_state": timed(state_only, calls),
        "  state copy under the lock (read_model.state_copy)": timed(
            lambda: read_model.state_copy(state, False, now), calls),
        "    of it the core's hop families (write_text)": timed(
            lambda: state.latency.core.write_text(False, now), calls),
        "write_offset_methods": timed(lambda: write_offset_methods(state, Writer(), now), calls),
        "write_analytics": timed(analytics_only, calls),
        "  analytics copy under the lock (read_model.analytics_scrape)": timed(
            lambda: read_model.analytics_scrape(state), calls),
        "  numpy maths (symbol_columns)": timed(lambda: symbol_columns(columns_copy, engine.windows, now), calls),
        "join (Writer.body)": timed(full.body, calls),
        "process/platform collectors (generate_latest)": timed(lambda: generate_latest(process), calls),
    }
    for level in (1, 6):
        parts[f"gzip level {level} of the body"] = timed(compress(body, level), max(calls // 4, 3))
    return {"bytes": len(body), "gzip_1_bytes": len(gzip.compress(body, 1)),
            "gzip_6_bytes": len(gzip.compress(body, 6)), "ms": parts}


STATIC_SERVER = textwrap.dedent("""
    import socket, sys
    from pathlib import Path
    import uvicorn
    from fastapi import FastAPI, Response
    body = Path(sys.argv[1]).read_bytes()
    app = FastAPI()
    def metrics() -> Response:
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
    app.add_api_route("/metrics/", metrics, methods=["GET"])
    sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(64)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
""")


def curl_ms(url: str, scrapes: int) -> dict[str, float]:
    """curl fetching ``url`` ``scrapes`` times on one keep-alive connection; time_total each."""
    out = subprocess.run(["curl", "-s", "-w", "%{time_total}\\n",
                          *(["-o", "/dev/null", url] * scrapes)], capture_output=True, text=True, check=True)
    samples = [float(line) * 1000 for line in out.stdout.split()][1:]  # the first opens the connection
    return {"min": min(samples), "median": statistics.median(samples)}


def server_cost(pid: int) -> tuple[float, int]:
    """The server process' CPU time (user + system, ms) and minor page faults so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) * 1000 / ticks, int(fields[7])


def clients(base: str, path: str, scrapes: int, pid: int) -> dict[str, dict[str, float]]:
    """Each client's wall time per request, and the server's CPU time and page faults per
    request (``server``, over all the clients' requests: independent of the load)."""
    url = base + path
    cpu0, faults0 = server_cost(pid)
    with httpx.Client(timeout=30) as client:
        result = {"httpx": timed(lambda: client.get(url).raise_for_status(), scrapes)}
    raw = RawClient(base, path)
    try:
        result["raw socket"] = timed(raw.get, scrapes)
    finally:
        raw.close()
    result["curl"] = curl_ms(url, scrapes + 1)
    cpu1, faults1 = server_cost(pid)
    requests = 3 * (scrapes + 1) + 1
    result["server"] = {"cpu_ms": (cpu1 - cpu0) / requests, "faults": (faults1 - faults0) / requests}
    return result


def over_http(symbols: int, scrapes: int, log_dir: Path) -> dict[str, Any]:
    sidecar = start_sidecar(log_dir, {"SIDECAR_MAX_SYMBOLS": str(max(symbols, 1000))})
    try:
        fed = feed(sidecar, log_dir, 4 * symbols, symbols=symbols, ticks=True)
        body = httpx.get(sidecar.http + "/metrics/", timeout=30).content
        pid = sidecar.popen.pid
        sidecar_ms = clients(sidecar.http, "/metrics/", scrapes, pid)
        tiny_ms = clients(sidecar.http, "/health/liveness", scrapes, pid)
    finally:
        sidecar.stop()
    body_file = log_dir / "body.txt"
    body_file.write_bytes(body)
    server = subprocess.Popen([sys.executable, "-c", STATIC_SERVER, str(body_file)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        static_ms = clients(f"http://127.0.0.1:{port}", "/metrics/", scrapes, server.pid)
    finally:
        server.terminate()
        server.wait(10)
    return {"exact": fed["exact"], "bytes": len(body), "sidecar /metrics/": sidecar_ms,
            "sidecar /health/liveness (tiny body)": tiny_ms, "static body, same stack": static_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"symbols": args.symbols, "in_process": in_process(args.symbols, args.calls)}
    if not args.no_http:
        with tempfile.TemporaryDirectory() as logs:
            result["http"] = over_http(args.symbols, args.calls, Path(logs))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
